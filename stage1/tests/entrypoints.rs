//! The real `rkt-stage1` binary's entrypoints that need no pod mounts: dispatch on argv[0],
//! `stop` against a real process, `gc` unmounting real mounts (in a private mount namespace of
//! a child, so the host is never touched), and the argument errors of `enter` and `init`.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rkt-stage1");

fn is_root() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

fn stage1(entry: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .arg(entry)
        .args(args)
        .current_dir(cwd)
        .env_remove("RKT_LOCK_FD")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails with `code` and one line starting `stage1:` that contains `needle`.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(
        err.starts_with("stage1: ") || err.starts_with("stage2: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

#[test]
fn dispatches_on_argv0_and_on_the_first_argument() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("stop");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = Command::new(&link)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_fails(&out, 254, "the pod UUID is missing");
    let out = stage1("bogus", &[], dir.path());
    assert_fails(&out, 254, "unknown entrypoint \"bogus\"");
    let out = Command::new(BIN).output().unwrap();
    assert_fails(&out, 254, "usage: rkt-stage1");
    let out = stage1("stage2", &["--spec", "/nonexistent.json"], dir.path());
    assert_fails(&out, 254, "/nonexistent.json");
}

fn sleeper() -> std::process::Child {
    Command::new("sleep").arg("100").spawn().unwrap()
}

#[test]
fn stop_sends_sigterm_or_sigkill_to_the_pid_in_the_pod_dir() {
    let dir = tempfile::tempdir().unwrap();
    for (args, signal) in [
        (&["u1"][..], libc::SIGTERM),
        (&["--force", "u1"][..], libc::SIGKILL),
    ] {
        let mut child = sleeper();
        std::fs::write(dir.path().join("pid"), child.id().to_string()).unwrap();
        let out = stage1("stop", args, dir.path());
        if out.status.code() != Some(0) {
            let _ = child.kill();
        }
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(child.wait().unwrap().signal(), Some(signal));
    }
}

#[test]
fn stop_without_a_pid_file_says_the_pod_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = stage1("stop", &["u1"], dir.path());
    assert_fails(&out, 254, "not running");
}

/// Runs `script` with `sh` in a private mount namespace of the child (all its mounts die with
/// it); `$BIN` is the stage1 binary, `$POD` the pod dir.
fn in_private_mount_ns(script: &str, pod: &Path) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-euc", script])
        .env("BIN", BIN)
        .env("POD", pod)
        .current_dir(pod);
    // SAFETY: only async-signal-safe syscalls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let flags = libc::MS_REC | libc::MS_PRIVATE;
            let r = libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            );
            if r != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn gc_unmounts_everything_under_the_pod_dir_deepest_first() {
    if !is_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pod = dir.path().join("pod");
    let outside = dir.path().join("outside");
    for d in ["stage1/rootfs/proc", "stage1/rootfs/opt"] {
        std::fs::create_dir_all(pod.join(d)).unwrap();
    }
    std::fs::create_dir(&outside).unwrap();
    let script = r#"
        mount -t tmpfs t "$POD/stage1/rootfs"
        mkdir -p "$POD/stage1/rootfs/proc" "$POD/stage1/rootfs/a b"
        mount -t tmpfs t "$POD/stage1/rootfs/proc"
        mount -t tmpfs t "$POD/stage1/rootfs/proc"
        mount -t tmpfs t "$POD/stage1/rootfs/a b"
        mount -t tmpfs t "$POD/../outside"
        echo before=$(grep -c "$POD/" /proc/self/mountinfo)
        "$BIN" gc --local-config=/nowhere u1
        echo after=$(grep -c "$POD/" /proc/self/mountinfo || true)
        echo outside=$(grep -c "/outside " /proc/self/mountinfo)
    "#;
    let out = in_private_mount_ns(script, &pod);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr(&out));
    assert!(stdout.contains("before=4\n"), "{stdout}");
    assert!(stdout.contains("after=0\n"), "{stdout}");
    assert!(
        stdout.contains("outside=1\n"),
        "mounts elsewhere stay: {stdout}"
    );
}

#[test]
fn gc_with_nothing_mounted_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let out = stage1("gc", &["u1"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

const IMAGE_ID: &str = "sha512-0000000000000000000000000000000000000000000000000000000000000000";

fn write_pod_manifest(dir: &Path, apps: &[&str]) {
    let apps: Vec<String> = apps
        .iter()
        .map(|a| format!(r#"{{"name":"{a}","image":{{"id":"{IMAGE_ID}"}}}}"#))
        .collect();
    let json = format!(
        r#"{{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{}]}}"#,
        apps.join(",")
    );
    std::fs::write(dir.join("pod"), json).unwrap();
}

#[test]
fn enter_argument_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_pod_manifest(dir.path(), &["web", "db"]);
    let out = stage1("enter", &["--appname=web"], dir.path());
    assert_fails(&out, 254, "--pid is missing");
    let out = stage1("enter", &["--pid=1", "--", "true"], dir.path());
    assert_fails(&out, 254, "several apps (web, db)");
    let out = stage1("enter", &["--pid=1", "--appname=cache"], dir.path());
    assert_fails(&out, 254, "no app \"cache\" (its apps: web, db)");
    let empty = tempfile::tempdir().unwrap();
    let out = stage1("enter", &["--pid=1", "--appname=web"], empty.path());
    assert_fails(&out, 254, "cannot read the pod manifest");
}

#[test]
fn init_refuses_bad_networks_and_a_missing_lock_before_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = stage1("init", &["--net=host,default", "u1"], dir.path());
    assert_fails(
        &out,
        254,
        "--net=host,default: host cannot be combined with other networks",
    );
    let out = stage1("init", &["--net=a,a", "u1"], dir.path());
    assert_fails(&out, 254, "--net=a,a: network a is given twice");
    let out = stage1("init", &["u1"], dir.path());
    assert_fails(&out, 254, "RKT_LOCK_FD is not set");
    let out = stage1("init", &["--net=host", "u1"], dir.path());
    assert_fails(&out, 254, "RKT_LOCK_FD is not set");
    let out = stage1(
        "init",
        &["--net=host", "--private-users=0:65536", "u1"],
        dir.path(),
    );
    assert_fails(
        &out,
        254,
        "--private-users=0:65536: the shift must not be 0",
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
