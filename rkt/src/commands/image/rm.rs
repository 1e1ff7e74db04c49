//! `rkt image rm`: remove images, refusing those a prepared or running pod uses.

use std::process::ExitCode;

use super::args::RmArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &RmArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let outcomes = stage0::images::remove(&store, &ctx.data_dir, &args.images)?;
    let mut failed = 0;
    for (input, outcome) in outcomes {
        match outcome {
            Ok(key) => println!("successfully removed aci for image: {key:?}"),
            Err(e) => {
                eprintln!("rkt: cannot remove image {input:?}: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} image(s) cannot be removed");
    }
    Ok(ExitCode::SUCCESS)
}
