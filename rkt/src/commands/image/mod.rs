//! `rkt image <verb>`: one file per verb, each calling one function of `stage0::images`.

pub mod args;
mod cat_manifest;
mod export;
mod extract;
mod gc;
mod list;
mod rm;
mod verify;

use std::process::ExitCode;

use anyhow::Context as _;
use stage0::store::{ImageInfo, Store};

use crate::context::Ctx;
use args::{ImageArgs, ImageVerb};

pub fn run(ctx: &Ctx, args: &ImageArgs) -> anyhow::Result<ExitCode> {
    match &args.verb {
        ImageVerb::List(a) => list::run(ctx, a),
        ImageVerb::Rm(a) => rm::run(ctx, a),
        ImageVerb::Gc(a) => gc::run(ctx, a),
        ImageVerb::Export(a) => export::run(ctx, a),
        ImageVerb::Extract(a) => extract::run(ctx, a, false),
        ImageVerb::Render(a) => extract::run(ctx, a, true),
        ImageVerb::CatManifest(a) => cat_manifest::run(ctx, a),
        ImageVerb::Verify(a) => verify::run(ctx, a),
    }
}

/// The stored image an argument names.
fn resolve(store: &Store, image: &str) -> anyhow::Result<ImageInfo> {
    stage0::images::resolve(store, image).with_context(|| format!("finding image {image:?}"))
}
