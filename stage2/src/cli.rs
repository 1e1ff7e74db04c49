//! The `stage2 [--spec FILE]` command line, shared by the `stage2` binary and stage1's
//! multi-call binary.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::sys::RealSys;
use crate::{AppSpec, EXIT_FAILURE, Launch, error_chain};

const USAGE: &str =
    "usage: stage2 [--spec FILE]   (the app spec is read from stdin without --spec)";

fn spec_path(args: &[String]) -> Result<Option<PathBuf>, String> {
    match args {
        [] => Ok(None),
        [flag, file] if flag == "--spec" => Ok(Some(PathBuf::from(file))),
        [flag] if flag.starts_with("--spec=") => Ok(Some(PathBuf::from(&flag[7..]))),
        _ => Err(USAGE.to_string()),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(EXIT_FAILURE as u8)
}

/// Runs stage2 with `args` (argv without argv[0]); returns only on failure.
pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let path = match spec_path(args) {
        Ok(p) => p,
        Err(usage) => return fail(format!("stage2: {usage}")),
    };
    let spec = match AppSpec::load(path.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(format!("stage2: {}", error_chain(&e))),
    };
    fail(launch(spec))
}

/// Launches the app of `spec` in this process (which becomes the app); returns only on
/// failure, with the one-line report. stage1's supervisor calls this in its forked child
/// instead of exec'ing the stage2 binary: the child must then look like a fresh stage2 (only
/// fds 0-2 and `keep_fds` open, default signal dispositions, an empty mask).
pub fn launch(spec: AppSpec) -> String {
    let name = spec.name.as_str().to_string();
    match Launch::prepare(spec).and_then(|l| l.run(&mut RealSys)) {
        Err(e) => format!("stage2: app {name}: {}", error_chain(&e)),
        Ok(()) => format!("stage2: app {name}: execve returned without an error"),
    }
}
