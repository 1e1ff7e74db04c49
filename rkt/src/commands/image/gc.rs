//! `rkt image gc`: remove unreferenced trees, then images unused past the grace period.

use std::process::ExitCode;

use stage0::images::parse_duration;

use super::args::GcArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &GcArgs) -> anyhow::Result<ExitCode> {
    let grace = parse_duration(&args.grace_period)?;
    let store = ctx.store()?;
    let report = stage0::images::gc(&store, &ctx.data_dir, grace)?;
    for tree in &report.trees_removed {
        println!("removed tree store {tree}");
    }
    for (key, pods) in &report.images_in_use {
        println!("keeping image {key:?}: used by pod(s) {}", pods.join(", "));
    }
    for key in &report.images_removed {
        println!("successfully removed aci for image: {key:?}");
    }
    for path in &report.downloads_removed {
        println!("removed stale partial download {path}");
    }
    for (what, why) in &report.failures {
        eprintln!("rkt: cannot remove {what}: {why}");
    }
    if !report.failures.is_empty() {
        anyhow::bail!(
            "image gc could not remove {} item(s)",
            report.failures.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
