//! `rkt version`: the versions of rkt-rs and of the appc spec it implements, in rkt's format
//! (scripts read the `rkt Version:` and `appc Version:` lines).

use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    println!("rkt Version: {}", env!("CARGO_PKG_VERSION"));
    println!("appc Version: {}", aci::APPC_VERSION);
    println!(
        "OS/Arch: {}/{}",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    println!("Features: -TPM -SDJOURNAL");
    Ok(ExitCode::SUCCESS)
}
