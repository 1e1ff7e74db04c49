//! Pod folders, transitions and the refined states, with locks held by this process and by
//! others. No test here forks: a child holds every fd of the process (CLOEXEC or not) until
//! it execs, which would keep another test's pod locked (see `pod_lock_exec.rs`).

mod pod_support;

use std::os::unix::fs::PermissionsExt;

use pod_support::*;
use stage0::pod::{Pod, PodDir, PodError, PodState};

#[test]
fn data_dir_has_the_six_folders_0750() {
    let d = data();
    for name in [
        "embryo",
        "prepare",
        "prepared",
        "run",
        "exited-garbage",
        "garbage",
    ] {
        let md = std::fs::metadata(d.tmp.path().join("pods").join(name)).unwrap();
        assert!(md.is_dir(), "{name}");
        assert_eq!(md.permissions().mode() & 0o7777, 0o750, "{name}");
    }
}

#[test]
fn embryo_is_a_locked_0750_uuid_dir() {
    let d = data();
    let pod = Pod::create_embryo(&d.pods).unwrap();
    let path = d
        .tmp
        .path()
        .join("pods/embryo")
        .join(pod.uuid().to_string());
    assert_eq!(pod.path(), path);
    let md = std::fs::metadata(&path).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o750);
    assert_eq!(pod.state(), PodState::Embryo);
    assert!(pod.holds_exclusive());
    // Another open file description cannot take the lock.
    let mut other = Pod::open_uuid(&d.pods, pod.uuid()).unwrap();
    assert!(matches!(
        other.try_lock_exclusive(),
        Err(PodError::Busy { .. })
    ));
}

#[test]
fn run_path_states_seen_from_another_handle() {
    let d = data();
    let mut pod = Pod::create_embryo(&d.pods).unwrap();
    pod.to_prepare().unwrap();
    assert_eq!(pod.state(), PodState::Preparing);
    assert!(pod.path().starts_with(d.tmp.path().join("pods/prepare")));
    assert_eq!(state_of(&d.pods, &pod), "preparing");
    assert!(
        !d.tmp
            .path()
            .join("pods/embryo")
            .join(pod.uuid().to_string())
            .exists()
    );

    // `rkt run` goes from preparing straight to run, keeping its lock.
    pod.to_run().unwrap();
    assert_eq!(pod.dir(), PodDir::Run);
    assert_eq!(state_of(&d.pods, &pod), "running");

    // Closing the handle drops the lock: the pod has exited.
    let uuid = pod.uuid();
    drop(pod);
    assert_eq!(
        Pod::open_uuid(&d.pods, uuid).unwrap().state(),
        PodState::Exited
    );
}

#[test]
fn a_crashed_prepare_is_aborted() {
    let d = data();
    let mut pod = Pod::create_embryo(&d.pods).unwrap();
    pod.to_prepare().unwrap();
    let uuid = pod.uuid();
    drop(pod);
    let mut again = Pod::open_uuid(&d.pods, uuid).unwrap();
    assert_eq!(again.state(), PodState::AbortedPrepare);
    assert_eq!(again.state().to_string(), "aborted prepare");
    again.to_garbage().unwrap();
    assert_eq!(again.state(), PodState::Garbage);
    assert_eq!(
        again.path(),
        d.tmp.path().join("pods/garbage").join(uuid.to_string())
    );
}

#[test]
fn prepared_then_run_prepared_then_exit_then_garbage() {
    let d = data();
    let pod = prepared(&d.pods, IMAGE_B);
    assert_eq!(pod.state(), PodState::Prepared);
    assert!(!pod.holds_exclusive(), "prepare leaves the pod unlocked");
    let uuid = pod.uuid();
    drop(pod);

    // run-prepared: a different handle locks and renames.
    let mut run = Pod::open_uuid(&d.pods, uuid).unwrap();
    run.to_run().unwrap();
    assert_eq!(run.state(), PodState::Running);
    let mut watcher = Pod::open_uuid(&d.pods, uuid).unwrap();
    assert_eq!(watcher.state(), PodState::Running);
    // A running pod cannot be marked.
    assert!(matches!(
        watcher.to_exited_garbage(),
        Err(PodError::WrongState {
            state: PodState::Running,
            ..
        })
    ));

    drop(run);
    watcher.refresh().unwrap();
    assert_eq!(watcher.state(), PodState::Exited);
    watcher.to_exited_garbage().unwrap();
    assert_eq!(watcher.state(), PodState::ExitedGarbage);
    assert_eq!(watcher.state().to_string(), "exited garbage");
}

