//! `rkt`: parse the command line, run one command, turn its outcome into rkt's exit codes.
//!
//! Exit codes (rkt-compatible): 0 success; 254 for any failure of rkt itself; 2 for a usage
//! error (clap); `run`/`run-prepared` hand the process to stage1 and so exit with the pod's code.

mod cli;
mod commands;
mod context;
mod output;
mod stage1_image;

use std::process::ExitCode;

use clap::Parser;

/// rkt's exit code for its own failures.
const EXIT_FAILURE: u8 = 254;

fn main() -> ExitCode {
    // `rkt image list | head` should end quietly, as a C tool does, not panic on EPIPE. The
    // default disposition also reaches stage1 and the apps through exec, as it should.
    // SAFETY: setting a signal to SIG_DFL installs no handler.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = cli::Cli::parse();
    init_logging(commands::wants_debug(&cli));
    match commands::run(&cli) {
        Ok(code) => code,
        Err(err) => {
            report(&err, cli.global.debug);
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn init_logging(debug: bool) {
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

/// One line by default (the whole chain joined), one cause per line with `--debug`.
fn report(err: &anyhow::Error, debug: bool) {
    if debug {
        eprintln!("rkt: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
    } else {
        eprintln!("rkt: {err:#}");
    }
}
