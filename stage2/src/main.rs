//! `stage2 [--spec FILE]`: launch one app; see the library docs for the boundary with stage1.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    stage2::cli::main(&args)
}
