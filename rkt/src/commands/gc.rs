//! `rkt gc`: mark exited and aborted pods as garbage, then delete what has been garbage for
//! longer than the grace period (after the pod's stage1 `gc`). Messages as rkt prints them.

use std::process::ExitCode;

use stage0::images::parse_duration;
use stage0::pod::{GcEvent, GcOptions, Pods};
use stage0::pod_ops::{Stage1Options, format_go_duration, gc, require_root};

use crate::cli::{GcArgs, GlobalArgs};
use crate::context::Ctx;

pub fn run(global: &GlobalArgs, args: &GcArgs) -> anyhow::Result<ExitCode> {
    // Before reading any configuration, as rkt.
    require_root("gc")?;
    let ctx = Ctx::new(global)?;
    let opts = GcOptions {
        grace_period: parse_duration(&args.grace_period)?,
        expire_prepared: parse_duration(&args.expire_prepared)?,
        mark_only: args.mark_only,
        ..GcOptions::default()
    };
    let stage1 = Stage1Options {
        debug: global.debug,
        local_config: Some(global.local_config.clone()),
    };
    let pods = Pods::new(&ctx.data_dir)?;
    let report = gc(&pods, &opts, &stage1)?;
    let grace = format_go_duration(opts.grace_period);
    let mut failed = 0;
    for event in &report.events {
        match event {
            GcEvent::MarkedExited(u) => eprintln!("moving pod \"{u}\" to garbage"),
            GcEvent::MarkedAborted(u) => eprintln!("moving failed prepare \"{u}\" to garbage"),
            GcEvent::MarkedExpired(u) => {
                eprintln!("moving expired prepared pod \"{u}\" to garbage")
            }
            GcEvent::MarkedEmbryo(u) => eprintln!("moving abandoned embryo \"{u}\" to garbage"),
            GcEvent::WithinGrace(u) => {
                eprintln!("pod \"{u}\" not removed: still within grace period ({grace})")
            }
            GcEvent::Busy(u) => tracing::debug!(pod = %u, "in use, skipped"),
            GcEvent::Removed(u) => println!("Garbage collecting pod \"{u}\""),
            GcEvent::Failed(_, e) => {
                // The error names the pod.
                eprintln!("rkt: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} pod(s) could not be garbage collected; they are kept for the next gc"
        );
    }
    Ok(ExitCode::SUCCESS)
}
