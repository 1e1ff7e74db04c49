//! `rkt rm`: delete one pod now, whatever the grace period, if it is not in use: exited and
//! garbage pods, prepared pods and aborted prepares. A pod that ran gets its stage1 `gc` first.

use aci::manifest::Uuid;

use super::stage1::{Stage1Options, run_gc};
use super::{PodOpsError, Result};
use crate::pod::{Pod, PodDir, PodError, PodState, Pods};

/// A remark rkt prints on stderr while removing (the pod was moved to garbage first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveNote {
    /// "moving failed prepare %q to garbage"
    MovedAbortedPrepare,
    /// "moving expired prepared pod %q to garbage"
    MovedPrepared,
}

/// Remove the pod `input` names; `note` hears about moves to garbage as they happen.
pub fn remove(
    pods: &Pods,
    input: &str,
    stage1: &Stage1Options,
    mut note: impl FnMut(Uuid, RemoveNote),
) -> Result<Uuid> {
    let mut pod = Pod::open(pods, input)?;
    let uuid = pod.uuid();
    let busy = |what, hint| PodOpsError::Busy { uuid, what, hint };
    match pod.state() {
        PodState::Running => {
            return Err(busy("running", "stop it first with `rkt stop`"));
        }
        PodState::Embryo | PodState::Preparing => {
            return Err(busy("being prepared", "try again when it is prepared"));
        }
        PodState::Deleting | PodState::ExitedDeleting => {
            return Err(busy("being deleted", "another rkt gc or rm is at it"));
        }
        PodState::AbortedPrepare | PodState::Prepared => {
            // Under the lock, so a concurrent run-prepared either wins or finds it gone.
            pod.try_lock_exclusive().map_err(|e| locked(e, uuid))?;
            note(
                uuid,
                if pod.state() == PodState::Prepared {
                    RemoveNote::MovedPrepared
                } else {
                    RemoveNote::MovedAbortedPrepare
                },
            );
            pod.to_garbage()?;
        }
        PodState::Exited => {
            pod.try_lock_exclusive().map_err(|e| locked(e, uuid))?;
            pod.to_exited_garbage()?;
        }
        PodState::ExitedGarbage | PodState::Garbage => {
            pod.try_lock_exclusive().map_err(|e| locked(e, uuid))?;
        }
    }
    // Where it is now that we hold the lock (another rm may have moved it just before).
    pod.refresh()?;
    if pod.dir() == PodDir::ExitedGarbage {
        run_gc(&pod, stage1)?;
    }
    pod.delete()?;
    Ok(uuid)
}

/// Someone took the lock between our look and our lock: the pod is in use again.
fn locked(e: PodError, uuid: Uuid) -> PodOpsError {
    match e {
        PodError::Busy { .. } => PodOpsError::Busy {
            uuid,
            what: "in use",
            hint: "another rkt process holds its lock; try again later",
        },
        e => e.into(),
    }
}
