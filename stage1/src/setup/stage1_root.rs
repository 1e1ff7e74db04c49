//! The stage1 root becomes a mount point (`pivot_root` needs one). For a pod with a link farm
//! that is a bind of `stage1/rootfs` onto itself, as before. For a pod without one (stage0
//! sets [`crate::context::STAGE1_LOWER_ENV`]) it is an overlay mounted ON `stage1/rootfs`:
//! lower = the stage1 tree in the store, upper = `stage1/rootfs` itself, work = `stage1/work`.
//! The host keeps seeing the upper dir, so every file stage1 writes (`rkt/status/<app>`,
//! `rkt/appspec/...`) lands at the same host path as with a farm, while the pod's mount
//! namespace sees the merged tree.

use std::io;
use std::path::{Path, PathBuf};

use super::sys::{MountFlags, MountSys, Target};
use super::{Result, SetupError, sys_err};
use crate::context::PodContext;

/// Mounts the stage1 root on itself (farm) or as an overlay (see the module docs).
pub fn mount(ctx: &PodContext, sys: &mut dyn MountSys) -> Result<()> {
    let root = &ctx.stage1_root;
    let target = sys
        .open_host(root)
        .map_err(sys_err("open the stage1 root", root))?;
    let Some(lower) = &ctx.stage1_lower else {
        return sys
            .bind(&target, &target, false, false)
            .map_err(sys_err("bind-mount onto itself", root));
    };
    let work = ctx.pod_dir.join("stage1/work");
    let data = overlay_options(&[lower], root, &work)?;
    mount_overlay(sys, &target, &data).map_err(sys_err("mount the stage1 overlay on", root))
}

/// `lowerdir=a:b,upperdir=u,workdir=w`; refuses paths overlayfs options cannot carry.
pub fn overlay_options(lowers: &[&PathBuf], upper: &Path, work: &Path) -> Result<String> {
    let plain = |dir: &Path| -> Result<String> {
        match dir.to_str().filter(|s| !s.contains([',', ':', '\\'])) {
            Some(s) => Ok(s.to_string()),
            None => Err(SetupError::Sys {
                op: "use as an overlay directory",
                path: dir.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the path contains ',', ':', '\\' or non-UTF-8 bytes (use another --dir)",
                ),
            }),
        }
    };
    let lowers = lowers
        .iter()
        .map(|l| plain(l))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        plain(upper)?,
        plain(work)?
    ))
}

/// Mounts an overlay with `data` on `target`, `volatile` when the kernel has it: the upper dir
/// is never synced, since a pod does not survive a host crash (gc removes it), and without it
/// every pod exit pays a syncfs of the whole host file system (50-250 ms measured here).
/// Kernels before 5.10 refuse the option (EINVAL): then without.
pub fn mount_overlay(sys: &mut dyn MountSys, target: &Target, data: &str) -> io::Result<()> {
    let volatile = format!("{data},volatile");
    match sys.mount_fs("overlay", "overlay", target, MountFlags::empty(), &volatile) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            sys.mount_fs("overlay", "overlay", target, MountFlags::empty(), data)
        }
        other => other,
    }
}
