//! The `gc` entrypoint (`[--debug] [--local-config=DIR] <uuid>`, cwd = the pod dir), run by
//! stage0 on an exited pod before it deletes the directory.
//!
//! All pod mounts live in the pod's own mount namespace and die with it. What outlives the
//! pod: its CNI networks, port forwards and pinned netns ([`crate::net::teardown`]: DEL in
//! reverse with the confs copied into the pod dir), anything still mounted under the pod dir
//! in the caller's namespace (unmounted lazily, deepest first, so that stage0 never deletes
//! through a mount), and the pod's cgroups (listed in the pod dir's `cgroups` file, see
//! [`crate::cgroup`]), removed deepest first, killing any process left in them.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("stage1 gc: {0} (usage: gc [--debug] [--local-config=DIR] <uuid>)")]
    Usage(String),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    #[error("pod {uuid}: cannot unmount {mount_point}")]
    Unmount {
        uuid: String,
        mount_point: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pod {uuid}: cannot remove its cgroups")]
    Cgroup {
        uuid: String,
        #[source]
        source: crate::cgroup::CgroupError,
    },
}

/// The `gc` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcArgs {
    pub uuid: String,
    pub local_config: Option<PathBuf>,
}

/// Parses the command line.
pub fn parse_args(args: &[String]) -> Result<GcArgs, GcError> {
    let mut uuid = None;
    let mut local_config = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--debug" | "--debug=true" => crate::status::set_debug(true),
            "--debug=false" => {}
            "--local-config" => {
                let v = it
                    .next()
                    .ok_or_else(|| GcError::Usage("--local-config needs a value".into()))?;
                local_config = Some(PathBuf::from(v));
            }
            a if a.starts_with("--local-config=") => {
                local_config = Some(PathBuf::from(&a["--local-config=".len()..]));
            }
            a if a.starts_with("--") => return Err(GcError::Usage(format!("unknown flag {a}"))),
            a if uuid.is_none() => uuid = Some(a.to_string()),
            a => return Err(GcError::Usage(format!("unexpected argument {a:?}"))),
        }
    }
    let uuid = uuid.ok_or_else(|| GcError::Usage("the pod UUID is missing".into()))?;
    Ok(GcArgs { uuid, local_config })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
pub(crate) fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// The mount points at or under `dir` in a mountinfo text, in the order to unmount them:
/// deepest first, and later mounts before earlier ones at the same depth (stacked mounts).
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(usize, usize, PathBuf)> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape)
        .enumerate()
        .filter(|(_, p)| p.starts_with(dir))
        .map(|(i, p)| (p.components().count(), i, p))
        .collect();
    found.sort_by_key(|(depth, index, _)| std::cmp::Reverse((*depth, *index)));
    found.into_iter().map(|(_, _, p)| p).collect()
}

/// Lazily unmounts every mount under `pod_dir` in the current mount namespace; returns how many.
pub fn unmount_all(pod_dir: &Path, uuid: &str) -> Result<usize, GcError> {
    let info_path = Path::new("/proc/self/mountinfo");
    let info = std::fs::read_to_string(info_path).map_err(|source| GcError::Read {
        path: info_path.to_path_buf(),
        source,
    })?;
    let mut count = 0;
    for mount_point in mounts_under(&info, pod_dir) {
        crate::debug!("pod {uuid}: unmounting {}", mount_point.display());
        match rustix::mount::unmount(&mount_point, rustix::mount::UnmountFlags::DETACH) {
            Ok(()) => count += 1,
            // Already gone with a lazily detached parent.
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => {
                return Err(GcError::Unmount {
                    uuid: uuid.to_string(),
                    mount_point,
                    source: e.into(),
                });
            }
        }
    }
    Ok(count)
}

/// Runs `gc` in the pod dir `pod_dir`.
pub fn main(args: &[String], pod_dir: &Path) -> Result<i32, GcError> {
    let GcArgs { uuid, local_config } = parse_args(args)?;
    let pod_dir = std::fs::canonicalize(pod_dir).map_err(|source| GcError::Read {
        path: pod_dir.to_path_buf(),
        source,
    })?;
    let local_config = local_config.unwrap_or_else(|| crate::net::DEFAULT_LOCAL_CONFIG.into());
    // Networks first: a failed DEL must not stop the unmounting, but is reported.
    let net = crate::net::teardown(
        &pod_dir,
        &uuid,
        &local_config,
        crate::status::debug_enabled(),
    );
    let n = unmount_all(&pod_dir, &uuid)?;
    net?;
    crate::debug!("pod {uuid}: {n} mounts released");
    let record = pod_dir.join(crate::cgroup::RECORD_FILE);
    let n = crate::cgroup::remove_recorded(&record, &uuid).map_err(|source| GcError::Cgroup {
        uuid: uuid.clone(),
        source,
    })?;
    crate::debug!("pod {uuid}: {n} cgroups removed");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:40 / /var/lib/rkt/pods/run/u1/stage1/rootfs rw - overlay overlay rw
31 30 0:41 / /var/lib/rkt/pods/run/u1/stage1/rootfs/proc rw - proc proc rw
32 30 0:42 / /var/lib/rkt/pods/run/u1/stage1/rootfs/opt/stage2/my\\040app/rootfs rw - tmpfs t rw
33 30 0:43 / /var/lib/rkt/pods/run/u1/stage1/rootfs/proc rw - tmpfs t rw
34 22 0:44 / /var/lib/rkt/pods/run/u10 rw - tmpfs t rw
";

    #[test]
    fn deepest_and_latest_first_only_under_the_pod() {
        let got = mounts_under(INFO, Path::new("/var/lib/rkt/pods/run/u1"));
        let root = "/var/lib/rkt/pods/run/u1/stage1/rootfs";
        let want: Vec<PathBuf> = vec![
            format!("{root}/opt/stage2/my app/rootfs").into(),
            format!("{root}/proc").into(),
            format!("{root}/proc").into(),
            root.into(),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn unescapes_mountinfo_fields() {
        assert_eq!(unescape("a\\040b\\134c\\0"), Path::new("a b\\c\\0"));
    }

    #[test]
    fn args() {
        let s = |l: &[&str]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let want = GcArgs {
            uuid: "u".into(),
            local_config: Some("/x".into()),
        };
        assert_eq!(parse_args(&s(&["--local-config=/x", "u"])).unwrap(), want);
        assert_eq!(
            parse_args(&s(&["--local-config", "/x", "u"])).unwrap(),
            want
        );
        assert_eq!(parse_args(&s(&["u"])).unwrap().local_config, None);
        assert!(parse_args(&s(&[])).is_err());
        assert!(parse_args(&s(&["--nope", "u"])).is_err());
    }
}
