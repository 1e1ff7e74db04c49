//! `rkt fetch IMAGE...`: get images into the store and print their IDs (`sha512-` + 32 hex, or
//! the whole store key with `--full`). Stops at the first image that fails.

use std::process::ExitCode;

use stage0::fetch::{Fetcher, PullPolicy};

use crate::cli::FetchArgs;
use crate::context::Ctx;

/// `sha512-` and 32 hex digits, as rkt prints a fetched image.
const SHORT_ID_LEN: usize = "sha512-".len() + 32;

pub fn run(ctx: &Ctx, args: &FetchArgs) -> anyhow::Result<ExitCode> {
    let pull_policy: PullPolicy = args.pull_policy.parse()?;
    if args.signature.is_some() && args.images.len() > 1 {
        anyhow::bail!("--signature applies to one image; fetch the images one at a time");
    }
    let mut fetcher = Fetcher::new(ctx.store()?, ctx.keystore());
    fetcher.insecure = ctx.insecure;
    fetcher.docker_auth = ctx.config.docker_auth.clone();
    fetcher.pull_policy = pull_policy;
    fetcher.signature = args.signature.clone();
    fetcher.auth = ctx.config.auth.clone();
    fetcher.trust_keys_from_https = ctx.trust_keys_from_https;
    fetcher.max_uncompressed_size = ctx.max_image_size;
    fetcher.progress = crate::output::ProgressBar::for_terminal();
    for image in &args.images {
        let info = fetcher.fetch(image)?;
        let id = if args.full {
            info.key.as_str()
        } else {
            &info.key[..SHORT_ID_LEN.min(info.key.len())]
        };
        println!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}
