//! The pod commands around `run`: status by UUID file, prepare + run-prepared, enter, stop
//! (SIGTERM) and stop --force, list as JSON.

use std::time::{Duration, Instant};

use functional_tests::{InspectImage, RktCtx, kv};

fn sleeper(ctx: &RktCtx, name: &str, args: &[&str]) -> std::path::PathBuf {
    let mut all = vec!["--sleep=60"];
    all.extend_from_slice(args);
    InspectImage::new(name).args(&all).build(&ctx.work())
}

#[test]
fn uuid_file_save_and_status_by_uuid_file() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/status")
        .args(&["--exit-code=3"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    ctx.run(&[save.as_str(), img.to_str().unwrap()]).code(3);
    let uuid = std::fs::read_to_string(&uuid_file).unwrap();
    assert_eq!(uuid.trim().len(), 36, "a UUID: {uuid:?}");
    let by_file = format!("--uuid-file={}", uuid_file.display());
    let out = ctx.rkt(&["status", by_file.as_str()]);
    out.ok();
    assert_eq!(out.get("state"), "exited");
    assert_eq!(out.get("app-status"), "3");
    let same = ctx.status(uuid.trim());
    assert_eq!(same.get("app-status").map(String::as_str), Some("3"));
}

#[test]
fn prepare_then_run_prepared() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/prepared")
        .args(&["--print-msg=ran-prepared"])
        .build(&ctx.work());
    let uuid = ctx.prepare(&img);
    assert_eq!(
        uuid.len(),
        36,
        "prepare --quiet prints the UUID only: {uuid:?}"
    );
    assert_eq!(
        ctx.status(&uuid).get("state").map(String::as_str),
        Some("prepared")
    );
    let run = ctx.rkt(&["run-prepared", "--net=none", &uuid]);
    assert!(run.ok().contains("ran-prepared"), "{run:#?}");
    assert_eq!(
        ctx.status(&uuid).get("state").map(String::as_str),
        Some("exited")
    );
    // A pod runs once.
    assert_ne!(ctx.rkt(&["run-prepared", "--net=none", &uuid]).code, 0);
}

#[test]
fn enter_runs_a_command_in_the_app() {
    let ctx = RktCtx::new();
    let img = sleeper(&ctx, "rkt-rs.dev/ft/enter", &["--silent-sigterm"]);
    let pod = ctx.spawn(&[img]);
    let out = ctx.rkt(&[
        "enter",
        &pod.uuid,
        "/inspect",
        "--print-msg=entered",
        "--print-hostname",
        "--print-fds",
        "--exit-code=7",
    ]);
    out.code(7);
    assert!(out.stdout.contains("entered"), "{out:#?}");
    assert_eq!(out.get("HOSTNAME"), format!("rkt-{}", pod.uuid));
    assert_eq!(
        out.get("FDS"),
        "0,1,2",
        "the entered command gets no extra fds"
    );
    ctx.rkt(&["stop", &pod.uuid]).ok();
    pod.wait(Duration::from_secs(20)).ok();
}

#[test]
fn stop_sends_sigterm() {
    let ctx = RktCtx::new();
    let img = sleeper(
        &ctx,
        "rkt-rs.dev/ft/stop",
        &["--silent-sigterm", "--exit-code=0"],
    );
    let mut pod = ctx.spawn(&[img]);
    assert!(pod.is_running());
    let status = ctx.status(&pod.uuid);
    assert_eq!(
        status.get("state").map(String::as_str),
        Some("running"),
        "{status:?}"
    );
    let pid: i32 = status.get("pid").and_then(|p| p.parse().ok()).unwrap_or(0);
    assert!(pid > 0, "status shows the pod's pid: {status:?}");
    let stop = ctx.rkt(&["stop", &pod.uuid]);
    assert!(
        stop.ok().contains(&pod.uuid),
        "stop prints the UUID: {stop:#?}"
    );
    let uuid = pod.uuid.clone();
    let out = pod.wait(Duration::from_secs(20));
    out.code(0);
    let status = ctx.status(&uuid);
    assert_eq!(status.get("state").map(String::as_str), Some("exited"));
    assert_eq!(status.get("app-stop").map(String::as_str), Some("0"));
}

#[test]
fn stop_force_kills_what_ignores_sigterm() {
    let ctx = RktCtx::new();
    let img = sleeper(&ctx, "rkt-rs.dev/ft/stubborn", &["--ignore-sigterm"]);
    let mut pod = ctx.spawn(&[img]);
    // "Ready" means spawned: wait until the app has really started ignoring SIGTERM.
    wait_for_app_ignoring_sigterm(&ctx, &pod.uuid);
    ctx.rkt(&["stop", &pod.uuid]).ok();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        pod.is_running(),
        "an app ignoring SIGTERM survives a plain stop"
    );
    let started = Instant::now();
    ctx.rkt(&["stop", "--force", &pod.uuid]).ok();
    let out = pod.wait(Duration::from_secs(20));
    assert_ne!(out.code, 0, "a killed pod does not succeed: {out:#?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Polls the pod's processes (those in its pid namespace, other than its PID 1) until one has
/// SIGTERM in its ignored set.
fn wait_for_app_ignoring_sigterm(ctx: &RktCtx, uuid: &str) {
    let pod_dir = ctx.pod_dir(uuid).expect("the pod dir");
    let pid1 = std::fs::read_to_string(pod_dir.join("pid")).unwrap();
    let pid1 = pid1.trim();
    let ns = std::fs::read_link(format!("/proc/{pid1}/ns/pid")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == pid1 || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if std::fs::read_link(entry.path().join("ns/pid"))
                .ok()
                .as_ref()
                != Some(&ns)
            {
                continue;
            }
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let ignored = status
                .lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap_or(0);
            if ignored & (1 << (SIGTERM - 1)) != 0 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no process of pod {uuid} ignores SIGTERM");
}

const SIGTERM: u32 = 15;

#[test]
fn list_json() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/listed").build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    ctx.run(&[save.as_str(), img.to_str().unwrap()]).ok();
    let uuid = std::fs::read_to_string(&uuid_file).unwrap();
    let pods = ctx.pods_json();
    let pod = pods
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == uuid.trim()))
        .unwrap_or_else(|| panic!("the pod is listed: {pods:#}"));
    assert_eq!(pod["state"], "exited");
    assert_eq!(pod["app_names"], serde_json::json!(["listed"]));
    let plain = ctx.rkt(&["list", "--no-legend"]);
    assert!(plain.ok().contains("listed"), "{plain:#?}");
    assert_eq!(kv(&plain.stdout, "state"), None);
}
