//! `rkt run`: prepare a pod with its lock held, move it to `run`, and exec stage1, which
//! inherits the lock; rkt's exit code is then the pod's.

use std::process::ExitCode;

use stage0::metadata::register_pod;
use stage0::pod::write_uuid_file;
use stage0::run::args::{Command, RunArgs, parse};
use stage0::run::{StageOneFlags, exec_stage1, require_root};

use super::prepare::{merged_global, prepare_pod, usage};
use crate::cli::{GlobalArgs, RunCmdArgs};
use crate::context::Ctx;

pub fn run(global: &GlobalArgs, args: &RunCmdArgs) -> anyhow::Result<ExitCode> {
    let parsed = parse(Command::Run, &args.args)?;
    if parsed.help {
        print!("{}", usage("run"));
        return Ok(ExitCode::SUCCESS);
    }
    let global = merged_global(global, &parsed.global);
    require_root("run")?;
    let ctx = Ctx::new(&global)?;
    stage0::run::args::net::check_known(&parsed.pod, &ctx.dirs.local)?;
    let mut pod = prepare_pod(&ctx, &parsed)?.pod;
    if let Some(path) = &parsed.pod.uuid_file_save {
        write_uuid_file(path, &pod.uuid())?;
    }
    // Before `run`: a pod the service refused stays an aborted prepare for gc.
    let mds = if parsed.pod.mds_register {
        Some(register_pod(&pod.path(), &pod.uuid().to_string())?)
    } else {
        None
    };
    pod.to_run()?;
    let mut flags = stage1_flags(&ctx, &global, &parsed);
    if let Some((token, port)) = mds {
        flags.mds_token = Some(token);
        flags.mds_port = Some(port);
    }
    Err(exec_stage1(&pod, &flags).into())
}

fn stage1_flags(ctx: &Ctx, global: &GlobalArgs, parsed: &RunArgs) -> StageOneFlags {
    let pod = &parsed.pod;
    StageOneFlags {
        debug: global.debug,
        net: pod.net_spec(),
        local_config: Some(ctx.dirs.local.clone()),
        hostname: pod.hostname.clone(),
        interactive: pod.interactive,
        dns: pod.dns.clone(),
        dns_search: pod.dns_search.clone(),
        dns_opt: pod.dns_opt.clone(),
        dns_domain: pod.dns_domain.clone(),
        hosts_entries: pod.hosts_entries.clone(),
        ipc: pod.ipc.clone(),
        insecure: ctx.insecure,
        mds_token: None,
        mds_port: None,
        private_users: pod.private_users.then(stage0::run::random_uid_range),
        pids_limit: pod.pids_limit.clone(),
    }
}
