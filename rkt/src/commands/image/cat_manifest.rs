//! `rkt image cat-manifest`: print a stored image's manifest.

use std::process::ExitCode;

use super::args::CatManifestArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &CatManifestArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let info = super::resolve(&store, &args.image)?;
    println!(
        "{}",
        stage0::images::cat_manifest(&store, &info.key, args.pretty_print)?
    );
    Ok(ExitCode::SUCCESS)
}
