//! Handing a pod in `run` to stage1 (rkt.md §2 "Handoff"): chdir into the pod directory, clear
//! close-on-exec on the pod lock and name it in `RKT_LOCK_FD`, exec the `run` entrypoint with
//! the interface-6 flags and the UUID (and, for a pod without a stage1 link farm, the stage1
//! tree's rootfs in `RKT_STAGE1_LOWER`). On success the process becomes stage1, so `rkt`'s exit
//! code is the pod's.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use super::RunError;
use crate::insecure::{Insecure, InsecureOptions};
use crate::pod::{Pod, PodDir};
use crate::stage1_abi::{Entrypoint, STAGE1_LOWER_ENV, locate};

/// The environment variable that names the inherited pod lock fd.
pub const LOCK_FD_ENV: &str = "RKT_LOCK_FD";

/// The `run` entrypoint's flags (stage1 ABI interface 6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageOneFlags {
    pub debug: bool,
    /// `--net` as given (`default` when none was).
    pub net: String,
    pub local_config: Option<PathBuf>,
    pub hostname: Option<String>,
    pub interactive: bool,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub dns_domain: Option<String>,
    pub hosts_entries: Vec<String>,
    pub ipc: Option<String>,
    pub insecure: InsecureOptions,
    /// Only with `--mds-register`: the pod's metadata service token.
    pub mds_token: Option<String>,
    /// With `mds_token`: the service's port, passed as `RKT_MDS_PORT` (rkt's stage1
    /// hard-codes 18112; ours takes it from there so a service on another port works).
    pub mds_port: Option<u16>,
    /// `--private-users`: the pod's id range as (shift, count).
    pub private_users: Option<(u32, u32)>,
    /// `--pids-limit`: handed to stage1 as `RKT_STAGE1_PIDS_LIMIT` in its environment.
    pub pids_limit: Option<String>,
}

/// The environment variable stage1 reads the pod's pids limit from.
pub const PIDS_LIMIT_ENV: &str = "RKT_STAGE1_PIDS_LIMIT";

/// How many ids a pod's user namespace maps (rkt's 64K).
pub const USERNS_COUNT: u32 = 65536;

/// A fresh id range for a pod's user namespace: a random multiple of 65536 between 2^20
/// and 2^31 (above the ids of host users and of subuid ranges handed out from 100000;
/// below 2^31, which some tools take as negative). Not checked against other pods: with
/// 2032 slots a clash is unlikely, and only merges two pods' id spaces, as rkt's did.
pub fn random_uid_range() -> (u32, u32) {
    let mut b = [0u8; 4];
    let r = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map(|_| u32::from_le_bytes(b))
        .unwrap_or_else(|_| std::process::id());
    let slots = (1u32 << 15) - (1 << 4); // multiples of 65536 in [2^20, 2^31)
    let shift = ((1u32 << 4) + r % slots) * USERNS_COUNT;
    (shift, USERNS_COUNT)
}

/// The argv for stage1: the entrypoint, the flags, the UUID.
pub fn stage1_argv(entry: &Path, flags: &StageOneFlags, uuid: &str) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![entry.as_os_str().to_owned()];
    let mut push = |s: String| argv.push(s.into());
    if flags.debug {
        push("--debug".into());
    }
    let net = if flags.net.is_empty() {
        "default"
    } else {
        &flags.net
    };
    push(format!("--net={net}"));
    if flags.interactive {
        push("--interactive".into());
    }
    if let Some(t) = &flags.mds_token {
        push(format!("--mds-token={t}"));
    }
    if let Some(dir) = &flags.local_config {
        push(format!("--local-config={}", dir.display()));
    }
    if let Some(h) = &flags.hostname {
        push(format!("--hostname={h}"));
    }
    for (name, values) in [
        ("dns", &flags.dns),
        ("dns-search", &flags.dns_search),
        ("dns-opt", &flags.dns_opt),
        ("hosts-entry", &flags.hosts_entries),
    ] {
        for v in values {
            push(format!("--{name}={v}"));
        }
    }
    if let Some(d) = &flags.dns_domain {
        push(format!("--dns-domain={d}"));
    }
    if let Some(ipc) = &flags.ipc {
        push(format!("--ipc={ipc}"));
    }
    if let Some((shift, count)) = flags.private_users {
        push(format!("--private-users={shift}:{count}"));
    }
    for (what, flag) in [
        (Insecure::Capabilities, "--disable-capabilities-restriction"),
        (Insecure::Paths, "--disable-paths"),
        (Insecure::Seccomp, "--disable-seccomp"),
    ] {
        if flags.insecure.allows(what) {
            push(flag.into());
        }
    }
    push(uuid.to_string());
    argv
}

