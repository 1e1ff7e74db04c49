//! `rkt status`: what it prints about one pod, and its `--wait` / `--wait-ready` waits.
//!
//! Waiting polls (every 50 ms) with a deadline rather than blocking on the lock: a blocking
//! `flock` cannot time out, and the pod may move between folders while we wait.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use super::{PodOpsError, Result};
use crate::pod::{NetInfo, Pod, PodError, PodState};

const POLL: Duration = Duration::from_millis(50);
/// How long `status` waits for stage1 to publish the pid of a pod that just started (as rkt).
const PID_WAIT: Duration = Duration::from_secs(1);

/// How long `--wait`/`--wait-ready` wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    No,
    Forever,
    For(Duration),
}

/// rkt's wait values: empty or a true boolean = forever, a false boolean or `0` = no wait, a
/// Go duration (`10s`, `1m30s`) = that long, a negative duration = forever.
pub fn parse_wait(input: &str) -> Result<Wait> {
    match input {
        "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => return Ok(Wait::Forever),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => return Ok(Wait::No),
        _ => {}
    }
    let (negative, rest) = match input.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, input),
    };
    let d = crate::images::parse_duration(rest).map_err(|e| PodOpsError::BadWait {
        input: input.to_string(),
        reason: e.to_string(),
    })?;
    Ok(match (negative, d.is_zero()) {
        (_, true) => Wait::No,
        (true, false) => Wait::Forever,
        (false, false) => Wait::For(d),
    })
}

fn deadline(wait: Wait) -> Option<Option<Instant>> {
    match wait {
        Wait::No => None,
        Wait::Forever => Some(None),
        Wait::For(d) => Some(Some(Instant::now() + d)),
    }
}

/// rkt's "finished": ran and exited (in any later folder), or a prepare that was aborted.
fn finished(state: PodState) -> bool {
    state.is_after_run() || state == PodState::AbortedPrepare
}

/// Wait until the pod has exited (nobody holds its lock any more). A pod removed meanwhile
/// counts as finished.
pub fn wait_finished(pod: &mut Pod, wait: Wait) -> Result<()> {
    let Some(until) = deadline(wait) else {
        return Ok(());
    };
    loop {
        match pod.refresh() {
            Ok(()) => {}
            Err(PodError::Gone { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if finished(pod.state()) {
            return Ok(());
        }
        if let (Some(t), Wait::For(d)) = (until, wait)
            && Instant::now() >= t
        {
            return Err(PodOpsError::WaitTimeout {
                uuid: pod.uuid(),
                waited: d,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Whether stage1's supervisor has declared every app started
/// (`<stage1 rootfs>/rkt/supervisor-status` is a symlink to `ready`).
fn supervisor_ready(pod: &Pod) -> Result<bool> {
    let path = pod
        .path()
        .join(pod.stage1_rootfs()?)
        .join("rkt/supervisor-status");
    Ok(std::fs::read_link(path).is_ok_and(|t| t.as_os_str() == "ready"))
}

/// Wait until the pod is ready; fails if it exits (or is removed) first.
pub fn wait_ready(pod: &mut Pod, wait: Wait) -> Result<()> {
    let Some(until) = deadline(wait) else {
        return Ok(());
    };
    loop {
        pod.refresh()?;
        let state = pod.state();
        if state == PodState::Running && supervisor_ready(pod)? {
            return Ok(());
        }
        if finished(state) || matches!(state, PodState::Garbage | PodState::Deleting) {
            return Err(PodOpsError::NeverReady {
                uuid: pod.uuid(),
                state,
            });
        }
        if let (Some(t), Wait::For(d)) = (until, wait)
            && Instant::now() >= t
        {
            return Err(PodOpsError::ReadyTimeout {
                uuid: pod.uuid(),
                waited: d,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// What `rkt status` prints, in its order.
#[derive(Debug, Clone)]
pub struct PodStatus {
    pub state: PodState,
    pub created: Option<SystemTime>,
    pub started: Option<SystemTime>,
    /// Printed for running pods only.
    pub networks: Option<Vec<NetInfo>>,
    /// For pods that ran (running, exited, being deleted); None when stage1 never wrote one.
    pub pid: Option<i32>,
    /// `exited=` for pods that ran: true once exited (rkt prints false while deleting).
    pub exited: Option<bool>,
    /// `app-<name>=<code>` for pods no longer running.
    pub app_exit_codes: BTreeMap<String, i32>,
}

/// Read the pod's status now (waiting up to a second for the pid of a pod that just started).
pub fn status(pod: &Pod) -> Result<PodStatus> {
    let state = pod.state();
    let ran = matches!(
        state,
        PodState::Running
            | PodState::Deleting
            | PodState::ExitedDeleting
            | PodState::Exited
            | PodState::ExitedGarbage
    );
    let mut out = PodStatus {
        state,
        created: pod.created()?,
        started: pod.started()?,
        networks: (state == PodState::Running)
            .then(|| pod.networks())
            .transpose()?,
        pid: None,
        exited: None,
        app_exit_codes: BTreeMap::new(),
    };
    if !ran {
        return Ok(out);
    }
    let start = Instant::now();
    out.pid = loop {
        match pod.pid_file()? {
            Some(pid) => break Some(pid),
            None if start.elapsed() >= PID_WAIT => break None,
            None => std::thread::sleep(POLL),
        }
    };
    if out.pid.is_none() && state == PodState::Running {
        return Err(PodError::PidTimeout {
            uuid: pod.uuid(),
            waited: PID_WAIT,
        }
        .into());
    }
    out.exited = Some(matches!(state, PodState::Exited | PodState::ExitedGarbage));
    if state != PodState::Running {
        out.app_exit_codes = pod.app_exit_codes()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_values_like_rkt() {
        assert_eq!(parse_wait("").unwrap(), Wait::Forever);
        assert_eq!(parse_wait("true").unwrap(), Wait::Forever);
        assert_eq!(parse_wait("false").unwrap(), Wait::No);
        assert_eq!(parse_wait("0s").unwrap(), Wait::No);
        assert_eq!(parse_wait("-1s").unwrap(), Wait::Forever);
        assert_eq!(
            parse_wait("1m30s").unwrap(),
            Wait::For(Duration::from_secs(90))
        );
        assert!(parse_wait("soon").is_err());
    }
}
