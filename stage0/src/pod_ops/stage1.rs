//! Starting the pod's stage1 entrypoints: `stop` and `gc` run as children and are waited for;
//! `enter` replaces this process. All run with cwd = the pod directory (stage1 ABI).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use aci::manifest::Uuid;

use super::{PodOpsError, Result, pick_app};
use crate::pod::{Pod, PodState, Pods};
use crate::stage1_abi::{Entrypoint, Stage1AbiError, entrypoint};

/// Global flags stage0 passes on to stage1's `gc` entrypoint.
#[derive(Debug, Clone, Default)]
pub struct Stage1Options {
    pub debug: bool,
    pub local_config: Option<PathBuf>,
}

/// The command for entrypoint `ep` of `pod`, cwd set, no arguments yet.
fn command(pod: &Pod, ep: Entrypoint) -> Result<(Command, PathBuf)> {
    let dir = pod.path();
    let path = entrypoint(&dir, ep).map_err(|source| PodOpsError::Stage1 {
        uuid: pod.uuid(),
        source: Box::new(source),
    })?;
    let mut cmd = Command::new(&path);
    cmd.current_dir(&dir);
    Ok((cmd, path))
}

/// Run `cmd` to completion; a non-zero exit is an error naming the entrypoint.
fn run(uuid: Uuid, ep: Entrypoint, mut cmd: Command, path: PathBuf) -> Result<()> {
    let status = cmd.status().map_err(|source| PodOpsError::Spawn {
        uuid,
        entrypoint: ep,
        path,
        source,
    })?;
    if !status.success() {
        return Err(PodOpsError::EntrypointFailed {
            uuid,
            entrypoint: ep,
            status,
        });
    }
    Ok(())
}

/// Run the stage1 `gc` entrypoint of a pod that ran: `[--debug] [--local-config=DIR] <uuid>`.
/// A pod without a link farm whose stage1 tree is gone from the store (removed by hand: image
/// gc keeps it while the pod exists) gets the tree rendered again from its image when the
/// store still has it, so its networks and cgroups are released as usual. Without the image
/// it is removed without its stage1 gc: its processes are gone, only its networks and cgroups
/// may stay behind, and keeping the pod would not bring them back.
pub(crate) fn run_gc(pod: &Pod, opts: &Stage1Options) -> Result<()> {
    let (mut cmd, path) = match command(pod, Entrypoint::Gc) {
        Err(PodOpsError::Stage1 { uuid, source })
            if matches!(*source, Stage1AbiError::TreeGone { .. }) =>
        {
            match restore_stage1_tree(pod) {
                Ok(true) => command(pod, Entrypoint::Gc)?,
                outcome => {
                    let why = match outcome {
                        Err(e) => format!("rendering it again failed: {e}"),
                        Ok(_) => "no stored image renders to it".to_string(),
                    };
                    tracing::warn!(
                        "pod {uuid}: {source}; {why}; removing the pod without its stage1 gc \
                         (its networks and cgroups, if any, are left behind)"
                    );
                    return Ok(());
                }
            }
        }
        other => other?,
    };
    if opts.debug {
        cmd.arg("--debug");
    }
    if let Some(dir) = &opts.local_config {
        cmd.arg(format!("--local-config={}", dir.display()));
    }
    cmd.arg(pod.uuid().to_string());
    run(pod.uuid(), Entrypoint::Gc, cmd, path)
}

/// Render the pod's stage1 tree again from the stored image whose render order has the
/// recorded tree ID; false when no stored image does.
fn restore_stage1_tree(pod: &Pod) -> std::result::Result<bool, crate::store::StoreError> {
    let dir = pod.path();
    let Ok(want) = std::fs::read_to_string(dir.join("stage1TreeStoreID")) else {
        return Ok(false);
    };
    let want = want.trim();
    // <data>/pods/<state>/<uuid>
    let Some(data) = dir.ancestors().nth(3) else {
        return Ok(false);
    };
    let store = crate::store::Store::open(data)?;
    for info in store.list()? {
        let Ok(order) = store.render_order(&info.key) else {
            continue;
        };
        let keys: Vec<String> = order.iter().map(|(i, _)| i.key.clone()).collect();
        if crate::store::tree::tree_id(&keys) == want {
            store.render_tree(&info.key)?;
            tracing::info!("pod {}: stage1 tree {want} rendered again", pod.uuid());
            return Ok(true);
        }
    }
    Ok(false)
}

/// What `stop` did with one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// The stop entrypoint ran and succeeded.
    Stopped(Uuid),
    /// The pod had already exited (rkt reports it and carries on).
    AlreadyStopped(Uuid),
}

/// Stop a running pod through its stage1 `stop` entrypoint (`[--force] <uuid>`).
pub fn stop(pods: &Pods, input: &str, force: bool) -> Result<StopOutcome> {
    let pod = Pod::open(pods, input)?;
    let state = pod.state();
    if state.is_after_run() {
        return Ok(StopOutcome::AlreadyStopped(pod.uuid()));
    }
    if state != PodState::Running {
        return Err(PodOpsError::NotRunning {
            uuid: pod.uuid(),
            state,
        });
    }
    let (mut cmd, path) = command(&pod, Entrypoint::Stop)?;
    if force {
        cmd.arg("--force");
    }
    cmd.arg(pod.uuid().to_string());
    run(pod.uuid(), Entrypoint::Stop, cmd, path)?;
    Ok(StopOutcome::Stopped(pod.uuid()))
}

/// Exec the stage1 `enter` entrypoint of a running pod:
/// `--pid=<pid> --appname=<app> -- <cmd...>`. Waits up to `pid_timeout` for stage1 to publish
/// the pod's pid. Returns only on failure; on success the command's exit code is ours.
pub fn enter_exec(
    pods: &Pods,
    input: &str,
    app: Option<&str>,
    cmd_argv: &[String],
    pid_timeout: Duration,
) -> PodOpsError {
    match enter_command(pods, input, app, cmd_argv, pid_timeout) {
        Ok((mut cmd, path, uuid)) => PodOpsError::Spawn {
            uuid,
            entrypoint: Entrypoint::Enter,
            path,
            source: cmd.exec(),
        },
        Err(e) => e,
    }
}

fn enter_command(
    pods: &Pods,
    input: &str,
    app: Option<&str>,
    cmd_argv: &[String],
    pid_timeout: Duration,
) -> Result<(Command, PathBuf, Uuid)> {
    let mut pod = Pod::open(pods, input)?;
    let uuid = pod.uuid();
    if pod.state() != PodState::Running {
        return Err(PodOpsError::NotRunning {
            uuid,
            state: pod.state(),
        });
    }
    let manifest = pod.manifest()?;
    let app = pick_app(uuid, &manifest, app)?.name.as_str().to_string();
    let pid = pod.pid(pid_timeout)?;
    let (mut cmd, path) = command(&pod, Entrypoint::Enter)?;
    cmd.arg(format!("--pid={pid}"))
        .arg(format!("--appname={app}"))
        .arg("--")
        .args(cmd_argv);
    Ok((cmd, path, uuid))
}
