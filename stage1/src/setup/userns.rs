//! `--private-users`: the pod's user namespace and the id-mapped app roots.
//!
//! The pod's PID 1 stays in the host's user namespace (it mounts, and owns the pod's other
//! namespaces); only the apps join the pod's user namespace, after their mounts are done
//! (stage2). The namespace maps pod ids `0..count` to host ids `shift..shift+count`, so root in
//! an app is an unprivileged uid on the host.
//!
//! Files: the app's rendered tree is owned by host root, which is unmapped in the namespace.
//! rkt chowned a copy (and so needed `--no-overlay`). We instead mount an id-mapped view of
//! the tree (`mount_setattr(MOUNT_ATTR_IDMAP)`, host `n` shown as `shift + n`) and use it as
//! the overlay's lower layer; the upper layer is a plain directory of the pod, so files the
//! app writes or copies up are stored with their shifted host ids (the pod dir is the pod's
//! own and removed by gc). Overlay itself refuses to be id-mapped on current kernels (EINVAL),
//! and an id-mapped upper layer would need the mounter's fsuid inside the range: hence this
//! split. The upper dir itself is handed to the pod's root (it gives the merged root
//! directory its owner). `--no-overlay` is refused with `--private-users`: an id-mapped copy
//! refuses the mount points stage1 creates in it as host root (EOVERFLOW), and chowning the
//! copy (rkt's way) is exactly what this design avoids.
//!
//! Volumes are not shifted: a host volume shows its host owners (unmapped ones as `nobody`),
//! as in rkt. The namespace is pinned by a bind mount on [`USERNS_FILE`] in the stage1 root,
//! from where each app's stage2 (and `rkt enter`) opens it.

use std::path::Path;

use super::sys::{Follow, MountSys, NodeKind, Target};
use super::{Result, SetupError, sys_err};
use crate::context::{AppContext, PodContext};

/// Where the pod's user namespace is pinned, inside the stage1 root.
pub const USERNS_FILE: &str = "/rkt/userns";

/// The ids of a pod's user namespace: pod id `n` is host id `shift + n`, for `n < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    pub shift: u32,
    pub count: u32,
}

impl UidRange {
    /// Parses `<shift>:<count>` (rkt's stage1 flag format). The range must hold the pod's
    /// root (count ≥ 1), must not include host root (shift ≥ 1) and must fit in 32 bits.
    pub fn parse(s: &str) -> std::result::Result<UidRange, String> {
        let (shift, count) = s
            .split_once(':')
            .ok_or_else(|| "expected <shift>:<count>".to_string())?;
        let num = |v: &str, what: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("the {what} {v:?} is not a number"))
        };
        let range = UidRange {
            shift: num(shift, "shift")?,
            count: num(count, "count")?,
        };
        if range.shift == 0 {
            return Err("the shift must not be 0 (the pod's root would be host root)".into());
        }
        if range.count == 0 {
            return Err("the count must be at least 1".into());
        }
        if u64::from(range.shift) + u64::from(range.count) > u64::from(u32::MAX) {
            return Err("the range goes past the largest uid".into());
        }
        Ok(range)
    }

    /// The `uid_map`/`gid_map` line.
    pub fn map_line(&self) -> String {
        format!("0 {} {}\n", self.shift, self.count)
    }
}

/// Creates the pod's user namespace and pins it on [`USERNS_FILE`] in the stage1 root.
/// Returns the namespace, for the id-mapped mounts.
pub(super) fn create_and_pin(
    ctx: &PodContext,
    range: UidRange,
    sys: &mut dyn MountSys,
) -> Result<Target> {
    let ns = sys.user_namespace(range).map_err(sys_err(
        "create the pod's user namespace",
        Path::new("/proc"),
    ))?;
    let rel = Path::new(USERNS_FILE.trim_start_matches('/'));
    let pin = sys
        .open_in_root(
            &ctx.stage1_root,
            rel,
            Follow::Never,
            Some((NodeKind::File, 0o444)),
        )
        .map_err(sys_err("create", &ctx.stage1_root.join(rel)))?;
    sys.bind(&ns, &pin, false, false)
        .map_err(sys_err("pin the user namespace on", &pin.shown))?;
    Ok(ns)
}

/// The directory the id-mapped view of `app`'s tree is mounted on (in the pod dir, next to
/// its overlay's upper and work dirs; only this mount namespace sees the mount).
pub(super) fn idmapped_lower_dir(app: &AppContext) -> Result<std::path::PathBuf> {
    app.upper
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("idmapped").join(app.name.as_str()))
        .ok_or_else(|| SetupError::Flag {
            flag: "--private-users".into(),
            problem: format!("no place for the id-mapped tree of {}", app.upper.display()),
        })
}

/// Mounts an id-mapped view of the host directory `src` on the host directory `dst`
/// (created 0755 if missing).
pub(super) fn bind_idmapped(
    src: &Path,
    dst: &Path,
    ns: &Target,
    sys: &mut dyn MountSys,
) -> Result<()> {
    sys.mkdir_host(dst, 0o755, 0, 0)
        .map_err(sys_err("create the directory", dst))?;
    let s = sys.open_host(src).map_err(sys_err("open", src))?;
    let d = sys.open_host(dst).map_err(sys_err("open", dst))?;
    sys.bind_idmapped(&s, &d, ns).map_err(|source| {
        let hint = if source.raw_os_error() == Some(libc::EINVAL) {
            " (this file system or kernel has no id-mapped mounts: run without --private-users)"
        } else {
            ""
        };
        SetupError::Sys {
            op: "mount id-mapped",
            path: src.to_path_buf(),
            source: std::io::Error::new(source.kind(), format!("{source}{hint}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shift_and_count() {
        let r = UidRange::parse("1048576:65536").unwrap();
        assert_eq!(
            r,
            UidRange {
                shift: 1 << 20,
                count: 65536
            }
        );
        assert_eq!(r.map_line(), "0 1048576 65536\n");
    }

    #[test]
    fn refuses_bad_ranges() {
        for bad in [
            "",
            "65536",
            "0:65536",
            "65536:0",
            "x:1",
            "1:y",
            "4294967295:2",
            "-1:5",
        ] {
            assert!(UidRange::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
