//! `rkt stop [--force] UUID... | --uuid-file=FILE`: run each running pod's stage1 `stop`
//! entrypoint and print its UUID quoted, as rkt.

use std::process::ExitCode;

use stage0::pod::Pods;
use stage0::pod_ops::{StopOutcome, stop, uuid_args};

use crate::cli::StopArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let pods = Pods::new(&ctx.data_dir)?;
    let inputs = uuid_args(&args.pods.uuids, args.pods.uuid_file.as_deref())?;
    let mut failed = 0;
    for input in &inputs {
        match stop(&pods, input, args.force) {
            Ok(StopOutcome::Stopped(uuid)) => println!("\"{uuid}\""),
            Ok(StopOutcome::AlreadyStopped(uuid)) => println!("pod \"{uuid}\" is already stopped"),
            Err(e) => {
                eprintln!("rkt: cannot stop {input:?}: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("failed to stop {failed} pod(s)");
    }
    Ok(ExitCode::SUCCESS)
}
