//! The pod's file-system set-up, run by the pod's PID 1 in its own mount namespace.
//!
//! [`prepare_pod`] builds every mount under the stage1 root (app roots, their `/dev`, `/proc`,
//! `/sys`, `/tmp`, volumes, `/etc` files) in two steps, so that PID 1 can mount while the
//! host side adds the networks ([`mount_pod`], then [`finish_pod`] with the network's DNS);
//! [`enter_stage1_root`] then makes `/usr` read-only and pivots into the stage1 root. Everything goes through [`MountSys`], so the plan is
//! unit-tested with [`RecordingSys`] and run for real with [`RealMountSys`].
//!
//! Safety rules (security.md T12, T13, T19, T20):
//! - `/` is made recursively private first: nothing propagates back to the host.
//! - Every path inside an app root is resolved in that root (`openat2(RESOLVE_IN_ROOT)`): an
//!   image symlink such as `mnt -> /etc` or `../../..` is followed as if the app root were
//!   `/`, so a bind or a generated file can never land on the host. `dev`, `proc` and `sys`
//!   must be real directories (no symlinks at all).
//! - Mounts are made on the resolved node's fd (`/proc/self/fd/N`), never by path again.
//! - Files stage1 generates (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`) are written
//!   in the stage1 root's tmpfs under `tmp/etc/<app>/` and bind-mounted over the app's files; nothing
//!   is written into the image's `/etc` except an empty mount-point file when one is missing.

mod etc;
mod paths;
mod real;
mod real_userns;
mod stage1_root;
mod sys;
mod userns;
mod volumes;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Component, Path, PathBuf};

pub use etc::{HOSTS_FALLBACK, hosts_file, resolv_conf};
pub use paths::{PROC_HIDDEN, PROC_READ_ONLY, SYS_HIDDEN};
pub use real::RealMountSys;
pub use sys::{Follow, MountFlags, MountSys, NodeKind, RecordingSys, Target, flag_names};
pub use userns::{USERNS_FILE, UidRange};
pub use volumes::{AppMount, app_mounts};

use crate::context::{AppContext, PodContext};

/// Why the pod's file system could not be set up; each variant names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot {op} {path}")]
    Sys {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("app {app}: mount target {path:?}: {problem}")]
    BadTarget {
        app: String,
        path: String,
        problem: String,
    },
    #[error(
        "app {app}: no volume named {volume} in the pod (add one with --volume {volume},kind=host,source=PATH)"
    )]
    UnknownVolume { app: String, volume: String },
    #[error("volume {volume}: {problem}")]
    Volume { volume: String, problem: String },
    #[error("{flag}: {problem}")]
    Flag { flag: String, problem: String },
}

pub(crate) type Result<T> = std::result::Result<T, SetupError>;

/// Maps an io error of `op` on `path` to [`SetupError::Sys`].
pub(crate) fn sys_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SetupError {
    let path = path.to_path_buf();
    move |source| SetupError::Sys { op, path, source }
}

/// Turns a mount target from a manifest into a plain relative path (`/a/./b/` → `a/b`).
/// `..` is refused rather than interpreted, and so is the app root itself.
pub fn normalize_target(path: &str) -> std::result::Result<PathBuf, String> {
    if path.contains('\0') {
        return Err("contains a NUL byte".to_string());
    }
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => return Err("must not contain \"..\"".to_string()),
            Component::Prefix(_) => return Err("is not a Unix path".to_string()),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("is the app's root directory itself".to_string());
    }
    Ok(out)
}

/// Called in the pod's PID 1: already in its own (fresh, unshared) mount, pid, uts, ipc
/// namespaces, cwd = pod dir, still seeing the host's filesystem. Builds the whole pod tree
/// under `ctx.stage1_root`: [`mount_pod`] then [`finish_pod`]. Must not touch the host mount
/// namespace.
pub fn prepare_pod(ctx: &PodContext, sys: &mut dyn MountSys) -> Result<()> {
    mount_pod(ctx, sys)?;
    finish_pod(ctx, sys)
}

