//! `rkt image verify`: check each image's rendered tree against what was rendered.

use std::process::ExitCode;

use super::args::VerifyArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let mut bad = Vec::new();
    for image in &args.images {
        let info = super::resolve(&store, image)?;
        let (tree, mismatches) = stage0::images::verify(&store, &info.key)?;
        if mismatches.is_empty() {
            println!("image {}: OK", info.key);
            continue;
        }
        println!(
            "image {} ({}):",
            info.key,
            if tree.is_empty() {
                "stored blob".to_string()
            } else {
                format!("tree {tree}")
            }
        );
        for m in &mismatches {
            println!("{}: {}", m.path, m.problem);
        }
        bad.push(info.key);
    }
    if !bad.is_empty() {
        anyhow::bail!(
            "image(s) {} changed in the store since they were stored or rendered; remove them (`rkt image rm`, `rkt image gc`) and fetch again",
            bad.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
