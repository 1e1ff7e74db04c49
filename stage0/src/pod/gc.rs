//! Pod garbage collection, rkt's two steps: mark (rename dead pods into the garbage folders),
//! then sweep (delete what has been garbage for longer than the grace period).
//!
//! Marking: unlocked `run` pods → `exited-garbage`; aborted prepares → `garbage`; unlocked
//! embryos older than `embryo_expiry` (left by a crash between mkdir and rename) → `garbage`;
//! without `mark_only`, prepared pods older than `expire_prepared` → `garbage` (taken under
//! their lock so a concurrent `run-prepared` wins or loses cleanly).
//!
//! Sweeping: each `exited-garbage` pod whose directory ctime (≈ when it was marked) is older
//! than the grace period, and every `garbage` pod, is locked (skipped if busy), handed to the
//! caller's `sweep` (stage1 gc, unmounting leftovers) and then deleted without following
//! symlinks or crossing mounts. A pod the sweep or the deletion fails on stays for next time.

use std::time::{Duration, SystemTime};

use aci::manifest::Uuid;

use super::{Pod, PodDir, PodError, PodState, Pods, Result};

/// What the caller's sweep may fail with (stage1 gc, unmount).
pub type SweepError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Clone)]
pub struct GcOptions {
    /// How long a pod stays in `exited-garbage` before deletion (rkt: 30m).
    pub grace_period: Duration,
    /// How long a prepared pod may wait for `run-prepared` (rkt: 24h).
    pub expire_prepared: Duration,
    /// Only mark exited and aborted pods; delete nothing.
    pub mark_only: bool,
    /// Age after which an unlocked embryo is known dead.
    pub embryo_expiry: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace_period: Duration::from_secs(30 * 60),
            expire_prepared: Duration::from_secs(24 * 3600),
            mark_only: false,
            embryo_expiry: Duration::from_secs(10 * 60),
        }
    }
}

/// One thing gc did or decided, in order (the CLI prints rkt's messages from these).
#[derive(Debug)]
pub enum GcEvent {
    /// "moving pod %q to garbage"
    MarkedExited(Uuid),
    /// "moving failed prepare %q to garbage"
    MarkedAborted(Uuid),
    /// "moving expired prepared pod %q to garbage"
    MarkedExpired(Uuid),
    MarkedEmbryo(Uuid),
    /// "pod %q not removed: still within grace period"
    WithinGrace(Uuid),
    /// Locked by someone else (running again? being deleted by another gc?): skipped.
    Busy(Uuid),
    /// "Garbage collecting pod %q"
    Removed(Uuid),
    /// Marking or deleting this pod failed; it is left in place.
    Failed(Uuid, PodError),
}

#[derive(Debug, Default)]
pub struct GcReport {
    pub events: Vec<GcEvent>,
}

impl GcReport {
    pub fn removed(&self) -> Vec<Uuid> {
        self.events
            .iter()
            .filter_map(|e| match e {
                GcEvent::Removed(u) => Some(*u),
                _ => None,
            })
            .collect()
    }

    pub fn failures(&self) -> impl Iterator<Item = (&Uuid, &PodError)> {
        self.events.iter().filter_map(|e| match e {
            GcEvent::Failed(u, err) => Some((u, err)),
            _ => None,
        })
    }
}

fn older_than(t: Option<SystemTime>, age: Duration, now: SystemTime) -> bool {
    match t {
        Some(t) => now
            .duration_since(t)
            .map(|d| d >= age)
            .unwrap_or(age.is_zero()),
        None => false,
    }
}

