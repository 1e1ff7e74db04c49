//! `rkt stop`, `gc`, `rm`, `cat-manifest` and `enter` against fabricated pods with a stub
//! stage1 whose entrypoints log their argv and cwd; and the root-only verbs refused to others.

mod pod_support;
mod support;

use std::os::unix::process::CommandExt;

use pod_support::{IMAGE_A, IMAGE_B, World, failing_entrypoint};
use stage0::pod::{Pod, PodDir};

fn folder_of(w: &World, pod: &Pod) -> Option<PodDir> {
    Pod::open_uuid(&w.pods, pod.uuid()).ok().map(|p| p.dir())
}

#[test]
fn stop_runs_the_stop_entrypoint_and_quotes_uuids() {
    let w = World::new();
    let (a, _ha) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    let (b, _hb) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    let out = w.env.rkt(&["stop", &a.uuid().to_string()]);
    assert_eq!(out.ok(), format!("\"{}\"\n", a.uuid()));
    let file = w.env.work().join("uuid");
    std::fs::write(&file, b.uuid().to_string()).unwrap();
    let out = w.env.rkt(&[
        "stop",
        "--force",
        &format!("--uuid-file={}", file.display()),
    ]);
    assert_eq!(out.ok(), format!("\"{}\"\n", b.uuid()));
    assert_eq!(
        w.calls(),
        [
            format!("stop|{}|{}", a.path().display(), a.uuid()),
            format!("stop|{}|--force {}", b.path().display(), b.uuid()),
        ]
    );
}

#[test]
fn stop_reports_stopped_and_not_running_pods() {
    let w = World::new();
    let exited = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    let prepared = w.prepared(&[("web", IMAGE_A, "example.com/web", None)]);
    let (running, _h) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    failing_entrypoint(&running.path(), "stop");
    let out = w.env.rkt(&[
        "stop",
        &exited.uuid().to_string(),
        &prepared.uuid().to_string(),
        &running.uuid().to_string(),
    ]);
    assert!(
        out.stdout
            .contains(&format!("pod \"{}\" is already stopped", exited.uuid())),
        "{out:?}"
    );
    let err = out.failed();
    assert!(
        err.contains(&format!(
            "pod {} is not running (prepared)",
            prepared.uuid()
        )),
        "{err}"
    );
    assert!(err.contains("stop entrypoint failed"), "{err}");
    assert!(err.contains("failed to stop 2 pod(s)"), "{err}");
}

#[test]
fn gc_marks_then_sweeps_calling_stage1_gc() {
    let w = World::new();
    let exited = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    let (running, _h) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);

    let mark = w.env.rkt(&["gc", "--mark-only"]);
    mark.ok();
    assert!(
        mark.stderr
            .contains(&format!("moving pod \"{}\" to garbage", exited.uuid())),
        "{mark:?}"
    );
    assert_eq!(folder_of(&w, &exited), Some(PodDir::ExitedGarbage));
    assert!(w.calls().is_empty(), "mark-only must not call stage1");

    // Within the (default) grace period: kept.
    let keep = w.env.rkt(&["gc"]);
    keep.ok();
    assert!(
        keep.stderr
            .contains("not removed: still within grace period (30m0s)"),
        "{keep:?}"
    );
    assert_eq!(folder_of(&w, &exited), Some(PodDir::ExitedGarbage));

    let sweep = w.env.rkt(&["gc", "--grace-period=0s"]);
    assert_eq!(
        sweep.ok(),
        format!("Garbage collecting pod \"{}\"\n", exited.uuid())
    );
    assert_eq!(folder_of(&w, &exited), None);
    let garbage_path = w
        .pods
        .state_dir(PodDir::ExitedGarbage)
        .join(exited.uuid().to_string());
    assert_eq!(
        w.calls(),
        [format!(
            "gc|{}|--local-config={} {}",
            garbage_path.display(),
            w.env.local_config().display(),
            exited.uuid()
        )]
    );
    assert_eq!(folder_of(&w, &running), Some(PodDir::Run));
}

#[test]
fn gc_keeps_a_pod_whose_stage1_gc_fails() {
    let w = World::new();
    let pod = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    failing_entrypoint(&pod.path(), "gc");
    let out = w.env.rkt(&["gc", "--grace-period=0s"]);
    let err = out.failed();
    assert!(
        err.contains(&pod.uuid().to_string()) && err.contains("gc entrypoint failed"),
        "{err}"
    );
    assert_eq!(folder_of(&w, &pod), Some(PodDir::ExitedGarbage));
}

#[test]
fn gc_deletes_never_run_garbage_without_stage1() {
    let w = World::new();
    let prepared = w.prepared(&[("web", IMAGE_A, "example.com/web", None)]);
    let out = w
        .env
        .rkt(&["gc", "--expire-prepared=0s", "--grace-period=0s"]);
    assert!(
        out.stderr.contains("moving expired prepared pod"),
        "{out:?}"
    );
    assert!(out.ok().contains(&prepared.uuid().to_string()));
    assert_eq!(folder_of(&w, &prepared), None);
    assert!(w.calls().is_empty());
}

