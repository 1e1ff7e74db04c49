//! `rkt export [--app=NAME] [--overwrite] UUID OUT.aci`: an app of an exited pod as an ACI.

use std::process::ExitCode;

use stage0::pod::Pods;
use stage0::pod_ops::{ExportOptions, export};

use crate::cli::ExportArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let pods = Pods::new(&ctx.data_dir)?;
    let opts = ExportOptions {
        app: args.app.clone(),
        overwrite: args.overwrite,
    };
    export(&pods, &args.uuid, &args.output, &opts)?;
    Ok(ExitCode::SUCCESS)
}
