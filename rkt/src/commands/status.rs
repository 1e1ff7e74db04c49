//! `rkt status`: `key=value` lines (or JSON) about one pod, optionally after waiting for it to
//! become ready (`--wait-ready`) and/or to exit (`--wait`).

use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use stage0::pod::{Pod, Pods};
use stage0::pod_ops::{parse_wait, status, uuid_args, wait_finished, wait_ready};

use crate::cli::{PodFormat, StatusArgs};
use crate::context::Ctx;
use crate::output::{full_time, print_json};

pub fn run(ctx: &Ctx, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let wait = parse_wait(&args.wait)?;
    let ready = parse_wait(&args.wait_ready)?;
    let pods = Pods::new(&ctx.data_dir)?;
    let inputs = uuid_args(args.uuid.as_slice(), args.uuid_file.as_deref())?;
    let [input] = inputs.as_slice() else {
        anyhow::bail!("status takes exactly one pod");
    };
    let mut pod = Pod::open(&pods, input)?;
    wait_ready(&mut pod, ready)?;
    wait_finished(&mut pod, wait)?;
    if let Some(format) = args.format {
        print_json(&pod.info()?.json, format == PodFormat::JsonPretty)?;
        return Ok(ExitCode::SUCCESS);
    }
    let st = status(&pod)?;
    let time = |t: std::time::SystemTime| {
        full_time(
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        )
    };
    let mut out = format!("state={}\n", st.state);
    out += &format!("created={}\n", st.created.map(time).unwrap_or_default());
    if let Some(t) = st.started {
        out += &format!("started={}\n", time(t));
    }
    if let Some(nets) = &st.networks {
        let nets: Vec<String> = nets
            .iter()
            .map(|n| format!("{}:ip4={}", n.net_name, n.ip.as_deref().unwrap_or("")))
            .collect();
        out += &format!("networks={}\n", nets.join(", "));
    }
    if let Some(pid) = st.pid {
        out += &format!("pid={pid}\n");
    }
    if let Some(exited) = st.exited {
        out += &format!("exited={exited}\n");
    }
    for (app, code) in &st.app_exit_codes {
        out += &format!("app-{app}={code}\n");
        if pod.app_oom_killed(app)? {
            out += &format!("app-{app}-oom-killed=true\n");
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
