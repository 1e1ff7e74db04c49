//! `rkt metadata-service`: serves the appc metadata API to the pods registered with
//! `rkt run --mds-register` (see `stage0::metadata`). Runs until SIGTERM or SIGINT, then
//! removes its registration socket and exits 0.

use std::process::ExitCode;

use stage0::metadata::{ServiceConfig, serve};
use stage0::run::require_root;

use crate::cli::MetadataServiceArgs;
use crate::context::Ctx;

pub fn run(ctx: &Ctx, args: &MetadataServiceArgs) -> anyhow::Result<ExitCode> {
    require_root("metadata-service")?;
    let cfg = ServiceConfig {
        data_dir: ctx.data_dir.clone(),
        port: args.listen_port,
        socket: args.socket.clone(),
    };
    serve(&cfg, |port, again| {
        // One line on stderr so a supervisor (or a test) knows the service is up.
        eprintln!(
            "metadata service: listening on port {port}, registration on {}, {again} pod(s) \
             registered again",
            cfg.socket.display()
        );
    })?;
    Ok(ExitCode::SUCCESS)
}
