//! Pods under a real systemd (issue 12, container tier): boots a systemd container
//! (`systemd-nspawn -b` on the rootfs of `make systemd-rootfs`, in `RKT_SYSTEMD_ROOTFS`) with
//! our `rkt`, the test images and `dist/systemd/` bound in. Its own unit runs
//! `functional-tests/systemd/inside.sh`, which drives `systemd-run rkt run`, `systemctl`,
//! `machinectl` and `journalctl` there and writes `KEY=value` results; this test checks them
//! against `functional-tests/systemd/expected`. The same script and expectations run on the
//! host image's own systemd (the VM tier: `image/tests/boot1-system.sh`).
//!
//! The container runs in a throwaway cgroup (nspawn's `--keep-unit` leaves `payload/` and
//! `supervisor/` there) that is emptied and removed afterwards, under a hard timeout.

use std::collections::BTreeMap;
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
fn run_container(rootfs: &Path, work: &Path) -> BTreeMap<String, String> {
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
    let results = run_container(&rootfs, work);
    let expected =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/expected"))
            .unwrap();
    let failed = mismatches(&expected, &results, "container");
    assert!(failed.is_empty(), "unexpected results: {failed:#?}");
}

/// The keys of `expected` (the format is described in that file) that `results` does not
/// satisfy in `tier`, as `KEY=got (want ...)`.
fn mismatches(expected: &str, results: &BTreeMap<String, String>, tier: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in expected.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let want = match rest.strip_suffix("vm") {
            Some(w) if w.ends_with(char::is_whitespace) => {
                if tier != "vm" {
                    continue;
                }
                w.trim_end()
            }
            _ => rest,
        };
        let got = results.get(key).map(String::as_str);
        if !got.is_some_and(|g| satisfies(g, want)) {
            out.push(format!(
                "{key}={} (want {want})",
                got.unwrap_or("<missing>")
            ));
        }
    }
    out
}

fn satisfies(got: &str, want: &str) -> bool {
    if let Some(n) = want.strip_prefix(">=") {
        return matches!((got.parse::<u64>(), n.parse::<u64>()), (Ok(g), Ok(n)) if g >= n);
    }
    if let Some(not) = want.strip_prefix('!') {
        return !got.is_empty() && got != not;
    }
    if let Some(prefix) = want.strip_suffix('*') {
        return got.starts_with(prefix);
    }
    !got.is_empty() && want.split('|').any(|w| w == got)
}

#[test]
fn expectations_match_like_the_vm_checker() {
    let exp = "# c\nA 7\nB running|degraded\nC >=2\nD !none\nE rkt-*\nF probe ready\nG 137  vm\n";
    let res: BTreeMap<String, String> = [
        ("A", "7"),
        ("B", "degraded"),
        ("C", "3"),
        ("D", "12"),
        ("E", "rkt-1"),
        ("F", "probe ready"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert!(mismatches(exp, &res, "container").is_empty());
    assert_eq!(mismatches(exp, &res, "vm"), ["G=<missing> (want 137)"]);
    let mut bad = res.clone();
    bad.insert("C".into(), "1".into());
    bad.insert("D".into(), "none".into());
    bad.insert("B".into(), "".into());
    assert_eq!(mismatches(exp, &bad, "container").len(), 3);
}
