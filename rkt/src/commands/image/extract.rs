//! `rkt image extract` (the image's own files) and `rkt image render` (flattened over its
//! dependencies): the same arguments, two library calls.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use stage0::images::ImagesError;
use stage0::store::Store;

use super::args::OutputDirArgs;
use crate::context::Ctx;

type WriteFn = fn(&Store, &str, &Path, bool, bool) -> Result<(), ImagesError>;

pub fn run(ctx: &Ctx, args: &OutputDirArgs, flatten: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let info = super::resolve(&store, &args.image)?;
    let (verb, write) = if flatten {
        ("rendering", stage0::images::render as WriteFn)
    } else {
        ("extracting", stage0::images::extract as WriteFn)
    };
    write(
        &store,
        &info.key,
        &args.output_dir,
        args.rootfs_only,
        args.overwrite,
    )
    .with_context(|| {
        format!(
            "{verb} image {} into {}",
            info.key,
            args.output_dir.display()
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
