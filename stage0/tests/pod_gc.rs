//! gc: marking, sweeping with and without grace, busy pods, sweep failures, symlinks, and
//! never deleting through a bind mount left inside a pod.

mod pod_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pod_support::*;
use stage0::pod::{GcEvent, GcOptions, Pod, PodDir, PodError, PodState, Pods, SweepError};

fn opts(grace: u64, expire: u64, mark_only: bool) -> GcOptions {
    GcOptions {
        grace_period: Duration::from_secs(grace),
        expire_prepared: Duration::from_secs(expire),
        mark_only,
        embryo_expiry: Duration::from_secs(0),
    }
}

fn no_sweep(_: &Pod) -> Result<(), SweepError> {
    Ok(())
}

fn where_is(pods: &Pods, pod: &Pod) -> Option<PodDir> {
    Pod::open_uuid(pods, pod.uuid()).ok().map(|p| p.dir())
}

#[test]
fn mark_only_moves_dead_pods_and_deletes_nothing() {
    let d = data();
    let ex = exited(&d.pods);
    let mut aborted = Pod::create_embryo(&d.pods).unwrap();
    aborted.to_prepare().unwrap();
    let aborted_uuid = aborted.uuid();
    drop(aborted);
    let prep = prepared(&d.pods, IMAGE_B);
    let mut running = prepared(&d.pods, IMAGE_B);
    running.to_run().unwrap();

    let report = d.pods.gc(&opts(0, 0, true), no_sweep).unwrap();
    assert_eq!(where_is(&d.pods, &ex), Some(PodDir::ExitedGarbage));
    assert_eq!(
        Pod::open_uuid(&d.pods, aborted_uuid).unwrap().dir(),
        PodDir::Garbage
    );
    assert_eq!(
        where_is(&d.pods, &prep),
        Some(PodDir::Prepared),
        "no expiry when marking only"
    );
    assert_eq!(where_is(&d.pods, &running), Some(PodDir::Run));
    assert!(report.removed().is_empty());
    assert!(
        report
            .events
            .iter()
            .any(|e| matches!(e, GcEvent::MarkedExited(u) if *u == ex.uuid()))
    );
    assert!(
        report
            .events
            .iter()
            .any(|e| matches!(e, GcEvent::MarkedAborted(u) if *u == aborted_uuid))
    );
}

#[test]
fn zero_grace_collects_everything_dead_and_keeps_the_living() {
    let d = data();
    let ex = exited(&d.pods);
    let old_prepared = prepared(&d.pods, IMAGE_B);
    let mut running = prepared(&d.pods, IMAGE_B);
    running.to_run().unwrap();
    let embryo_alive = Pod::create_embryo(&d.pods).unwrap();
    let dead_embryo = Pod::create_embryo(&d.pods).unwrap().uuid();

    let mut swept = Vec::new();
    let report = d
        .pods
        .gc(&opts(0, 0, false), |p: &Pod| {
            // The sweep runs with the pod locked by gc.
            swept.push((p.uuid(), p.state()));
            Ok(())
        })
        .unwrap();
    let removed = report.removed();
    for u in [ex.uuid(), old_prepared.uuid(), dead_embryo] {
        assert!(removed.contains(&u), "{u} not removed: {report:?}");
        assert!(Pod::open_uuid(&d.pods, u).is_err());
    }
    assert!(swept.contains(&(ex.uuid(), PodState::ExitedDeleting)));
    assert!(swept.contains(&(old_prepared.uuid(), PodState::Deleting)));
    assert_eq!(where_is(&d.pods, &running), Some(PodDir::Run));
    assert_eq!(where_is(&d.pods, &embryo_alive), Some(PodDir::Embryo));
    assert_eq!(
        std::fs::read_dir(d.tmp.path().join("pods/garbage"))
            .unwrap()
            .count()
            + std::fs::read_dir(d.tmp.path().join("pods/exited-garbage"))
                .unwrap()
                .count(),
        0
    );
}

#[test]
fn long_grace_keeps_exited_garbage_but_empties_garbage() {
    let d = data();
    let ex = exited(&d.pods);
    let mut never_ran = prepared(&d.pods, IMAGE_B);
    never_ran.to_garbage().unwrap();
    let fresh_prepared = prepared(&d.pods, IMAGE_B);

    let report = d.pods.gc(&opts(3600, 3600, false), no_sweep).unwrap();
    assert_eq!(where_is(&d.pods, &ex), Some(PodDir::ExitedGarbage));
    assert!(
        report
            .events
            .iter()
            .any(|e| matches!(e, GcEvent::WithinGrace(u) if *u == ex.uuid()))
    );
    assert_eq!(where_is(&d.pods, &never_ran), None, "garbage has no grace");
    assert_eq!(where_is(&d.pods, &fresh_prepared), Some(PodDir::Prepared));
}

