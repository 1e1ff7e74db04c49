//! One file per verb; each calls into the library and prints.

mod cat_manifest;
mod config;
mod enter;
mod export;
mod fetch;
mod gc;
pub mod image;
mod list;
mod metadata_service;
mod prepare;
mod rm;
mod run;
mod run_prepared;
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
        Command::Run(args) => run::run(&cli.global, args),
        Command::Prepare(args) => prepare::run(&cli.global, args),
        Command::RunPrepared(args) => run_prepared::run(&Ctx::new(&cli.global)?, &cli.global, args),
        Command::MetadataService(args) => metadata_service::run(&Ctx::new(&cli.global)?, args),
    }
}

/// `--debug` given after `run`/`prepare` (where clap leaves it to rkt's own parser) also turns
/// on debug logging.
pub fn wants_debug(cli: &Cli) -> bool {
    use stage0::run::args::{Command as Verb, parse};
    let parsed = match &cli.command {
        Command::Run(a) => parse(Verb::Run, &a.args),
        Command::Prepare(a) => parse(Verb::Prepare, &a.args),
        _ => return cli.global.debug,
    };
    cli.global.debug || parsed.is_ok_and(|p| p.global.debug == Some(true))
}