/// The part of the pod tree that does not depend on the pod's network: the stage1 root, and
/// each app's root with its `/dev`, `/proc`, `/sys`, `/tmp`, `/etc/hosts` and
/// `/etc/hostname`. PID 1 runs it while the host side still adds the networks.
pub fn mount_pod(ctx: &PodContext, sys: &mut dyn MountSys) -> Result<()> {
    let root = Path::new("/");
    sys.make_rprivate(root)
        .map_err(sys_err("make recursively private", root))?;
    // pivot_root needs the new root to be a mount point.
    stage1_root::mount(ctx, sys)?;

    let tty = sys.stdin_tty().map_err(sys_err(
        "open the terminal on",
        Path::new("/proc/self/fd/0"),
    ))?;
    // No /dev in the stage1 root: after the pivot, PID 1 and `enter` use only fds opened
    // before it, and every app gets its own. Its /proc stays (PID 1 reads its own maps).
    paths::setup_proc(&ctx.stage1_root, None, sys)?;
    paths::mount_stage1_tmp(&ctx.stage1_root, sys)?;

    let userns = match ctx.args.private_users {
        Some(range) => Some(userns::create_and_pin(ctx, range, sys)?),
        None => None,
    };
    let mut masks = paths::Masks::default();
    let (etc, _) = etc::plan(ctx)?.split();
    for app in &ctx.apps {
        let masks = (!ctx.args.disable_paths).then_some(&mut masks);
        mount_app(ctx, app, tty.as_ref(), userns.as_ref(), masks, sys)?;
        // Before any volume (see `finish_app`).
        etc::apply(ctx, app, &etc, sys)?;
    }
    Ok(())
}

/// The rest, once the network is known (`ctx.args.net_resolv_conf`): each app's
/// `resolv.conf`, then its volumes, then its read-only root.
pub fn finish_pod(ctx: &PodContext, sys: &mut dyn MountSys) -> Result<()> {
    let (_, etc) = etc::plan(ctx)?.split();
    for app in &ctx.apps {
        finish_app(ctx, app, &etc, sys)?;
    }
    Ok(())
}

fn mount_app(
    ctx: &PodContext,
    app: &AppContext,
    tty: Option<&Target>,
    userns: Option<&Target>,
    mut masks: Option<&mut paths::Masks>,
    sys: &mut dyn MountSys,
) -> Result<()> {
    let root = &app.root_on_host;
    mount_app_root(ctx, app, userns, sys)?;
    paths::setup_dev(root, tty, sys)?;
    paths::setup_proc(root, masks.as_deref_mut(), sys)?;
    paths::setup_sys(root, masks, sys)?;
    paths::setup_tmp(root, sys)
}

fn finish_app(
    ctx: &PodContext,
    app: &AppContext,
    etc: &etc::EtcPlan,
    sys: &mut dyn MountSys,
) -> Result<()> {
    let root = &app.root_on_host;
    // /etc files before volumes: a volume mounted on /etc then wins (rkt: volume > image),
    // and a missing /etc/hosts is never created inside a host volume.
    etc::apply(ctx, app, etc, sys)?;
    volumes::mount_volumes(ctx, app, sys)?;
    if app.read_only_rootfs {
        let t = sys.open_host(root).map_err(sys_err("open", root))?;
        sys.set_read_only(&t)
            .map_err(sys_err("make read-only", root))?;
    }
    Ok(())
}

