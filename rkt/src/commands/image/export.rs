//! `rkt image export`: write a stored image as an uncompressed ACI.

use std::process::ExitCode;

use anyhow::Context as _;

use super::args::ExportArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let info = super::resolve(&store, &args.image)?;
    stage0::images::export(&store, &info.key, &args.output, args.overwrite)
        .with_context(|| format!("exporting image {}", info.key))?;
    Ok(ExitCode::SUCCESS)
}
