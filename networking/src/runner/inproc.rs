//! Our own plugins (ptp, bridge, host-local, loopback) called as a library instead of a fork and
//! exec of `rkt-net-plugin`: the same code (`plugins::dispatch::run`), the same conf bytes on
//! "stdin", the same result JSON, the same CNI error (code and message) on failure.
//!
//! Why this is safe in stage1, which clones the pod's PID 1 right after the ADDs (DESIGN.md:
//! no async in a process that will fork or clone): the plugins' netlink code runs on a tokio
//! current-thread runtime that starts no threads of its own (no blocking pool use), and the
//! whole call (runtime, sockets, namespace switches) lives on a scoped thread that is joined
//! before `call` returns. So when stage1 clones, it is single-threaded again and holds no
//! runtime; what remains are freed allocations. A namespace switch (`setns`) is per thread and
//! the plugin switches back itself; the helper thread ending makes that moot for the caller.
//!
//! One difference from the exec path: no timeout. A hung call cannot be killed like a child;
//! our plugins block only on the kernel (netlink) and on host-local's lease lock, which another
//! plugin holds only for its own short ADD or DEL.

use std::path::Path;

use serde_json::Value;

use super::{CniCommand, Result, Runner, RunnerError};
use crate::conf::ActiveNet;
use crate::plugins::cni::{self, Env};
use crate::plugins::dispatch;

/// The CNI environment the exec'd plugin would get, for the built-in `ty`.
fn env(run: &Runner, net: &ActiveNet, cmd: CniCommand) -> Env {
    let mut args = vec![("IgnoreUnknown".to_string(), "1".to_string())];
    args.extend(cni::parse_args(&net.args));
    Env {
        command: match cmd {
            CniCommand::Add => cni::Command::Add,
            CniCommand::Del => cni::Command::Del,
        },
        container_id: run.container_id.clone(),
        netns: Some(run.netns.clone()).filter(|p| !p.as_os_str().is_empty()),
        ifname: net.if_name.clone(),
        args,
        path: run.plugin_dirs.clone(),
        builtin_dir: run.builtin_dir.clone(),
    }
}

/// Calls built-in plugin `ty` (resolved at `plugin`) once; its result JSON as it would print it.
pub(super) fn call(
    run: &Runner,
    net: &ActiveNet,
    plugin: &Path,
    ty: &str,
    cmd: CniCommand,
    stdin: &Value,
) -> Result<Vec<u8>> {
    let env = env(run, net, cmd);
    let raw = stdin.to_string().into_bytes();
    crate::debug(
        run.debug,
        &format!("{} {} {ty} in-process", net.conf.name, cmd.as_str()),
    );
    let outcome = std::thread::scope(|s| {
        s.spawn(|| dispatch::run(ty, &env, &raw).map_err(|e| (e.code(), e.to_string())))
            .join()
    });
    let failed = |message: String| RunnerError::Failed {
        net: net.conf.name.clone(),
        path: plugin.to_path_buf(),
        command: cmd.as_str(),
        message,
    };
    match outcome {
        Ok(Ok(Some(v))) => Ok(v.to_string().into_bytes()),
        Ok(Ok(None)) => Ok(Vec::new()),
        // Worded as the exec path words a plugin's error reply.
        Ok(Err((code, msg))) => Err(failed(format!("{msg} (CNI error {code})"))),
        Err(_) => Err(failed("panicked (a bug in rkt's built-in plugin)".into())),
    }
}