#[test]
fn rm_refuses_running_pods_and_removes_exited_ones() {
    let w = World::new();
    let exited = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    let prepared = w.prepared(&[("web", IMAGE_A, "example.com/web", None)]);
    let (running, _h) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);

    let out = w.env.rkt(&["rm", &running.uuid().to_string()]);
    let err = out.failed();
    assert!(
        err.contains(&format!("pod {} is currently running", running.uuid())),
        "{err}"
    );
    assert!(err.contains("failed to remove one or more pods"), "{err}");
    assert_eq!(folder_of(&w, &running), Some(PodDir::Run));

    let out = w.env.rkt(&[
        "rm",
        &exited.uuid().to_string(),
        &prepared.uuid().to_string(),
    ]);
    assert_eq!(
        out.ok(),
        format!("\"{}\"\n\"{}\"\n", exited.uuid(), prepared.uuid())
    );
    assert!(
        out.stderr.contains("moving expired prepared pod"),
        "{out:?}"
    );
    assert_eq!(folder_of(&w, &exited), None);
    assert_eq!(folder_of(&w, &prepared), None);
    // Only the pod that ran gets the stage1 gc.
    let calls = w.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("gc|") && calls[0].ends_with(&exited.uuid().to_string()));
}

#[test]
fn cat_manifest_prints_the_pod_manifest() {
    let w = World::new();
    let pod = w.exited(
        &[
            ("web", IMAGE_A, "example.com/web", None),
            ("db", IMAGE_B, "example.com/db", None),
        ],
        &[0, 0],
    );
    let pretty = w.env.rkt(&["cat-manifest", &pod.uuid().to_string()]);
    let text = pretty.ok();
    assert!(text.lines().count() > 5, "{text}");
    let m = aci::manifest::PodManifest::from_slice(text.as_bytes()).unwrap();
    assert_eq!(m, pod.manifest().unwrap());
    let compact = w.env.rkt(&[
        "cat-manifest",
        "--pretty-print=false",
        &pod.uuid().to_string(),
    ]);
    assert_eq!(compact.ok().lines().count(), 1);
}

#[test]
fn enter_execs_the_enter_entrypoint() {
    let w = World::new();
    let (single, _h1) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    let (multi, _h2) = w.running(&[
        ("web", IMAGE_A, "example.com/web", None),
        ("db", IMAGE_B, "example.com/db", None),
    ]);
    // The stub exits 7: rkt's exit code is the command's.
    let out = w
        .env
        .rkt(&["enter", &single.uuid().to_string(), "ls", "-l", "/"]);
    assert_eq!(out.code, 7, "{out:?}");
    let out = w.env.rkt(&["enter", &single.uuid().to_string()]);
    assert_eq!(out.code, 7, "{out:?}");
    assert!(out.stderr.contains("assuming \"/bin/bash\""), "{out:?}");

    let out = w.env.rkt(&["enter", &multi.uuid().to_string(), "true"]);
    let err = out.failed();
    assert!(
        err.contains("several apps (web, db)") && err.contains("--app="),
        "{err}"
    );
    let out = w.env.rkt(&[
        "enter",
        "--app=db",
        &multi.uuid().to_string(),
        "sh",
        "-c",
        "exit 0",
    ]);
    assert_eq!(out.code, 7);

    let exited = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    let out = w.env.rkt(&["enter", &exited.uuid().to_string()]);
    assert!(out.failed().contains("is not running"), "{out:?}");

    assert_eq!(
        w.calls(),
        [
            format!(
                "enter|{}|--pid=4243 --appname=web -- ls -l /",
                single.path().display()
            ),
            format!(
                "enter|{}|--pid=4243 --appname=web -- /bin/bash",
                single.path().display()
            ),
            format!(
                "enter|{}|--pid=4243 --appname=db -- sh -c exit 0",
                multi.path().display()
            ),
        ]
    );
}

#[test]
fn root_only_verbs_refuse_other_users() {
    let w = World::new();
    let pod = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    // A copy of rkt that user nobody can execute (the target dir may not be reachable).
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = bin_dir.path().join("rkt");
    std::fs::copy(env!("CARGO_BIN_EXE_rkt"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for args in [
        vec!["gc"],
        vec!["rm", &pod.uuid().to_string()],
        vec!["enter", &pod.uuid().to_string()],
    ] {
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg(format!("--dir={}", w.env.data_dir().display()))
            .arg(format!("--local-config={}", w.env.local_config().display()))
            .arg(format!(
                "--system-config={}",
                w.env.system_config().display()
            ))
            .args(&args)
            .uid(65534)
            .gid(65534);
        // The copy's write fd can live on briefly in a child another test thread forked
        // before it was closed (ETXTBSY until that child execs): retry.
        let out = (0..100)
            .find_map(|_| match cmd.output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    None
                }
                other => Some(other.unwrap()),
            })
            .expect("the copied rkt stays busy");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{args:?}: {err}");
        assert!(
            err.contains("cannot run as unprivileged user"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(folder_of(&w, &pod), Some(PodDir::Run));
}