/// ctime of the pod directory itself, whatever folder it is in.
fn dir_ctime(pod: &Pod) -> Result<SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let md = pod
        .fd
        .metadata()
        .map_err(super::io_err("stat", pod.path()))?;
    let secs = md.ctime().max(0) as u64;
    let nanos = md.ctime_nsec().clamp(0, 999_999_999) as u32;
    Ok(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

impl Pods {
    /// Run gc over all pods; see the module doc. Errors about single pods are reported as
    /// [`GcEvent::Failed`]; only failing to list the folders is an error.
    pub fn gc(
        &self,
        opts: &GcOptions,
        mut sweep: impl FnMut(&Pod) -> std::result::Result<(), SweepError>,
    ) -> Result<GcReport> {
        let mut report = GcReport::default();
        self.mark(opts, &mut report)?;
        if opts.mark_only {
            return Ok(report);
        }
        let now = SystemTime::now();
        self.for_each(&[PodDir::ExitedGarbage, PodDir::Garbage], |mut pod| {
            let uuid = pod.uuid();
            if pod.dir() == PodDir::ExitedGarbage {
                match dir_ctime(&pod) {
                    Ok(t) if !older_than(Some(t), opts.grace_period, now) => {
                        report.events.push(GcEvent::WithinGrace(uuid));
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        report.events.push(GcEvent::Failed(uuid, e));
                        return Ok(());
                    }
                }
            }
            report.events.push(sweep_one(&mut pod, &mut sweep));
            Ok(())
        })?;
        Ok(report)
    }

    fn mark(&self, opts: &GcOptions, report: &mut GcReport) -> Result<()> {
        let now = SystemTime::now();
        let dirs = [
            PodDir::Embryo,
            PodDir::Prepare,
            PodDir::Prepared,
            PodDir::Run,
        ];
        self.for_each(&dirs, |mut pod| {
            let uuid = pod.uuid();
            let event = match pod.state() {
                PodState::Exited => {
                    Some(pod.to_exited_garbage().map(|_| GcEvent::MarkedExited(uuid)))
                }
                PodState::AbortedPrepare => {
                    Some(pod.to_garbage().map(|_| GcEvent::MarkedAborted(uuid)))
                }
                PodState::Embryo => {
                    mark_locked(&mut pod, opts.embryo_expiry, now, GcEvent::MarkedEmbryo)
                }
                PodState::Prepared if !opts.mark_only => {
                    mark_locked(&mut pod, opts.expire_prepared, now, GcEvent::MarkedExpired)
                }
                _ => None,
            };
            match event {
                Some(Ok(e)) => report.events.push(e),
                // Raced with another gc or a run: no longer ours to mark.
                Some(Err(PodError::Busy { .. } | PodError::Gone { .. })) => {}
                Some(Err(e)) => report.events.push(GcEvent::Failed(uuid, e)),
                None => {}
            }
            Ok(())
        })
    }
}

/// Move an old enough pod to garbage under its exclusive lock (skip it if someone holds it).
fn mark_locked(
    pod: &mut Pod,
    age: Duration,
    now: SystemTime,
    event: fn(Uuid) -> GcEvent,
) -> Option<Result<GcEvent>> {
    let ctime = match dir_ctime(pod) {
        Ok(t) => t,
        Err(e) => return Some(Err(e)),
    };
    if !older_than(Some(ctime), age, now) {
        return None;
    }
    if pod.try_lock_exclusive().is_err() {
        return None;
    }
    let r = pod.to_garbage().map(|_| event(pod.uuid()));
    let _ = pod.unlock();
    Some(r)
}

fn sweep_one(
    pod: &mut Pod,
    sweep: &mut impl FnMut(&Pod) -> std::result::Result<(), SweepError>,
) -> GcEvent {
    let uuid = pod.uuid();
    if pod.try_lock_exclusive().is_err() {
        return GcEvent::Busy(uuid);
    }
    // The pod may have moved between listing and locking (another gc deleted it).
    if let Err(e) = pod.refresh() {
        return match e {
            PodError::Gone { .. } => GcEvent::Busy(uuid),
            e => GcEvent::Failed(uuid, e),
        };
    }
    if !matches!(pod.dir(), PodDir::ExitedGarbage | PodDir::Garbage) {
        return GcEvent::Busy(uuid);
    }
    if let Err(source) = sweep(pod) {
        return GcEvent::Failed(uuid, PodError::Sweep { uuid, source });
    }
    match pod.delete() {
        Ok(()) => GcEvent::Removed(uuid),
        Err(e) => GcEvent::Failed(uuid, e),
    }
}
