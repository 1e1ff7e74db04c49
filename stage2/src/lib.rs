//! stage2: the per-app launcher. It knows nothing about pods, only one app's runtime
//! description ([`AppSpec`]), and is the one place that turns it into process attributes.
//!
//! # The stage1 → stage2 boundary
//!
//! - **Who runs it:** stage1, once per app, forks and runs [`cli::launch`] in the child (for
//!   `enter`: forks and execs the `stage2` binary) as root (full capabilities in the pod's user
//!   namespace) inside the pod's namespaces (pid, uts, ipc, net, and the pod's mount namespace
//!   where the app rootfs is already prepared: overlay, volumes, `/dev`, `/proc`, `/sys`).
//!   stage2 unshares its own mount namespace on top of that.
//! - **What crosses:** one [`AppSpec`]: in memory to [`cli::launch`], or as JSON read from the
//!   file named by `--spec FILE` or, with no argument, from stdin (then stdin is consumed;
//!   prefer `--spec`). Keys are snake_case; unknown keys are refused.
//! - **Which fds cross:** 0, 1 and 2 (the app's stdio, set up by stage1), plus exactly the fds
//!   listed in `keep_fds` (e.g. socket activation), which lose `FD_CLOEXEC`. Every other fd is
//!   closed before the exec, whatever its flags (T8: a leaked pod lock or host dir fd is an
//!   escape).
//! - **Environment and argv of stage2 itself** are ignored: the app's environment is the spec's
//!   list plus rkt's defaults ([`env::app_environment`]).
//! - **Outcome:** on success stage2 *becomes* the app (execve; the pid stays the one stage1
//!   forked, so stage1 reaps the app directly). Any failure before the exec prints one line
//!   `stage2: app <name>: <error chain>` to stderr (`stage2: <error>` when the spec itself could
//!   not be read) and exits with [`EXIT_FAILURE`] = 254, rkt's own failure code.
//!
//! The launch order is documented in [`launch`]; the syscalls go through [`sys::Sys`].

pub mod cli;
pub mod env;
pub mod fake;
pub mod launch;
pub mod seccomp;
pub mod spec;
pub mod sys;
pub mod user;

pub use launch::{CapPlan, Launch, LaunchError, cap_plan};
pub use spec::{AppSpec, EnvVar, RlimitSpec, SpecError};
pub use user::{Identity, UserError};

/// stage2's exit code for any failure before the app runs (rkt's failure code).
pub const EXIT_FAILURE: i32 = 254;

/// `err` and its sources joined with `: `, for the one-line report.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}
