//! The real `stage2` binary launching a static probe in a tiny rootfs, as root.
//!
//! Each run happens in a private mount namespace made in the child between fork and exec, where
//! `/proc` is bound into the test rootfs (stage1's job in a pod); every mount made for the test
//! dies with that namespace, pass or fail.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rustix::mount::MountPropagationFlags;
use rustix::thread::UnshareFlags;

const DEFAULT_CAPS: &str = "00000000a80425fb";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The fd passed into stage2 without CLOEXEC: it must not reach the app.
const LEAKED_FD: i32 = 9;

struct TestRoot {
    dir: tempfile::TempDir,
}

impl TestRoot {
    /// `None` (with a "skipped" line) when the machine cannot run this test.
    fn new() -> Option<TestRoot> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        for sub in ["etc", "usr/bin", "proc", "home/alice", "work"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::set_permissions(root.join("work"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:1234:Alice:/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nstaff:x:50:alice\n").unwrap();
        std::fs::write(dir.path().join("sentinel"), "host").unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe.c");
        let built = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(root.join("usr/bin/probe"))
            .arg(&source)
            .status();
        if !matches!(built, Ok(s) if s.success()) {
            eprintln!("skipped: needs gcc with static libc (libc6-dev)");
            return None;
        }
        Some(TestRoot { dir })
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn sentinel(&self) -> PathBuf {
        self.dir.path().join("sentinel")
    }

    /// Runs `stage2 --spec` with `spec` (extra JSON fields) in its own mount namespace.
    fn launch(&self, name: &str, user: &str, group: &str, extra: &str) -> Output {
        let spec = format!(
            r#"{{"name":"{name}","root":"{}","exec":["probe","{}"],"user":"{user}",
            "group":"{group}"{extra}}}"#,
            self.root().display(),
            self.sentinel().display(),
        );
        let spec_path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&spec_path, spec).unwrap();
        let proc_target = cstring(&self.root().join("proc"));
        let leaked = std::fs::File::open(self.sentinel()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stage2"));
        cmd.arg("--spec").arg(&spec_path);
        let leaked_raw = std::os::fd::AsRawFd::as_raw_fd(&leaked);
        // SAFETY: between fork and exec the closure only makes raw syscalls on data prepared
        // before the fork (no allocation, no locks).
        unsafe {
            cmd.pre_exec(move || {
                rustix::thread::unshare_unsafe(UnshareFlags::NEWNS)?;
                let private = MountPropagationFlags::PRIVATE | MountPropagationFlags::REC;
                rustix::mount::mount_change(c"/", private)?;
                rustix::mount::mount_bind(c"/proc", proc_target.as_c_str())?;
                if libc::dup2(leaked_raw, LEAKED_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        drop(leaked);
        out
    }
}

fn cstring(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// The probe's `key=value` lines; repeated keys (fd, env) are joined with spaces.
fn report(out: &Output) -> BTreeMap<String, String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stage2 failed: {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for line in stdout.lines() {
        if let Some((k, v)) = line.split_once('=') {
            map.entry(k.to_string())
                .and_modify(|old| {
                    old.push(' ');
                    old.push_str(v);
                })
                .or_insert_with(|| v.to_string());
        }
    }
    map
}

fn env_has(r: &BTreeMap<String, String>, var: &str) -> bool {
    r["env"].split(' ').any(|v| v == var)
}

#[test]
fn root_app_gets_default_caps_clean_fds_and_no_host() {
    let Some(t) = TestRoot::new() else { return };
    let r = report(&t.launch(
        "rootapp",
        "0",
        "0",
        r#","supplementary_gids":[50,60],"working_directory":"/work""#,
    ));
    assert_eq!((r["uid"].as_str(), r["gid"].as_str()), ("0", "0"));
    assert_eq!(r["groups"], "50,60");
    assert_eq!(r["cwd"], "/work");
    assert_eq!(r["CapBnd"], DEFAULT_CAPS);
    assert_eq!(r["CapEff"], DEFAULT_CAPS);
    assert_eq!(r["CapPrm"], DEFAULT_CAPS);
    assert_eq!(r["CapInh"], "0000000000000000");
    assert_eq!(r["CapAmb"], "0000000000000000");
    assert_eq!(r["NoNewPrivs"], "0");
    assert_eq!(
        r["fd"], "0 1 2",
        "only stdio may reach the app (fd {LEAKED_FD} leaked)"
    );
    assert!(env_has(&r, &format!("PATH={PATH}")), "{}", r["env"]);
    for var in [
        "AC_APP_NAME=rootapp",
        "HOME=/root",
        "USER=root",
        "LOGNAME=root",
    ] {
        assert!(env_has(&r, var), "{var} missing from {}", r["env"]);
    }
    assert!(env_has(&r, "SHELL=/bin/sh") && env_has(&r, "container=rkt"));
    assert_eq!(r["dotdot_sentinel"], "no");
    assert_eq!(r["host_sentinel"], "no");
    assert_eq!(r["writable"], "yes");
}

#[test]
fn named_non_root_user_has_no_capabilities() {
    let Some(t) = TestRoot::new() else { return };
    let extra = r#","working_directory":"/work","no_new_privileges":true,
        "readonly_rootfs":true,"environment":[{"name":"GREETING","value":"$HOME hi"}]"#;
    let r = report(&t.launch("userapp", "alice", "staff", extra));
    assert_eq!((r["uid"].as_str(), r["gid"].as_str()), ("1234", "50"));
    assert_eq!(r["groups"], "");
    assert_eq!(r["CapBnd"], DEFAULT_CAPS);
    for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(r[set], "0000000000000000", "{set}");
    }
    assert_eq!(r["NoNewPrivs"], "1");
    assert_eq!(r["fd"], "0 1 2");
    for var in ["HOME=/home/alice", "USER=alice", "AC_APP_NAME=userapp"] {
        assert!(env_has(&r, var), "{var} missing from {}", r["env"]);
    }
    assert!(r["env"].contains("GREETING=$HOME hi"), "no $VAR expansion");
    assert_eq!(r["writable"], format!("errno{}", libc::EROFS));
    assert_eq!(r["host_sentinel"], "no");
}

fn assert_refused(out: &Output, app: &str, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "stderr: {stderr}");
    assert!(
        stderr.starts_with(&format!("stage2: app {app}: ")),
        "{stderr}"
    );
    assert!(stderr.contains(needle), "{stderr}");
    assert!(out.stdout.is_empty(), "the app must not have run");
}

#[test]
fn failures_before_exec_exit_254_naming_the_app() {
    let Some(t) = TestRoot::new() else { return };
    let out = t.launch("badapp", "mallory", "0", "");
    assert_refused(&out, "badapp", "mallory");
    let out = t.launch("badapp", "0", "0", r#","working_directory":"/nonexistent""#);
    assert_refused(&out, "badapp", "/nonexistent");
    // A spec stage2 cannot even parse is reported without an app name, naming the file.
    let out = t.launch("badapp", "0", "0", r#","usr":"typo""#);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "stderr: {stderr}");
    assert!(
        stderr.starts_with("stage2: ") && stderr.contains("badapp.json"),
        "{stderr}"
    );
}

#[test]
fn working_directory_via_proc_stays_in_the_root() {
    let Some(t) = TestRoot::new() else { return };
    // The test process's cwd seen through procfs is a host directory: chdir follows the magic
    // link out of the app root, so getcwd must report it unreachable and stage2 refuse (T8).
    let outside = format!(r#","working_directory":"/proc/{}/cwd""#, std::process::id());
    let out = t.launch("procapp", "0", "0", &outside);
    assert_refused(&out, "procapp", "outside the app root");
}
