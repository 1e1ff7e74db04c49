//! The launch: ordered small steps over one [`Launch`] context, each going through [`Sys`].
//!
//! Order, and why:
//! 1. `enter_mount_namespace`: a private mount namespace (so nothing below leaks to the pod),
//!    `/` made recursively slave (pod mounts still propagate in, ours never out), the app root
//!    bound onto itself recursively (pivot_root needs a mount point), then made read-only if asked.
//! 2. `set_oom_score_adj`, `set_rlimits`: while stage2 still has CAP_SYS_RESOURCE and the pod's
//!    `/proc` is still reachable.
//! 3. `pivot_into_root`: `pivot_root(".", ".")` then `umount2(".", MNT_DETACH)` leaves no path back
//!    to the old root (a bare chroot can be escaped with CAP_SYS_CHROOT, which apps keep).
//! 4. `enter_working_directory`: chdir, then getcwd must give an absolute path: the kernel
//!    reports a directory outside the new root as unreachable (T8, `/proc/self/fd/N` tricks).
//!    With `--private-users`, the pod's user namespace (opened before the pivot, while its
//!    pinned file is reachable) is joined here: every mount is done (they need capabilities in
//!    the host's namespace), and the ids and capabilities below are then the namespace's.
//! 5. `drop_bounding_set`, `switch_identity` (groups, gid, uid), `set_capabilities`: the bounding
//!    set is dropped while CAP_SETPCAP is still held; ids change while CAP_SETUID/SETGID are held;
//!    the final capset leaves root apps eff = perm = bounding and everyone inh = amb = 0.
//! 6. `no_new_privs` when asked (and always for a non-root app with a seccomp filter, as rkt
//!    does: it no longer holds CAP_SYS_ADMIN), `close_fds` (0-2 and the listed fds survive).
//! 7. The seccomp filter, last, so that it constrains only the app. Without no_new_privs the
//!    kernel wants CAP_SYS_ADMIN: a root app keeps it in its effective and permitted sets until
//!    the exec, which recomputes a root process's sets from the bounding set (where it is absent
//!    unless the app retains it), so the app never holds it. The filter is compiled before any
//!    step runs, so a bad one changes nothing.
//! 8. `exec`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::env::{app_environment, lookup};
use crate::seccomp::{self, SeccompError};
use crate::spec::{AppSpec, EnvVar, rlimit_resource};
use crate::sys::Sys;
use crate::user::{AppRoot, Identity, UserError};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot resolve the app's user or group")]
    Identity(#[from] UserError),
    #[error("{step} ({target})")]
    Step {
        step: &'static str,
        target: String,
        #[source]
        source: io::Error,
    },
    #[error("working directory {dir} resolves outside the app root ({cwd:?}); refusing to run")]
    WorkingDirOutside { dir: PathBuf, cwd: String },
    #[error("{program:?} not found in the app's PATH {path:?}")]
    NotFound { program: String, path: String },
    #[error("cannot execute {path}")]
    Exec {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{what} contains a NUL byte")]
    Nul { what: String },
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
}

fn step<T>(r: io::Result<T>, step: &'static str, target: impl ToString) -> Result<T, LaunchError> {
    r.map_err(|source| LaunchError::Step {
        step,
        target: target.to_string(),
        source,
    })
}

/// The process capability sets an app ends with (bit n = capability n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapPlan {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// Root apps hold their whole bounding set; non-root apps hold nothing (T10: `CapEff = 0`).
/// Inheritable (and ambient) are always empty.
pub fn cap_plan(bounding: u64, uid: u32) -> CapPlan {
    let held = if uid == 0 { bounding } else { 0 };
    CapPlan {
        bounding,
        effective: held,
        permitted: held,
        inheritable: 0,
    }
}

const CAP_SYS_ADMIN: u32 = 21;

/// One app, resolved and ready to launch.
pub struct Launch {
    pub spec: AppSpec,
    pub identity: Identity,
    pub env: Vec<EnvVar>,
}

impl Launch {
    /// Resolves the identity from the image's files and computes the final environment.
    pub fn prepare(spec: AppSpec) -> Result<Launch, LaunchError> {
        let root = AppRoot::open(&spec.root)?;
        let identity = root.resolve(&spec.user, &spec.group, &spec.supplementary_gids)?;
        Ok(Launch::new(spec, identity))
    }

    pub fn new(spec: AppSpec, identity: Identity) -> Launch {
        let env = app_environment(&spec.environment, spec.name.as_str(), &identity);
        Launch {
            spec,
            identity,
            env,
        }
    }

    /// Runs every step; returns only on failure (or, with the fake, after the exec "ran").
    pub fn run(&self, sys: &mut dyn Sys) -> Result<(), LaunchError> {
        let app = self.spec.name.as_str();
        let filter = match &self.spec.seccomp {
            Some(s) => Some(seccomp::compile(app, s)?),
            None => None,
        };
        self.enter_mount_namespace(sys)?;
        self.set_oom_score_adj(sys)?;
        self.set_rlimits(sys)?;
        let userns = match &self.spec.user_namespace {
            Some(p) => Some(step(
                sys.open_user_ns(p),
                "open the user namespace",
                p.display(),
            )?),
            None => None,
        };
        self.pivot_into_root(sys)?;
        self.enter_working_directory(sys)?;
        if let Some(fd) = &userns {
            step(
                sys.join_user_ns(fd),
                "join the pod's user namespace",
                "setns",
            )?;
        }
        let root = self.identity.uid == 0;
        let no_new_privs = self.spec.no_new_privileges || (filter.is_some() && !root);
        let mut caps = cap_plan(self.spec.capability_mask(), self.identity.uid);
        drop_bounding_set(sys, caps.bounding)?;
        self.switch_identity(sys)?;
        if filter.is_some() && !no_new_privs {
            // Held only until the exec (see step 7 in the module docs).
            caps.effective |= 1 << CAP_SYS_ADMIN;
            caps.permitted |= 1 << CAP_SYS_ADMIN;
        }
        set_capabilities(sys, &caps)?;
        if no_new_privs {
            step(sys.set_no_new_privs(), "set no_new_privs", "prctl")?;
        }
        step(
            sys.close_fds(&self.spec.keep_fds),
            "close inherited fds",
            "fd 3 and up",
        )?;
        if let Some(program) = &filter {
            let r = sys.install_seccomp(program);
            step(
                r,
                "install the seccomp filter",
                format!("{} instructions", program.len()),
            )?;
        }
        self.exec(sys)
    }

    fn enter_mount_namespace(&self, sys: &mut dyn Sys) -> Result<(), LaunchError> {
        let root = &self.spec.root;
        step(
            sys.unshare_mount_ns(),
            "unshare the mount namespace",
            "CLONE_NEWNS",
        )?;
        step(
            sys.make_rslave(Path::new("/")),
            "make / recursively slave",
            "/",
        )?;
        step(
            sys.bind_recursive(root, root),
            "bind the app root onto itself",
            root.display(),
        )?;
        if self.spec.readonly_rootfs {
            step(
                sys.remount_readonly(root),
                "remount the app root read-only",
                root.display(),
            )?;
        }
        Ok(())
    }

    fn set_oom_score_adj(&self, sys: &mut dyn Sys) -> Result<(), LaunchError> {
        match self.spec.oom_score_adj {
            Some(v) => step(sys.set_oom_score_adj(v), "set oom_score_adj", v),
            None => Ok(()),
        }
    }

    fn set_rlimits(&self, sys: &mut dyn Sys) -> Result<(), LaunchError> {
        for limit in &self.spec.rlimits {
            // validate() already refused unknown names; skipping keeps this total.
            let Some(resource) = rlimit_resource(&limit.resource) else {
                continue;
            };
            let r = sys.setrlimit(resource, limit.soft, limit.hard);
            step(r, "set rlimit", &limit.resource)?;
        }
        Ok(())
    }

    fn pivot_into_root(&self, sys: &mut dyn Sys) -> Result<(), LaunchError> {
        let root = &self.spec.root;
        let here = Path::new(".");
        step(sys.chdir(root), "enter the app root", root.display())?;
        step(
            sys.pivot_root(here, here),
            "pivot_root into the app root",
            root.display(),
        )?;
        step(
            sys.umount_detach(here),
            "detach the old root",
            root.display(),
        )?;
        step(sys.chdir(Path::new("/")), "enter the new /", "/")
    }

    fn enter_working_directory(&self, sys: &mut dyn Sys) -> Result<(), LaunchError> {
        let dir = &self.spec.working_directory;
        step(sys.chdir(dir), "enter the working directory", dir.display())?;
        let outside = |cwd: String| LaunchError::WorkingDirOutside {
            dir: dir.clone(),
            cwd,
        };
        match sys.getcwd() {
            Ok(cwd) if cwd.is_absolute() => Ok(()),
            Ok(cwd) => Err(outside(cwd.display().to_string())),
            // ENOENT is how getcwd reports a directory unreachable from the root.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(outside("unreachable".into())),
            Err(e) => step(Err(e), "check the working directory", dir.display()),
        }
    }

    fn switch_identity(&self, sys: &mut dyn Sys) -> Result<(), LaunchError> {
        let id = &self.identity;
        let gids = &id.supplementary_gids;
        step(
            sys.setgroups(gids),
            "set supplementary groups",
            format!("{gids:?}"),
        )?;
        step(sys.setresgid(id.gid), "set gid", id.gid)?;
        step(sys.setresuid(id.uid), "set uid", id.uid)
    }

    /// `execvp` over the app's PATH without its shell fallback: a `/` in argv[0] means as is.
    fn exec(&self, sys: &mut dyn Sys) -> Result<(), LaunchError> {
        let program = &self.spec.exec[0];
        let argv = cstrings(self.spec.exec.iter().map(String::as_str), "exec")?;
        let envp = cstrings(
            self.env.iter().map(|v| format!("{}={}", v.name, v.value)),
            "environment",
        )?;
        let path = lookup(&self.env, "PATH").unwrap_or_default();
        let mut denied = None;
        for candidate in exec_candidates(program, path) {
            let c = cstrings([candidate.as_os_str().as_bytes()], "exec")?.remove(0);
            match sys.execve(&c, &argv, &envp) {
                Ok(()) => return Ok(()),
                Err(e) if is_not_here(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    denied = Some((candidate, e));
                }
                Err(source) => {
                    let path = candidate.display().to_string();
                    return Err(LaunchError::Exec { path, source });
                }
            }
        }
        Err(match denied {
            Some((p, source)) => LaunchError::Exec {
                path: p.display().to_string(),
                source,
            },
            None => LaunchError::NotFound {
                program: program.clone(),
                path: path.to_string(),
            },
        })
    }
}

/// Errors after which execvp tries the next PATH entry.
fn is_not_here(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG)
    )
}

