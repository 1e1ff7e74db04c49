//! `rkt enter [--app=NAME] UUID [CMD ARGS...]`: exec the pod's stage1 `enter` entrypoint, so
//! the command's exit code is rkt's.

use std::process::ExitCode;
use std::time::Duration;

use stage0::pod::Pods;
use stage0::pod_ops::{enter_exec, require_root};

use crate::cli::{EnterArgs, GlobalArgs};
use crate::context::Ctx;

/// What rkt runs when no command is given (rkt-rs's stage1 falls back to /bin/sh).
const DEFAULT_CMD: &str = "/bin/bash";
/// How long to wait for a just-started pod to publish its pid.
const PID_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(global: &GlobalArgs, args: &EnterArgs) -> anyhow::Result<ExitCode> {
    // Before reading any configuration, as rkt.
    require_root("enter")?;
    let ctx = Ctx::new(global)?;
    let pods = Pods::new(&ctx.data_dir)?;
    let cmd = if args.cmd.is_empty() {
        eprintln!("rkt: no command specified, assuming {DEFAULT_CMD:?}");
        vec![DEFAULT_CMD.to_string()]
    } else {
        args.cmd.clone()
    };
    // Only returns when the exec did not happen.
    Err(enter_exec(&pods, &args.uuid, args.app.as_deref(), &cmd, PID_TIMEOUT).into())
}
