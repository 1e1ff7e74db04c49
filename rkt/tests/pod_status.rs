//! `rkt status`: the key=value lines, JSON, `--uuid-file`, `--wait` and `--wait-ready`.

mod pod_support;
mod support;

use std::time::{Duration, Instant};

use pod_support::{IMAGE_A, IMAGE_B, World, write};

#[test]
fn exited_pod_lines() {
    let w = World::new();
    let pod = w.exited(
        &[
            ("web", IMAGE_A, "example.com/web", None),
            ("db", IMAGE_B, "example.com/db", None),
        ],
        &[0, 5],
    );
    let uuid = pod.uuid().to_string();
    let out = w.env.rkt(&["status", &uuid[..12]]);
    let text = out.ok();
    let keys: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "state", "created", "started", "pid", "exited", "app-db", "app-web"
        ],
        "{text}"
    );
    assert!(text.contains("state=exited\n"), "{text}");
    assert!(text.contains("pid=4242\nexited=true\n"), "{text}");
    assert!(
        text.contains("app-db=5\n") && text.contains("app-web=0\n"),
        "{text}"
    );
    let created = text.lines().find(|l| l.starts_with("created=")).unwrap();
    assert_eq!(created.split(' ').count(), 4, "full time layout: {created}");

    // The same pod through --uuid-file, and as JSON.
    let file = w.env.work().join("uuid");
    std::fs::write(&file, format!("{uuid}\n")).unwrap();
    let via_file = w
        .env
        .rkt(&["status", &format!("--uuid-file={}", file.display())]);
    assert_eq!(via_file.ok(), text);
    let json = w.env.rkt(&["status", "--format=json", &uuid]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v["name"], uuid);
    assert_eq!(v["state"], "exited");
    assert_eq!(v["apps"][1]["exit_code"], 5);
}

#[test]
fn running_and_prepared_pods() {
    let w = World::new();
    let (running, _h) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    let text = w
        .env
        .rkt(&["status", &running.uuid().to_string()])
        .ok()
        .to_string();
    assert!(text.starts_with("state=running\n"), "{text}");
    assert!(
        text.contains("networks=\npid=4243\nexited=false\n"),
        "{text}"
    );
    assert!(!text.contains("app-"), "{text}");

    let prepared = w.prepared(&[("p", IMAGE_A, "example.com/p", None)]);
    let text = w
        .env
        .rkt(&["status", &prepared.uuid().to_string()])
        .ok()
        .to_string();
    let keys: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(keys, ["state", "created"], "{text}");

    let unknown = w.env.rkt(&["status", "ffffffff"]);
    assert!(unknown.failed().contains("no pod matches"), "{unknown:?}");
}

#[test]
fn wait_returns_when_the_lock_holder_exits() {
    let w = World::new();
    let (pod, holder) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    let uuid = pod.uuid().to_string();

    // A bounded wait on a pod that keeps running times out.
    let t = w.env.rkt(&["status", "--wait=300ms", &uuid]);
    assert!(t.failed().contains("did not exit within"), "{t:?}");

    let child = w
        .env
        .command(&["status", "--wait", &uuid])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let released = Instant::now();
    holder.release();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(released.elapsed() < Duration::from_secs(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("state=exited\n"), "{text}");
}

#[test]
fn wait_ready_follows_the_supervisor_status_link() {
    let w = World::new();
    let (pod, holder) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    let uuid = pod.uuid().to_string();
    let t = w.env.rkt(&["status", "--wait-ready=200ms", &uuid]);
    assert!(t.failed().contains("did not become ready"), "{t:?}");

    let child = w
        .env
        .command(&["status", "--wait-ready=10s", &uuid])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let rkt_dir = pod.path().join("stage1/rootfs/rkt");
    std::fs::create_dir_all(&rkt_dir).unwrap();
    std::os::unix::fs::symlink("ready", rkt_dir.join("supervisor-status")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("state=running\n"));

    // A pod that exits before it is ready is an error, not an endless wait.
    let (other, other_holder) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    other_holder.release();
    write(&other.path().join("stage1/rootfs/rkt/status/web"), "1");
    let never = w
        .env
        .rkt(&["status", "--wait-ready", &other.uuid().to_string()]);
    assert!(
        never.failed().contains("will never become ready"),
        "{never:?}"
    );
    drop(holder);
}

#[test]
fn bad_wait_values_are_refused() {
    let w = World::new();
    let pod = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    let out = w
        .env
        .rkt(&["status", "--wait=soon", &pod.uuid().to_string()]);
    assert!(
        out.failed().contains("invalid wait value \"soon\""),
        "{out:?}"
    );
}