#[test]
fn busy_pods_are_skipped() {
    let d = data();
    let eg = exited_garbage(&d.pods);
    let _h = Holder::exclusive(&eg.path());
    let report = d.pods.gc(&opts(0, 0, false), no_sweep).unwrap();
    assert!(
        report
            .events
            .iter()
            .any(|e| matches!(e, GcEvent::Busy(u) if *u == eg.uuid()))
    );
    assert_eq!(where_is(&d.pods, &eg), Some(PodDir::ExitedGarbage));
}

#[test]
fn a_failed_sweep_keeps_the_pod() {
    let d = data();
    let eg = exited_garbage(&d.pods);
    let report = d
        .pods
        .gc(&opts(0, 0, false), |_: &Pod| {
            Err("stage1 gc exploded".into())
        })
        .unwrap();
    let (u, err) = report.failures().next().expect("a failure");
    assert_eq!(*u, eg.uuid());
    assert!(matches!(err, PodError::Sweep { .. }));
    assert!(err.to_string().contains(&eg.uuid().to_string()));
    assert_eq!(where_is(&d.pods, &eg), Some(PodDir::ExitedGarbage));
    assert!(eg.path().join("pod").exists());
}

#[test]
fn deletion_does_not_follow_symlinks() {
    let d = data();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path().join("keep/sentinel"), "precious");
    let eg = exited_garbage(&d.pods);
    let rootfs = eg.path().join("stage1/rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::os::unix::fs::symlink(outside.path().join("keep"), rootfs.join("link-dir")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("keep/sentinel"),
        rootfs.join("link-file"),
    )
    .unwrap();
    write(rootfs.join("deep/er/file"), "x");

    let report = d.pods.gc(&opts(0, 0, false), no_sweep).unwrap();
    assert_eq!(report.removed(), vec![eg.uuid()]);
    assert!(!eg.path().exists());
    assert_eq!(
        std::fs::read_to_string(outside.path().join("keep/sentinel")).unwrap(),
        "precious"
    );
}

/// A bind mount made for a test, unmounted whatever happens.
struct Bind {
    target: PathBuf,
    mounted: bool,
}

impl Bind {
    fn new(source: &Path, target: &Path) -> Option<Bind> {
        std::fs::create_dir_all(target).unwrap();
        let ok = Command::new("mount")
            .arg("--bind")
            .arg(source)
            .arg(target)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Bind {
            target: target.to_path_buf(),
            mounted: true,
        })
    }

    fn unmount(&mut self) {
        if self.mounted {
            let ok = Command::new("umount").arg(&self.target).status().unwrap();
            assert!(ok.success(), "umount {}", self.target.display());
            self.mounted = false;
        }
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.target).status();
        }
    }
}

#[test]
fn gc_never_deletes_through_a_volume_bind_mount() {
    let d = data();
    // The host volume: same file system as the pod (both in the temp dir), so only the mount
    // table tells them apart.
    let volume = tempfile::tempdir().unwrap();
    write(volume.path().join("sentinel"), "host data");
    let eg = exited_garbage(&d.pods);
    let target = eg.path().join("stage1/rootfs/opt/stage2/a1/rootfs/data");
    let Some(mut bind) = Bind::new(volume.path(), &target) else {
        eprintln!("skipped: needs root and mount(8) to bind-mount");
        return;
    };

    let report = d.pods.gc(&opts(0, 0, false), no_sweep).unwrap();
    let (u, err) = report.failures().next().expect("gc must refuse");
    assert_eq!(*u, eg.uuid());
    match err {
        PodError::Mounted { path, .. } => {
            assert!(path.ends_with("opt/stage2/a1/rootfs/data"), "{path:?}");
            assert!(err.to_string().contains("opt/stage2/a1/rootfs/data"));
        }
        other => panic!("expected Mounted, got {other}"),
    }
    assert_eq!(
        std::fs::read_to_string(volume.path().join("sentinel")).unwrap(),
        "host data"
    );
    assert!(eg.path().join("pod").exists(), "pod left for the next gc");
    assert_eq!(where_is(&d.pods, &eg), Some(PodDir::ExitedGarbage));

    // Once the caller's sweep unmounts, the pod goes and the host data stays.
    let report = d
        .pods
        .gc(&opts(0, 0, false), |_: &Pod| {
            bind.unmount();
            Ok(())
        })
        .unwrap();
    assert_eq!(report.removed(), vec![eg.uuid()]);
    assert_eq!(
        std::fs::read_to_string(volume.path().join("sentinel")).unwrap(),
        "host data"
    );
}
