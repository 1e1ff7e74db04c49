//! One file per verb; each calls into the library and prints.

mod config;
pub mod image;
mod version;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::context::Ctx;

pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Version => version::run(),
        Command::Config(args) => config::run(&Ctx::new(&cli.global)?, args.pretty_print),
        Command::Image(args) => image::run(&Ctx::new(&cli.global)?, args),
    }
}
