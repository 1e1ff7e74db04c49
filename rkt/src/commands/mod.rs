//! One file per verb; each calls into the library and prints.

mod cat_manifest;
mod config;
mod enter;
mod export;
mod fetch;
mod gc;
pub mod image;
mod list;
mod rm;
mod status;
mod stop;
mod trust;
mod version;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::context::Ctx;

pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Version => version::run(),
        Command::Config(args) => config::run(&Ctx::new(&cli.global)?, args.pretty_print),
        Command::Fetch(args) => fetch::run(&Ctx::new(&cli.global)?, args),
        Command::Trust(args) => trust::run(&Ctx::new(&cli.global)?, args),
        Command::Image(args) => image::run(&Ctx::new(&cli.global)?, args),
        Command::List(args) => list::run(&Ctx::new(&cli.global)?, args),
        Command::Status(args) => status::run(&Ctx::new(&cli.global)?, args),
        Command::Enter(args) => enter::run(&cli.global, args),
        Command::Stop(args) => stop::run(&Ctx::new(&cli.global)?, args),
        Command::Gc(args) => gc::run(&cli.global, args),
        Command::Rm(args) => rm::run(&cli.global, args),
        Command::CatManifest(args) => cat_manifest::run(&Ctx::new(&cli.global)?, args),
        Command::Export(args) => export::run(&Ctx::new(&cli.global)?, args),
    }
}
