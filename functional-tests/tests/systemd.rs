//! Pods under a real systemd (issue 12, container tier): boots a systemd container
//! (`systemd-nspawn -b` on the rootfs of `make systemd-rootfs`, in `RKT_SYSTEMD_ROOTFS`) with
//! our `rkt`, the test images and `dist/systemd/` bound in. Its own unit runs
//! `functional-tests/systemd/inside.sh`, which drives `systemd-run rkt run`, `systemctl`,
//! `machinectl` and `journalctl` there and writes `KEY=value` results; this test asserts them.
//! The same script can run on the host image's own systemd (the VM tier).
//!
//! The container runs in a throwaway cgroup (nspawn's `--keep-unit` leaves `payload/` and
//! `supervisor/` there) that is emptied and removed afterwards, under a hard timeout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use functional_tests::ctx::{output, parse_kv, rkt_bin};
use functional_tests::{InspectImage, env_path, require_root};

/// The whole container run: boot, four pods, power-off.
const CONTAINER_TIMEOUT: u64 = 240;

/// A cgroup in the `name=systemd` (v1) or unified hierarchy, emptied and removed on drop.
struct ThrowawayCgroup(PathBuf);

impl ThrowawayCgroup {
    fn new() -> ThrowawayCgroup {
        let base = [
            "/sys/fs/cgroup/systemd",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup",
        ]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("cgroup.procs").exists())
        .expect("no name=systemd or unified cgroup hierarchy");
        let dir = base.join(format!("rkt-ft-systemd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the throwaway cgroup");
        ThrowawayCgroup(dir)
    }
}

impl Drop for ThrowawayCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            let dirs = subdirs_deepest_first(&self.0);
            let mut alive = false;
            for d in &dirs {
                let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    alive = true;
                    // SAFETY: kill takes plain integers.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            if !alive && dirs.iter().all(|d| std::fs::remove_dir(d).is_ok()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("could not remove the cgroup {}", self.0.display());
    }
}

fn subdirs_deepest_first(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(subdirs_deepest_first(&e.path()));
            }
        }
    }
    out.push(dir.to_path_buf());
    out
}

fn images(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    InspectImage::new("example.com/exit")
        .args(&[
            "--print-msg=hello-journal",
            "--print-cgroup",
            "--exit-code=7",
        ])
        .build(dir);
    InspectImage::new("example.com/plain")
        .args(&["--log-sigterm", "--sleep=120"])
        .build(dir);
    InspectImage::new("example.com/notify")
        .args(&[
            "--print-env=NOTIFY_SOCKET",
            "--notify-ready-after=2500",
            "--log-sigterm",
            "--sleep=120",
        ])
        .annotation("appc.io/executor/supports-systemd-notify", "true")
        .build(dir);
}

/// Boots the container, runs `inside.sh`, returns its results.
fn run_container(rootfs: &Path, work: &Path) -> std::collections::BTreeMap<String, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scripts = repo.join("functional-tests/systemd");
    let units = repo.join("dist/systemd");
    let unit = scripts.join("rkt-test.service");
    let rkt = rkt_bin();
    let binds = [
        format!("--bind-ro={}:/usr/bin/rkt", rkt.display()),
        format!("--bind-ro={}:/rkt-scripts", scripts.display()),
        format!("--bind-ro={}:/rkt-units", units.display()),
        format!("--bind={}:/rkt-test", work.display()),
        format!(
            "--bind-ro={}:/etc/systemd/system/rkt-test.service",
            unit.display()
        ),
    ];
    let cgroup = ThrowawayCgroup::new();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#)
        .arg("sh")
        .arg(&cgroup.0)
        .args(["timeout", "-k", "10", &CONTAINER_TIMEOUT.to_string()])
        .arg("systemd-nspawn")
        .arg(format!("--directory={}", rootfs.display()))
        .args([
            "--volatile=overlay",
            "--register=no",
            "--keep-unit",
            "--quiet",
            "--console=read-only",
            "--machine=rkt-ft-systemd",
        ])
        .args(&binds)
        // systemd-debug-generator reads `systemd.wants=` from PID 1's arguments in a container.
        .args([
            "--boot",
            "systemd.firstboot=off",
            "systemd.wants=rkt-test.service",
        ]);
    let out = output(cmd, Duration::from_secs(CONTAINER_TIMEOUT + 20));
    drop(cgroup);
    let log = std::fs::read_to_string(work.join("inside.log")).unwrap_or_default();
    let results = std::fs::read_to_string(work.join("results")).unwrap_or_default();
    eprintln!(
        "nspawn exit {}\n--- inside.log\n{log}\n--- results\n{results}",
        out.code
    );
    for f in ["verify.log", "journal.log"] {
        let text = std::fs::read_to_string(work.join(f)).unwrap_or_default();
        eprintln!("--- {f}\n{text}");
    }
    let kv = parse_kv(&results);
    assert_eq!(
        kv.get("DONE").map(String::as_str),
        Some("1"),
        "the checks inside the container did not finish: {out:#?}"
    );
    kv
}

