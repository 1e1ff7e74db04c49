//! Where the pod's processes land on a pure cgroup2 host, and stage1 under a delegated unit
//! (issues 8 and 12). Each rkt runs in a private mount namespace whose `/sys/fs/cgroup` is the
//! v2 hierarchy alone (as `bench/lib.sh` does on a hybrid host; on a pure cgroup2 host it is the
//! same tree): stage1 then sees no v1 hierarchy at all.
//!
//! - PID 1 and the app are born into `<pod>/stage1.scope` and `<pod>/<app>`
//!   (`clone3(CLONE_INTO_CGROUP)`: `--debug` shows no fallback to a migration).
//! - From a "unit" (a cgroup the test makes, holding only rkt's process, with a controller
//!   offered but not enabled for its children, as systemd leaves a `Delegate=yes` unit), stage1
//!   moves itself into `<unit>/supervisor`, the pod's scope is made below the unit and gets the
//!   controller, and `gc` leaves the unit as it found it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use functional_tests::ctx::output;
use functional_tests::{InspectImage, Out, RktCtx};

/// Makes the cgroup2-only view, optionally moves the shell into `$UNIT`, then execs rkt.
const VIEW: &str = r#"mount --make-rprivate / && umount -R /sys/fs/cgroup &&
mount -t cgroup2 none /sys/fs/cgroup || exit 99
if [ -n "$UNIT" ]; then echo $$ > "/sys/fs/cgroup/$UNIT/cgroup.procs" || exit 98; fi
exec "$@""#;

/// `rkt ARGS` (the ctx's dirs) in the cgroup2 view, from the v2 cgroup `unit` if given.
fn in_view(ctx: &RktCtx, unit: Option<&str>, args: &[&str]) -> Command {
    let rkt = ctx.command(args);
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", VIEW, "sh"])
        .arg(rkt.get_program())
        .args(rkt.get_args())
        .env("UNIT", unit.unwrap_or(""))
        .stdin(Stdio::null());
    cmd
}

/// The host directory of the v2 hierarchy's root.
fn v2_root() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .find_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            (f[sep + 1] == "cgroup2" && f[3] == "/").then(|| PathBuf::from(f[4]))
        })
        .expect("no cgroup2 hierarchy mounted")
}

/// Our own v2 cgroup path (`0::` of /proc/self/cgroup).
fn own_v2() -> String {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap()
}

fn scope(uuid: &str) -> String {
    format!("machine-rkt\\x2d{}.scope", uuid.replace('-', "\\x2d"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn run(ctx: &RktCtx, unit: Option<&str>, args: &[&str]) -> Out {
    output(in_view(ctx, unit, args), Duration::from_secs(120))
}

/// A cgroup directly below the v2 root, removed (with anything left below it) on drop.
struct Unit {
    name: String,
    dir: PathBuf,
}

impl Unit {
    fn new() -> Unit {
        let name = format!("rkt-ft-unit-{}", std::process::id());
        let dir = v2_root().join(&name);
        std::fs::create_dir(&dir).expect("creating the test's unit cgroup");
        Unit { name, dir }
    }

    /// Every directory below the unit, deepest first.
    fn below(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                    out.push(e.path());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir, &mut out);
        out
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        for d in self.below().into_iter().chain([self.dir.clone()]) {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill takes plain integers.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::remove_dir(&d).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn pid1_and_app_are_born_in_their_v2_cgroups() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/cg-place")
        .args(&["--print-cgroup", "--read-file=/proc/1/cgroup"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    let out = run(
        &ctx,
        None,
        &[
            "--debug",
            "--insecure-options=image",
            "run",
            "--net=none",
            &save,
            img.to_str().unwrap(),
        ],
    );
    out.code(0);
    let uuid = read(&uuid_file);
    let pod = format!("{}/{}", own_v2().trim_end_matches('/'), scope(&uuid));
    let app_v2 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("CGROUP=0::"));
    assert_eq!(app_v2, Some(format!("{pod}/cg-place").as_str()), "{out:#?}");
    // /proc/1 in the pod is its PID 1; the READ= value's lines follow one another.
    let pid1_v2 = out
        .stdout
        .lines()
        .map(|l| l.trim_start_matches("READ="))
        .find_map(|l| l.strip_prefix("0::"));
    assert_eq!(
        pid1_v2,
        Some(format!("{pod}/stage1.scope").as_str()),
        "{out:#?}"
    );
    assert!(
        !out.stderr.contains("falling back"),
        "clone3 into the cgroup was refused: {out:#?}"
    );
    let pod_dir = v2_root().join(pod.trim_start_matches('/'));
    assert!(pod_dir.is_dir());
    let gc = run(&ctx, None, &["gc", "--grace-period=0s"]);
    gc.code(0);
    assert!(!pod_dir.exists(), "gc left {}", pod_dir.display());
}

#[test]
fn under_a_delegating_unit_stage1_moves_into_a_supervisor_leaf() {
    let ctx = RktCtx::new();
    // hugetlb: the one controller this kind of host offers on v2; the unit offers what its
    // parent (the root) enables for its children.
    let root_enabled = read(&v2_root().join("cgroup.subtree_control"));
    let Some(controller) = root_enabled.split_whitespace().next().map(str::to_string) else {
        eprintln!("skipped: the v2 root enables no controller for its children");
        return;
    };
    let unit = Unit::new();
    assert_eq!(read(&unit.dir.join("cgroup.subtree_control")), "");
    let img = InspectImage::new("rkt-rs.dev/ft/cg-unit")
        .args(&["--print-cgroup", "--sleep=4"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    let mut cmd = in_view(
        &ctx,
        Some(&unit.name),
        &[
            "--insecure-options=image",
            "run",
            "--net=none",
            &save,
            img.to_str().unwrap(),
        ],
    );
    let mut child = cmd.stdout(Stdio::null()).spawn().unwrap();
    // rkt execs stage1: the shell's pid is stage1's host-side process.
    let me = child.id().to_string();
    let leaf = unit.dir.join("supervisor");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        seen = std::fs::read_to_string(leaf.join("cgroup.procs"))
            .is_ok_and(|p| p.lines().any(|l| l == me));
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    assert!(seen, "stage1 (pid {me}) never was in {}", leaf.display());
    assert!(status.success(), "rkt run failed: {status}");
    let uuid = read(&uuid_file);
    let pod = unit.dir.join(scope(&uuid));
    let enabled = read(&unit.dir.join("cgroup.subtree_control"));
    assert!(
        enabled.split_whitespace().any(|c| c == controller),
        "{enabled}"
    );
    let offered = read(&pod.join("cgroup.controllers"));
    assert!(
        offered.split_whitespace().any(|c| c == controller),
        "{offered}"
    );
    let pod_dir = ctx.pod_dir(&uuid).unwrap();
    assert!(
        read(&pod_dir.join("cgroups")).contains(&format!("supervisor {}", leaf_in_view(&unit))),
        "the leaf is not recorded as ours"
    );
    let gc = run(&ctx, None, &["gc", "--grace-period=0s"]);
    gc.code(0);
    assert_eq!(unit.below(), Vec::<PathBuf>::new(), "gc left cgroups");
}

/// The leaf's path as stage1 saw it, in the view.
fn leaf_in_view(unit: &Unit) -> String {
    format!("/sys/fs/cgroup/{}/supervisor", unit.name)
}