/// Exec stage1 for `pod`, which must be in `run` and locked by this process. Returns only on
/// failure.
pub fn exec_stage1(pod: &Pod, flags: &StageOneFlags) -> RunError {
    if pod.dir() != PodDir::Run || !pod.holds_exclusive() {
        return RunError::Stage1(format!(
            "pod {} must be in run and locked by rkt before stage1 starts",
            pod.uuid()
        ));
    }
    let dir = pod.path();
    let (entry, lower) = match locate(&dir, Entrypoint::Run) {
        Ok(l) => (l.path, l.store_rootfs),
        Err(e) => return e.into(),
    };
    let fd = match pod.inherit_lock_fd() {
        Ok(fd) => fd,
        Err(e) => return e.into(),
    };
    let argv = stage1_argv(&entry, flags, &pod.uuid().to_string());
    tracing::debug!(?argv, pod = %dir.display(), "exec stage1");
    let mut cmd = std::process::Command::new(&entry);
    cmd.arg0(&argv[0])
        .args(&argv[1..])
        .current_dir(&dir)
        .env(LOCK_FD_ENV, fd.to_string());
    if let Some(port) = flags.mds_port.filter(|_| flags.mds_token.is_some()) {
        cmd.env(crate::metadata::PORT_ENV, port.to_string());
    }
    // No link farm: stage1 mounts the store's tree under an overlay on `stage1/rootfs`.
    if let Some(lower) = &lower {
        cmd.env(STAGE1_LOWER_ENV, lower);
    }
    if let Some(limit) = &flags.pids_limit {
        cmd.env(PIDS_LIMIT_ENV, limit);
    }
    let err = cmd.exec();
    RunError::Exec {
        path: entry,
        source: err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn random_uid_ranges_stay_in_bounds() {
        for _ in 0..200 {
            let (shift, count) = random_uid_range();
            assert_eq!(count, 65536);
            assert_eq!(shift % 65536, 0);
            assert!(shift >= 1 << 20, "{shift}");
            assert!(u64::from(shift) + u64::from(count) <= 1 << 31, "{shift}");
        }
    }

    #[test]
    fn private_users_flag() {
        let flags = StageOneFlags {
            private_users: Some((1 << 20, 65536)),
            ..StageOneFlags::default()
        };
        let argv = strs(stage1_argv(Path::new("/p/init"), &flags, "u"));
        assert!(argv.contains(&"--private-users=1048576:65536".to_string()));
    }

    #[test]
    fn minimal_argv() {
        let argv = stage1_argv(Path::new("/p/init"), &StageOneFlags::default(), "u-u");
        assert_eq!(strs(argv), ["/p/init", "--net=default", "u-u"]);
    }

    #[test]
    fn every_flag() {
        let flags = StageOneFlags {
            debug: true,
            net: "host".into(),
            local_config: Some("/etc/rkt".into()),
            hostname: Some("h".into()),
            interactive: true,
            dns: vec!["8.8.8.8".into(), "1.1.1.1".into()],
            dns_search: vec!["a.b".into()],
            dns_opt: vec!["ndots:1".into()],
            dns_domain: Some("dom".into()),
            hosts_entries: vec!["host".into()],
            ipc: Some("private".into()),
            insecure: "capabilities,seccomp".parse().unwrap(),
            mds_token: Some("tok".into()),
            mds_port: Some(1),
            ..StageOneFlags::default()
        };
        let argv = strs(stage1_argv(Path::new("/init"), &flags, "uuid"));
        assert_eq!(
            argv,
            [
                "/init",
                "--debug",
                "--net=host",
                "--interactive",
                "--mds-token=tok",
                "--local-config=/etc/rkt",
                "--hostname=h",
                "--dns=8.8.8.8",
                "--dns=1.1.1.1",
                "--dns-search=a.b",
                "--dns-opt=ndots:1",
                "--hosts-entry=host",
                "--dns-domain=dom",
                "--ipc=private",
                "--disable-capabilities-restriction",
                "--disable-seccomp",
                "uuid"
            ]
        );
    }
}