#[test]
fn pods_under_a_real_systemd() {
    require_root();
    let rootfs = env_path("RKT_SYSTEMD_ROOTFS");
    env_path("RKT_STAGE1_ACI");
    let tmp = tempfile::Builder::new()
        .prefix("rkt-ft-systemd-")
        .tempdir()
        .unwrap();
    let work = tmp.path();
    images(&work.join("images"));
    std::fs::create_dir_all(work.join("data")).unwrap();
    let r = run_container(&rootfs, work);
    let get = |k: &str| r.get(k).map(String::as_str).unwrap_or("<missing>");
    let num = |k: &str| get(k).parse::<u64>().unwrap_or(0);

    assert!(
        matches!(get("BOOT"), "running" | "degraded"),
        "{}",
        get("BOOT")
    );
    // `systemd-run --wait` returns the unit's exit status, which is the app's.
    assert_eq!(get("EXIT_RC"), "7");
    assert_eq!(get("EXIT_MAIN_STATUS"), "7");
    assert!(num("EXIT_JOURNAL_U") >= 1, "journalctl -u UNIT shows it");
    assert!(num("EXIT_JOURNAL_T") >= 1, "journalctl -t APP finds it");
    assert!(
        num("EXIT_APP_CGROUP") >= 1,
        "the app is in the unit's cgroup"
    );

    // journald paused until the app is gone: the line still names the unit (stage1 puts it in
    // the stream's header, journald's fallback for a writer it can no longer look up).
    assert_eq!(get("LATE_APP_EXITED"), "1");
    assert_eq!(get("LATE_AFTER"), "failed", "exit code 7 fails the unit");
    assert!(
        num("LATE_JOURNAL_U") >= 1,
        "journalctl -u finds the output of an app gone before journald read it"
    );

    // Without a notify app, stage1 says READY=1 itself once the app runs.
    assert_eq!(get("PLAIN_RUN_RC"), "0");
    assert_eq!(get("PLAIN_STATE"), "active");
    assert_ne!(get("PLAIN_APP_PID"), "none");
    assert!(
        num("PLAIN_APP_CGROUP") >= 1,
        "/proc/<app pid>/cgroup names the unit"
    );
    assert!(
        get("MACHINE").starts_with("rkt-"),
        "machinectl list shows the pod"
    );
    assert_eq!(get("TERMINATE_RC"), "0");
    assert!(matches!(get("PLAIN_AFTER"), "inactive" | "failed"));
    assert_eq!(
        get("PLAIN_SIGTERM"),
        "1",
        "machinectl terminate sends SIGTERM"
    );
    assert_eq!(get("MACHINES_LEFT"), "0");

    // A notify app: activating until its READY=1 (2.5 s after it starts), then active.
    assert_eq!(get("NOTIFY_EARLY"), "activating");
    assert_eq!(get("NOTIFY_LATE"), "active");
    assert!(
        num("NOTIFY_ACTIVE_MS") >= 2500,
        "{}",
        get("NOTIFY_ACTIVE_MS")
    );
    assert_eq!(get("NOTIFY_STATUS"), "probe ready");
    assert_eq!(get("NOTIFY_APP_SOCKET"), "/run/rkt-notify/notify");
    assert_eq!(get("NOTIFY_SENT"), "1");
    assert_eq!(get("STOP_RC"), "0");
    assert!(matches!(get("NOTIFY_AFTER"), "inactive" | "failed"));
    assert_eq!(get("NOTIFY_SIGTERM"), "1", "systemctl stop sends SIGTERM");

    // The shipped units.
    assert_eq!(get("VERIFY_RC"), "0");
    assert_eq!(get("GC_TIMER"), "active");
    assert_eq!(get("GC_LISTED"), "1");
    assert_eq!(get("METADATA_SOCKET"), "active");
    assert_eq!(get("PODS_LEFT"), "0");
}