#[test]
fn lock_held_by_another_process_refines_every_folder() {
    let d = data();
    // run: locked = running, unlocked = exited
    let pod = exited(&d.pods);
    assert_eq!(state_of(&d.pods, &pod), "exited");
    {
        let _h = Holder::exclusive(&pod.path());
        assert_eq!(state_of(&d.pods, &pod), "running");
    }
    assert_eq!(state_of(&d.pods, &pod), "exited");

    // exited-garbage: locked = exited deleting
    let eg = exited_garbage(&d.pods);
    {
        let _h = Holder::exclusive(&eg.path());
        assert_eq!(state_of(&d.pods, &eg), "exited deleting");
    }
    assert_eq!(state_of(&d.pods, &eg), "exited garbage");

    // garbage: locked = deleting
    let mut g = prepared(&d.pods, IMAGE_B);
    g.to_garbage().unwrap();
    {
        let _h = Holder::exclusive(&g.path());
        assert_eq!(state_of(&d.pods, &g), "deleting");
    }
    assert_eq!(state_of(&d.pods, &g), "garbage");

    // prepare: locked = preparing
    let mut p = Pod::create_embryo(&d.pods).unwrap();
    p.to_prepare().unwrap();
    let uuid = p.uuid();
    let path = p.path();
    drop(p);
    let h = Holder::exclusive(&path);
    assert_eq!(
        Pod::open_uuid(&d.pods, uuid).unwrap().state(),
        PodState::Preparing
    );
    drop(h);
    assert_eq!(
        Pod::open_uuid(&d.pods, uuid).unwrap().state(),
        PodState::AbortedPrepare
    );
}

#[test]
fn run_prepared_fails_while_someone_holds_the_pod() {
    let d = data();
    let pod = prepared(&d.pods, IMAGE_B);
    let _h = Holder::exclusive(&pod.path());
    let mut other = Pod::open_uuid(&d.pods, pod.uuid()).unwrap();
    assert!(matches!(other.to_run(), Err(PodError::Busy { .. })));
    assert_eq!(other.dir(), PodDir::Prepared, "not moved");
}

#[test]
fn transitions_refuse_wrong_states() {
    let d = data();
    let mut pod = prepared(&d.pods, IMAGE_B);
    assert!(matches!(pod.to_prepare(), Err(PodError::WrongState { .. })));
    assert!(matches!(
        pod.to_prepared(),
        Err(PodError::WrongState { .. })
    ));
    assert!(matches!(pod.delete(), Err(PodError::WrongState { .. })));
    // An embryo opened by someone other than its creator does not hold the lock.
    let e = Pod::create_embryo(&d.pods).unwrap();
    let mut other = Pod::open_uuid(&d.pods, e.uuid()).unwrap();
    assert!(matches!(
        other.to_prepare(),
        Err(PodError::WrongState { .. })
    ));
}

#[test]
fn uuid_prefixes_resolve_when_unambiguous() {
    let d = data();
    let mut uuids = Vec::new();
    // 17 pods: two must share their first hex digit.
    for _ in 0..17 {
        uuids.push(exited(&d.pods).uuid());
    }
    let full = uuids[0].to_string();
    assert_eq!(d.pods.resolve(&full).unwrap(), uuids[0]);
    assert_eq!(d.pods.resolve(&full.to_uppercase()).unwrap(), uuids[0]);
    assert_eq!(Pod::open(&d.pods, &full[..13]).unwrap().uuid(), uuids[0]);

    let mut by_first: std::collections::BTreeMap<char, Vec<String>> = Default::default();
    for u in &uuids {
        let s = u.to_string();
        by_first
            .entry(s.chars().next().unwrap())
            .or_default()
            .push(s);
    }
    let (c, shared) = by_first.iter().find(|(_, v)| v.len() > 1).unwrap();
    match Pod::open(&d.pods, &c.to_string()) {
        Err(PodError::Ambiguous { input, candidates }) => {
            assert_eq!(input, c.to_string());
            let mut want = shared.clone();
            want.sort();
            assert_eq!(candidates, want);
            let msg = PodError::Ambiguous { input, candidates }.to_string();
            assert!(msg.contains(&want[0]) && msg.contains(&want[1]), "{msg}");
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    match Pod::open(&d.pods, "zz-not-a-pod") {
        Err(e @ PodError::NotFound { .. }) => assert!(e.to_string().contains("zz-not-a-pod")),
        other => panic!("expected not found, got {other:?}"),
    }
    assert!(matches!(
        Pod::open(&d.pods, ""),
        Err(PodError::NotFound { .. })
    ));
}

#[test]
fn pods_in_any_folder_resolve() {
    let d = data();
    let embryo = Pod::create_embryo(&d.pods).unwrap();
    let eg = exited_garbage(&d.pods);
    let mut g = prepared(&d.pods, IMAGE_B);
    g.to_garbage().unwrap();
    for (u, want) in [
        (embryo.uuid(), PodState::Embryo),
        (eg.uuid(), PodState::ExitedGarbage),
        (g.uuid(), PodState::Garbage),
    ] {
        assert_eq!(Pod::open(&d.pods, &u.to_string()).unwrap().state(), want);
    }
    // Stray entries are not pods.
    std::fs::create_dir(d.tmp.path().join("pods/run/not-a-uuid")).unwrap();
    std::fs::write(d.tmp.path().join("pods/run/README"), "x").unwrap();
    assert_eq!(d.pods.uuids(&PodDir::ALL).unwrap().len(), 3);
}
