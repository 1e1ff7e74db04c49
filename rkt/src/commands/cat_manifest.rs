//! `rkt cat-manifest UUID | --uuid-file=FILE`: print the pod manifest.

use std::process::ExitCode;

use stage0::pod::{Pod, Pods};
use stage0::pod_ops::uuid_args;

use crate::cli::CatManifestArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &CatManifestArgs) -> anyhow::Result<ExitCode> {
    let pods = Pods::new(&ctx.data_dir)?;
    let inputs = uuid_args(args.uuid.as_slice(), args.uuid_file.as_deref())?;
    let [input] = inputs.as_slice() else {
        anyhow::bail!("cat-manifest takes exactly one pod");
    };
    let manifest = Pod::open(&pods, input)?.manifest()?;
    let text = if args.pretty_print {
        manifest.to_string_pretty()?
    } else {
        String::from_utf8(manifest.to_vec()?)?
    };
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}
