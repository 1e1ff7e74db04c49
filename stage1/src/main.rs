//! `rkt-stage1`: the multi-call stage1 binary; see the library docs.

fn main() {
    eprintln!("rkt-stage1: not built yet");
    std::process::exit(254);
}
