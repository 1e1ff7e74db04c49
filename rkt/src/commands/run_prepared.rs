//! `rkt run-prepared UUID`: lock a prepared pod, move it to `run` and exec stage1.

use std::process::ExitCode;

use stage0::pod::{Pod, Pods};
use stage0::run::{StageOneFlags, exec_stage1, require_root};

use crate::cli::{GlobalArgs, RunPreparedArgs};
use crate::context::Ctx;

pub fn run(ctx: &Ctx, global: &GlobalArgs, args: &RunPreparedArgs) -> anyhow::Result<ExitCode> {
    require_root("run-prepared")?;
    if args.mds_register {
        anyhow::bail!("--mds-register is not supported yet: rkt-rs has no metadata service");
    }
    let pods = Pods::new(&ctx.data_dir)?;
    let mut pod = Pod::open(&pods, &args.uuid)?;
    if args.interactive {
        let apps = pod.manifest()?.apps.len();
        if apps != 1 {
            anyhow::bail!(
                "conflicting flags: --interactive and a pod of {apps} apps: an interactive pod \
                 runs exactly one app"
            );
        }
    }
    pod.to_run()?;
    let flags = StageOneFlags {
        debug: global.debug,
        net: if args.net.is_empty() {
            "default".to_string()
        } else {
            args.net.join(",")
        },
        local_config: Some(ctx.dirs.local.clone()),
        hostname: args.hostname.clone(),
        interactive: args.interactive,
        dns: args.dns.clone(),
        dns_search: args.dns_search.clone(),
        dns_opt: args.dns_opt.clone(),
        dns_domain: args.dns_domain.clone(),
        hosts_entries: args.hosts_entry.clone(),
        ipc: args.ipc.clone(),
        insecure: ctx.insecure,
        mds_token: None,
        ..StageOneFlags::default()
    };
    Err(exec_stage1(&pod, &flags).into())
}
