//! `rkt run-prepared UUID`: lock a prepared pod, move it to `run` and exec stage1 with the pod
//! flags given here (rkt's run-prepared set, plus `--private-users` and `--pids-limit` as
//! `rkt run` has them).

use std::process::ExitCode;

use stage0::pod::{Pod, Pods};
use stage0::run::{StageOneFlags, exec_stage1, require_root};

use crate::cli::{GlobalArgs, RunPreparedArgs};
use crate::context::Ctx;

pub fn run(ctx: &Ctx, global: &GlobalArgs, args: &RunPreparedArgs) -> anyhow::Result<ExitCode> {
    require_root("run-prepared")?;
    if args.mds_register && args.net.iter().any(|n| n == "none") {
        anyhow::bail!(
            "conflicting flags: --mds-register and --net=none: the metadata service needs a network"
        );
    }
    if let Some(limit) = &args.pids_limit
        && limit != "max"
        && !limit.parse::<u64>().is_ok_and(|n| n > 0)
    {
        anyhow::bail!("invalid --pids-limit {limit:?}: use a positive number of tasks, or max");
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
    let mds = if args.mds_register {
        // A prepared pod already has a token only if an earlier run-prepared failed late.
        let _ = std::fs::remove_file(pod.path().join(stage0::metadata::TOKEN_FILE));
        Some(stage0::metadata::register_pod(
            &pod.path(),
            &pod.uuid().to_string(),
        )?)
    } else {
        None
    };
    pod.to_run()?;
    let (mds_token, mds_port) = mds.map(|(t, p)| (Some(t), Some(p))).unwrap_or_default();
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
        mds_token,
        mds_port,
        // As for `rkt run`: a fresh id range per run, since a prepared pod keeps none.
        private_users: args.private_users.then(stage0::run::random_uid_range),
        pids_limit: args.pids_limit.clone(),
    };
    Err(exec_stage1(&pod, &flags).into())
}
