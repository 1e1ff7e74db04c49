//! The CNI plugins ptp, bridge, host-local and loopback in one static binary, picked by the
//! name it is run as (`usr/lib/rkt/plugins/net/<name>` links to it in the stage1 image), or by
//! the first argument when run as `rkt-net-plugin <name>`.

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = |s: &str| {
        Path::new(s)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string()
    };
    let mut name = args.first().map(|a| base(a)).unwrap_or_default();
    if name == "rkt-net-plugin" {
        name = args.get(1).cloned().unwrap_or_default();
    }
    std::process::exit(networking::plugins::dispatch::main(&name));
}
