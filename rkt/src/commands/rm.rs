//! `rkt rm UUID... | --uuid-file=FILE`: remove pods that are not in use now, printing each
//! removed UUID quoted, as rkt.

use std::process::ExitCode;

use stage0::pod::Pods;
use stage0::pod_ops::{RemoveNote, Stage1Options, remove, require_root, uuid_args};

use crate::cli::{GlobalArgs, UuidsArgs};
use crate::context::Ctx;

pub fn run(global: &GlobalArgs, args: &UuidsArgs) -> anyhow::Result<ExitCode> {
    // Before reading any configuration, as rkt.
    require_root("rm")?;
    let ctx = Ctx::new(global)?;
    let pods = Pods::new(&ctx.data_dir)?;
    let stage1 = Stage1Options {
        debug: global.debug,
        local_config: Some(global.local_config.clone()),
    };
    let mut failed = false;
    for input in uuid_args(&args.uuids, args.uuid_file.as_deref())? {
        let note = |uuid, note| match note {
            RemoveNote::MovedAbortedPrepare => {
                eprintln!("moving failed prepare \"{uuid}\" to garbage")
            }
            RemoveNote::MovedPrepared => {
                eprintln!("moving expired prepared pod \"{uuid}\" to garbage")
            }
        };
        match remove(&pods, &input, &stage1, note) {
            Ok(uuid) => println!("\"{uuid}\""),
            Err(e) => {
                eprintln!("rkt: cannot remove {input:?}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        anyhow::bail!("failed to remove one or more pods");
    }
    Ok(ExitCode::SUCCESS)
}
