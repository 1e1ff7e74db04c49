//! `rkt-stage1`: the multi-call stage1 binary; see the library docs. `argv[0]`'s file name
//! picks the entrypoint (`init`, `enter`, `gc`, `stop`, `stage2`); `rkt-stage1 <name> args...`
//! works too. Failures print one line `stage1: <error chain>` and exit 254.

use std::path::Path;
use std::process::ExitCode;

const ENTRYPOINTS: &str = "init, enter, gc, stop, stage2";

fn fail(message: &str) -> ExitCode {
    eprintln!("stage1: {message}");
    ExitCode::from(stage2::EXIT_FAILURE as u8)
}

fn exit<E: std::error::Error>(result: Result<i32, E>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => fail(&stage2::error_chain(&e)),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let invoked = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (entry, args) = match invoked.as_str() {
        "rkt-stage1" => match argv.get(1) {
            Some(e) => (e.as_str(), &argv[2..]),
            None => return fail(&format!("usage: rkt-stage1 <{ENTRYPOINTS}> [args]")),
        },
        name => (name, argv.get(1..).unwrap_or_default()),
    };
    // Non-dumpable: no process of the pod may ptrace us or open /proc/<pid>/exe (a hard link
    // into the shared tree store) or our fds (security.md T9, T14). execve of an ordinary
    // binary makes the app dumpable again, as it should be.
    // SAFETY: PR_SET_DUMPABLE takes plain integers and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let cwd = Path::new(".");
    match entry {
        "init" | "run" => exit(stage1::init::main(args)),
        "enter" => exit(stage1::enter::main(args, cwd)),
        "gc" => exit(stage1::gc::main(args, cwd)),
        "stop" => exit(stage1::stop::main(args, cwd)),
        "stage2" => {
            // Every signal back to its default: Rust's runtime ignores SIGPIPE, and an
            // ignored signal survives exec into the app.
            stage1::supervisor::reset_signals_for_exec();
            stage2::cli::main(args)
        }
        other => fail(&format!(
            "unknown entrypoint {other:?} (known: {ENTRYPOINTS})"
        )),
    }
}