/// Where execvp would look for `program`: itself when it has a `/`, else each PATH entry in
/// order (an empty entry is the working directory).
pub fn exec_candidates(program: &str, path: &str) -> Vec<PathBuf> {
    if program.contains('/') {
        return vec![PathBuf::from(program)];
    }
    path.split(':')
        .map(|dir| if dir.is_empty() { "." } else { dir })
        .map(|dir| Path::new(dir).join(program))
        .collect()
}

fn cstrings<I, S>(items: I, what: &str) -> Result<Vec<CString>, LaunchError>
where
    I: IntoIterator<Item = S>,
    S: Into<Vec<u8>>,
{
    items
        .into_iter()
        .map(|s| {
            CString::new(s).map_err(|_| LaunchError::Nul {
                what: what.to_string(),
            })
        })
        .collect()
}

/// Drops every capability outside `keep` from the bounding set, up to the kernel's last one.
fn drop_bounding_set(sys: &mut dyn Sys, keep: u64) -> Result<(), LaunchError> {
    for cap in 0..64u32 {
        if keep & (1u64 << cap) != 0 {
            continue;
        }
        match sys.drop_bounding_cap(cap) {
            Ok(()) => {}
            // EINVAL: past the kernel's last capability, nothing more to drop.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) => return step(Err(e), "drop from the capability bounding set", cap),
        }
    }
    Ok(())
}

fn set_capabilities(sys: &mut dyn Sys, caps: &CapPlan) -> Result<(), LaunchError> {
    let r = sys.set_capabilities(caps.effective, caps.permitted, caps.inheritable);
    step(r, "set capabilities", format!("{caps:x?}"))?;
    step(sys.clear_ambient(), "clear ambient capabilities", "prctl")
}

#[cfg(test)]
#[path = "launch_tests.rs"]
mod tests;
