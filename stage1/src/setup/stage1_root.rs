//! The stage1 root becomes a mount point (`pivot_root` needs one). For a pod with a link farm
//! that is a bind of `stage1/rootfs` onto itself, as before. For a pod without one (stage0
//! sets [`crate::context::STAGE1_LOWER_ENV`]) it is the stage1 tree in the store, bound
//! read-only ON `stage1/rootfs`, with the two dirs stage0 and stage1 fill per pod bound from
//! the host over the tree's empty ones: `opt/stage2` (the app mount points and manifests,
//! read-only) and `rkt` (writable: `status/<app>`, `appspec/...` land at the same host paths
//! as with a farm). Binds, not an overlay: no upper or work dir (each a new inode on the
//! host's disk), and no overlay superblock, whose teardown when the pod ends waits for an
//! RCU grace period of its own (milliseconds when the host is busy).

use std::io;
use std::path::{Path, PathBuf};

use super::sys::{Follow, MountFlags, MountSys, Target};
use super::{Result, SetupError, sys_err};
use crate::context::PodContext;

/// Mounts the stage1 root on itself (farm) or as binds of the store's tree (see the module
/// docs).
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
    // Opened before the tree hides them.
    let state = root.join(STATE_DIR);
    sys.mkdir_host(&state, 0o755, 0, 0)
        .map_err(sys_err("create", &state))?;
    let state_dir = sys.open_host(&state).map_err(sys_err("open", &state))?;
    let apps = root.join(APPS_DIR);
    let apps_dir = sys.open_host(&apps).map_err(sys_err("open", &apps))?;
    let tree = sys.open_host(lower).map_err(sys_err("open", lower))?;
    sys.bind(&tree, &target, false, true)
        .map_err(sys_err("bind-mount the stage1 tree read-only on", root))?;
    for (rel, dir, read_only) in [(APPS_DIR, &apps_dir, true), (STATE_DIR, &state_dir, false)] {
        let rel = Path::new(rel);
        let dst = sys
            .open_in_root(root, rel, Follow::Never, None)
            .map_err(sys_err("open in the stage1 root", &root.join(rel)))?;
        sys.bind(dir, &dst, false, read_only)
            .map_err(sys_err("bind-mount the pod's dir on", &dst.shown))?;
    }
    Ok(())
}

/// Where the app mount points and manifests are (stage0 makes them, see the module docs).
const APPS_DIR: &str = "opt/stage2";

/// The stage1 root's writable dir (bound from the host, see the module docs).
const STATE_DIR: &str = "rkt";

/// `dir` as overlayfs options can carry it: refuses ',', ':', '\\' and non-UTF-8 bytes.
fn plain_dir(dir: &Path) -> Result<String> {
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
}

/// `lowerdir=a:b,upperdir=u,workdir=w`; refuses paths overlayfs options cannot carry.
pub fn overlay_options(lowers: &[&PathBuf], upper: &Path, work: &Path) -> Result<String> {
    let lowers = lowers
        .iter()
        .map(|l| plain_dir(l))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        plain_dir(upper)?,
        plain_dir(work)?
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
