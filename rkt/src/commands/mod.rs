//! One file per verb; each calls into the library and prints.

mod version;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Version => version::run(),
    }
}
