//! The `run` entrypoint end to end, as root: a fake pod dir (the layout of the crate docs, app
//! roots as full copies, i.e. `--no-overlay`) whose apps are a static probe, run by the static
//! `rkt-stage1` (`RKT_STAGE1_BIN`, set by `make test`) with `RKT_LOCK_FD` naming a flocked fd.
//!
//! Every mount is made by stage1 inside the pod's own mount namespace, so nothing outlives the
//! pod; the temp dir is removed afterwards.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Each pod gets its own UUID, so parallel tests never share cgroups.
fn new_uuid() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("0c9a7d3e-1111-2222-{n:04x}-{:012x}", std::process::id())
}
const LOCK_FD: i32 = 9;
const IMAGE_ID: &str = "sha512-0000000000000000000000000000000000000000000000000000000000000000";

/// The probe: prints the fds above 2 it holds and its hostname, exits with argv[1] (`wait`:
/// waits for a signal).
const PROBE_C: &str = r#"
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char host[256] = "";
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int extra = 0;
    gethostname(host, sizeof host);
    printf("hostname=%s\n", host);
    char line[256];
    FILE *st = fopen("/proc/self/status", "r");
    while (st && fgets(line, sizeof line, st))
        if (!strncmp(line, "SigIgn:", 7)) printf("sigign=%s", line + 7 + strspn(line + 7, " \t"));
    if (st) fclose(st);
    if (!d) printf("fds=unreadable\n");
    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d)) continue;
        printf("fd=%d\n", fd);
        extra++;
    }
    printf("extra_fds=%d\n", extra);
    fflush(stdout);
    if (argc > 1 && !strcmp(argv[1], "wait")) pause();
    return argc > 1 ? atoi(argv[1]) : 0;
}
"#;

fn static_stage1() -> PathBuf {
    match std::env::var_os("RKT_STAGE1_BIN") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "RKT_STAGE1_BIN is not set: run `make test` (it builds the static rkt-stage1 and \
             sets it)"
        ),
    }
}

struct Pod {
    _dir: tempfile::TempDir,
    pod: PathBuf,
    uuid: String,
}

impl Drop for Pod {
    /// stage1 made the pod's cgroups on the host: remove them as `gc` would.
    fn drop(&mut self) {
        let record = self.pod.join(stage1::cgroup::RECORD_FILE);
        if let Err(e) = stage1::cgroup::remove_recorded(&record, &self.uuid) {
            eprintln!("cannot remove the cgroups of pod {}: {e}", self.uuid);
        }
    }
}

impl Pod {
    /// A pod whose apps are `(name, probe argument)`.
    fn new(apps: &[(&str, &str)]) -> Pod {
        Pod::with_handlers(apps, "")
    }