/// The app's root: an overlay of its rendered tree, or (`--no-overlay`) a self-bind of the
/// copy stage0 made, so that later read-only remounts affect this app only. With a user
/// namespace, the lower layer (or the copy) is seen id-mapped (see [`userns`]).
fn mount_app_root(
    ctx: &PodContext,
    app: &AppContext,
    userns: Option<&Target>,
    sys: &mut dyn MountSys,
) -> Result<()> {
    let root = &app.root_on_host;
    if userns.is_some() && !ctx.use_overlay {
        // An id-mapped copy refuses the mount points stage1 creates as host root (EOVERFLOW),
        // and rkt's alternative, chowning the copy, is what the id-mapped overlay replaces.
        return Err(SetupError::Flag {
            flag: "--private-users".into(),
            problem: "cannot be combined with --no-overlay (user namespaces use an id-mapped \
                      overlay; drop --no-overlay)"
                .into(),
        });
    }
    let target = sys
        .open_host(root)
        .map_err(sys_err("open the app root", root))?;
    if !ctx.use_overlay {
        return sys
            .bind(&target, &target, false, false)
            .map_err(sys_err("bind-mount onto itself", root));
    }
    for dir in [&app.upper, &app.work] {
        sys.mkdir_host(dir, 0o755, 0, 0)
            .map_err(sys_err("create the overlay directory", dir))?;
    }
    let lower = match (userns, ctx.args.private_users) {
        (Some(_), Some(_)) if !app.lower_layers.is_empty() => {
            // Each OCI layer would need its own id-mapped mount; not built yet.
            return Err(SetupError::Flag {
                flag: "--private-users".into(),
                problem: format!(
                    "is not supported yet for app {} (an OCI image with layers); run it \
                     without --private-users",
                    app.name
                ),
            });
        }
        (Some(ns), Some(range)) => {
            let dir = userns::idmapped_lower_dir(app)?;
            userns::bind_idmapped(&app.lower, &dir, ns, sys)?;
            // The merged root directory takes its owner from the upper dir: the pod's root.
            sys.chown_host(&app.upper, range.shift, range.shift)
                .map_err(sys_err(
                    "hand the overlay's upper dir to the pod's root",
                    &app.upper,
                ))?;
            dir
        }
        _ => app.lower.clone(),
    };
    let skel = match userns {
        None => app_skel(ctx, sys)?,
        // Its root-owned entries would show as unmapped inside the user namespace.
        Some(_) => None,
    };
    let lowers: Vec<&PathBuf> = std::iter::once(&lower)
        .chain(app.lower_layers.iter())
        .chain(skel.as_ref())
        .collect();
    let data = stage1_root::overlay_options(&lowers, &app.upper, &app.work)?;
    stage1_root::mount_overlay(sys, &target, &data).map_err(sys_err("mount the overlay on", root))
}

/// Where the stage1 image keeps the app skeleton: the directories every app root gets a mount
/// on (`dev`, `proc`, `sys`, `etc`) and `etc/hostname`, which is always bound over.
pub const APP_SKEL: &str = "usr/lib/rkt/app-skel";

/// The stage1 image's app skeleton as a host path, if it has one. It becomes every app
/// overlay's bottom layer, so an image without those mount points does not need them made
/// in its upper dir: each would be an inode on the host's disk, per app and pod. The image's
/// own entries are above it and win. From the store's tree when the stage1 root is bound from
/// it, else from the link farm.
fn app_skel(ctx: &PodContext, sys: &mut dyn MountSys) -> Result<Option<PathBuf>> {
    let skel = ctx
        .stage1_lower
        .as_ref()
        .unwrap_or(&ctx.stage1_root)
        .join(APP_SKEL);
    match sys.open_host(&skel) {
        Ok(t) if t.is_dir => Ok(Some(skel)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(sys_err("open", &skel)(e)),
    }
}

/// Then: `pivot_root` into `ctx.stage1_root` (old root detached), so afterwards `/` is the
/// stage1 rootfs and app roots are at `/opt/stage2/<app>/rootfs`. `/usr` becomes read-only
/// first (the stage1 binaries cannot be changed from inside the pod).
pub fn enter_stage1_root(ctx: &PodContext, sys: &mut dyn MountSys) -> Result<()> {
    let s1 = &ctx.stage1_root;
    let usr = sys
        .open_in_root(s1, Path::new("usr"), Follow::Never, None)
        .map_err(sys_err("open the stage1 /usr", &s1.join("usr")))?;
    sys.bind(&usr, &usr, true, true)
        .map_err(sys_err("bind-mount read-only", &usr.shown))?;
    drop(usr);
    sys.pivot_root(s1).map_err(sys_err("pivot_root into", s1))
}