    /// Like [`Pod::new`], with `extra` (JSON members, e.g. `"eventHandlers":[...]`) added to
    /// every app section.
    fn with_handlers(apps: &[(&str, &str)], extra: &str) -> Pod {
        let dir = tempfile::tempdir().unwrap();
        let uuid = new_uuid();
        let pod = dir.path().join("pods/run").join(&uuid);
        let s1 = pod.join("stage1/rootfs");
        for sub in [
            "usr/lib/rkt/stage1",
            "rkt",
            "proc",
            "dev",
            "sys",
            "tmp",
            "etc",
        ] {
            std::fs::create_dir_all(s1.join(sub)).unwrap();
        }
        let bin_dir = s1.join("usr/lib/rkt/stage1");
        std::fs::copy(static_stage1(), bin_dir.join("rkt-stage1")).unwrap();
        for link in ["init", "enter", "gc", "stop", "stage2"] {
            std::os::unix::fs::symlink("rkt-stage1", bin_dir.join(link)).unwrap();
        }
        let probe_src = dir.path().join("probe.c");
        std::fs::write(&probe_src, PROBE_C).unwrap();
        let probe = dir.path().join("probe");
        let built = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&probe)
            .arg(&probe_src)
            .status()
            .expect("gcc is needed to build the probe");
        assert!(built.success(), "gcc -static failed (needs libc6-dev)");
        let mut runtime_apps = Vec::new();
        for (name, code) in apps {
            let info = pod.join("appsinfo").join(name);
            std::fs::create_dir_all(&info).unwrap();
            std::fs::write(
                info.join("manifest"),
                r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/probe"}"#,
            )
            .unwrap();
            std::fs::write(info.join("treeStoreID"), "deps-sha512-00").unwrap();
            let root = s1.join("opt/stage2").join(name).join("rootfs");
            std::fs::create_dir_all(root.join("bin")).unwrap();
            std::fs::create_dir_all(root.join("proc")).unwrap();
            std::fs::copy(&probe, root.join("bin/probe")).unwrap();
            runtime_apps.push(format!(
                r#"{{"name":"{name}","image":{{"id":"{IMAGE_ID}"}},
                "app":{{"exec":["/bin/probe","{code}"],"user":"0","group":"0"{extra}}}}}"#
            ));
        }
        let manifest = format!(
            r#"{{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{}]}}"#,
            runtime_apps.join(",")
        );
        std::fs::write(pod.join("pod"), manifest).unwrap();
        Pod {
            _dir: dir,
            pod,
            uuid,
        }
    }

    /// Runs `init` the way stage0 does: cwd = pod dir, the pod dir flocked at RKT_LOCK_FD.
    fn run(&self, net: &str) -> Output {
        self.command(net).output().unwrap()
    }

    fn command(&self, net: &str) -> Command {
        let lock = std::fs::File::open(&self.pod).unwrap();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&lock);
        // SAFETY: flock on an fd we hold.
        assert_eq!(
            unsafe { libc::flock(raw, libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
        let mut cmd = Command::new(self.pod.join("stage1/rootfs/usr/lib/rkt/stage1/init"));
        cmd.args([&format!("--net={net}"), &self.uuid])
            .current_dir(&self.pod)
            .env("RKT_LOCK_FD", LOCK_FD.to_string())
            .stdin(Stdio::null());
        // SAFETY: dup2/fcntl are async-signal-safe; dup2 clears close-on-exec on the new fd. The closure
        // owns `lock`, so the fd stays open until the Command is dropped (after the spawn).
        unsafe {
            cmd.pre_exec(move || {
                let fd = std::os::fd::AsRawFd::as_raw_fd(&lock);
                // dup2 onto itself would keep close-on-exec: clear it by hand then.
                let r = if fd == LOCK_FD {
                    libc::fcntl(fd, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, LOCK_FD)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    fn status(&self, app: &str) -> String {
        let path = self.pod.join("stage1/rootfs/rkt/status").join(app);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn s1(&self, rel: &str) -> PathBuf {
        self.pod.join("stage1/rootfs").join(rel)
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The probe could read its fds (the pod mounted /proc in the app) and holds none above 2 (the
/// lock fd included); no signal is ignored (Rust ignores SIGPIPE, and that survives exec).
fn assert_probe_clean(stdout: &str, out: &Output) {
    assert!(
        !stdout.contains("fds=unreadable"),
        "no /proc in the app: {}",
        text(out)
    );
    assert!(
        stdout.contains("\nextra_fds=0\n"),
        "an fd leaked: {}",
        text(out)
    );
    assert!(
        stdout.contains("\nsigign=0000000000000000\n"),
        "{}",
        text(out)
    );
}

fn check_common(pod: &Pod, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("hostname=rkt-{}\n", pod.uuid)),
        "{}",
        text(out)
    );
    assert_probe_clean(&stdout, out);
    let pid: i32 = std::fs::read_to_string(pod.pod.join("pid"))
        .unwrap_or_else(|e| panic!("pid: {e}\n{}", text(out)))
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 1);
    assert_eq!(
        std::fs::read_link(pod.s1("rkt/supervisor-status"))
            .unwrap_or_else(|e| panic!("supervisor-status: {e}\n{}", text(out))),
        Path::new("ready")
    );
    assert!(pod.s1("rkt/appspec").is_dir());
}

#[test]

fn one_app_exit_code_is_the_pods() {
    let pod = Pod::new(&[("a", "0")]);
    let out = pod.run("none");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(pod.status("a"), "0");
    check_common(&pod, &out);

    let pod = Pod::new(&[("a", "3")]);
    let out = pod.run("host");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(pod.status("a"), "3");
    check_common(&pod, &out);
}

#[test]

fn several_apps_first_failure_wins() {
    // a waits for a signal: b's failure must stop it (SIGTERM → 143), and b's code wins.
    let pod = Pod::new(&[("a", "wait"), ("b", "3")]);
    let out = pod.run("none");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(pod.status("a"), "143");
    assert_eq!(pod.status("b"), "3");
    let spec = std::fs::read_to_string(pod.s1("rkt/appspec/b.json")).unwrap();
    assert!(spec.contains("/opt/stage2/b/rootfs"), "{spec}");
    check_common(&pod, &out);
}

#[test]

fn a_failing_setup_exits_254_with_one_line() {
    let pod = Pod::new(&[("a", "0")]);
    // No program in the app's root: stage2 (run in PID 1's forked child, no stage2 binary
    // involved) cannot start it.
    std::fs::remove_file(pod.s1("opt/stage2/a/rootfs/bin/probe")).unwrap();
    std::fs::remove_file(pod.s1("usr/lib/rkt/stage1/stage2")).unwrap();
    let out = pod.run("host");
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    assert_eq!(pod.status("a"), "254");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("app a")).collect();
    assert_eq!(lines.len(), 1, "{}", text(&out));
    assert!(
        lines[0].starts_with("stage2: app a: \"/bin/probe\" not found"),
        "{}",
        text(&out)
    );
}

/// Polls for `path` (test only: the product never polls), up to 10 s.
fn wait_for(path: &Path) -> bool {
    for _ in 0..1000 {
        if path.symlink_metadata().is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// One `/proc/<pid>/status` field in KiB (`VmRSS`, `RssAnon`, ...).
fn status_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]

fn running_pod_holds_the_lock_can_be_entered_and_stopped() {
    let pod = Pod::new(&[("a", "wait")]);
    let mut child = pod.command("none").stdout(Stdio::null()).spawn().unwrap();
    let ready = wait_for(&pod.s1("rkt/supervisor-status"));
    let pid_file = std::fs::read_to_string(pod.pod.join("pid"));
    if !ready || pid_file.is_err() {
        if let Some(pid) = pid_file
            .as_ref()
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            // SAFETY: kill takes plain integers; the pod must not outlive the test.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the pod did not get ready: {pid_file:?}");
    }
    let pid: i32 = pid_file.unwrap().trim().parse().unwrap();
    let rss = status_kib(pid, "VmRSS");
    let file = status_kib(pid, "RssFile");
    // The pod's own memory: anonymous and shmem pages. The file-backed rest is the stage1
    // binary's page cache, shared by every pod, and how much of it the kernel maps into PID 1
    // depends on the host's fault-around and folio sizes (1.4 MiB here, 2.1 MiB once on CI for
    // the same binary), so only the pod's own part is held to a bound.
    let own = status_kib(pid, "RssAnon") + status_kib(pid, "RssShmem");
    eprintln!("pod PID 1 VmRSS: {rss} KiB, of it {own} KiB its own, {file} KiB shared file pages");
    // The bound holds for the optimised build (debug builds touch more pages).
    let optimised = static_stage1()
        .components()
        .any(|c| c.as_os_str() == "release");
    let rss_ok = !optimised || own < 1024;

    // The Command (and the test's copy of the lock) is gone: only the pod can hold it now.
    let dir = std::fs::File::open(&pod.pod).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&dir);
    // SAFETY: flock on an fd we hold.
    let locked = unsafe { libc::flock(raw, libc::LOCK_EX | libc::LOCK_NB) };

    let bin = pod.s1("usr/lib/rkt/stage1/enter");
    let entered = Command::new(&bin)
        .args([
            &format!("--pid={pid}"),
            "--appname=a",
            "--",
            "/bin/probe",
            "7",
        ])
        .current_dir(&pod.pod)
        .output()
        .unwrap();
    let stop = Command::new(pod.s1("usr/lib/rkt/stage1/stop"))
        .arg(&pod.uuid)
        .current_dir(&pod.pod)
        .output()
        .unwrap();
    if stop.status.code() != Some(0) {
        // SAFETY: kill takes plain integers; the pod must not outlive the test.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let status = child.wait().unwrap();
    assert!(
        rss_ok,
        "pod PID 1 has {own} KiB of its own memory (anonymous + shmem), more than 1 MiB"
    );
    assert_eq!(entered.status.code(), Some(7), "{}", text(&entered));
    let out = String::from_utf8_lossy(&entered.stdout);
    assert!(out.contains(&format!("hostname=rkt-{}", pod.uuid)), "{out}");
    assert_probe_clean(&out, &entered);
    assert_eq!(locked, -1, "the pod lock must be held while the pod runs");
    assert_eq!(stop.status.code(), Some(0), "{}", text(&stop));
    assert_eq!(status.code(), Some(143), "SIGTERM reached the app");
    assert_eq!(pod.status("a"), "143");
    let leftovers: Vec<_> = std::fs::read_dir(pod.s1("rkt/appspec"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["a.json"], "enter removes its temporary spec");
}

fn handlers(pre: &str, post: &str) -> String {
    format!(
        r#","eventHandlers":[{{"name":"pre-start","exec":["/bin/probe","{pre}"]}},
        {{"name":"post-stop","exec":["/bin/probe","{post}"]}}]"#
    )
}

#[test]

fn event_handlers_run_around_the_app() {
    let pod = Pod::with_handlers(&[("a", "0")], &handlers("0", "9"));
    let out = pod.run("host");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a failing post-stop changes nothing: {}",
        text(&out)
    );
    let runs = String::from_utf8_lossy(&out.stdout)
        .matches("hostname=")
        .count();
    assert_eq!(runs, 3, "pre-start, app, post-stop: {}", text(&out));
    assert!(pod.s1("rkt/appspec/a.pre-start.json").is_file());

    let pod = Pod::with_handlers(&[("a", "0"), ("b", "0")], &handlers("4", "0"));
    let out = pod.run("host");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(pod.status("a"), "4");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("app a: its pre-start handler failed with 4"),
        "{stderr}"
    );
    // a's pre-start and post-stop ran; neither app nor b did.
    let runs = String::from_utf8_lossy(&out.stdout)
        .matches("hostname=")
        .count();
    assert_eq!(runs, 2, "{}", text(&out));
    assert!(!pod.s1("rkt/status/b").exists());
}

#[test]

fn no_app_starts_when_pid_cannot_be_published() {
    let pod = Pod::new(&[("a", "0")]);
    // A non-empty directory where `pid` goes: the rename fails.
    std::fs::create_dir_all(pod.pod.join("pid/x")).unwrap();
    let out = pod.run("host");
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("stage1: cannot write "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty(), "the app ran: {}", text(&out));
    assert!(!pod.s1("rkt/status/a").exists());
}
