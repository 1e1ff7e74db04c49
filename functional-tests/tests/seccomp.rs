//! Seccomp (T11): the default Docker-equivalent filter, retain/remove sets with errno, the
//! `--seccomp` flag over the image's isolator, `--insecure-options=seccomp`, and `enter`.

use std::time::Duration;

use functional_tests::{InspectImage, RktCtx};
use serde_json::json;

/// Calls the default filter must refuse (T11).
const BLOCKED: [&str; 13] = [
    "mount",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "kexec_load",
    "init_module",
    "open_by_handle_at",
    "bpf",
    "perf_event_open",
    "ptrace",
    "userfaultfd",
    "io_uring_setup",
];
const NORMAL: [&str; 7] = [
    "getpid", "read", "write", "openat", "stat", "uname", "thread",
];

fn tries(calls: &[&str]) -> Vec<String> {
    calls.iter().map(|c| format!("--try-syscall={c}")).collect()
}

fn probe(ctx: &RktCtx, name: &str, calls: &[&str]) -> std::path::PathBuf {
    let mut args = vec!["--print-seccomp".to_string()];
    args.extend(tries(calls));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    InspectImage::new(name).args(&args).build(&ctx.work())
}

fn key(call: &str) -> String {
    format!("SYSCALL_{}", call.to_uppercase())
}

#[test]
fn default_filter_blocks_escape_calls_and_allows_work() {
    let ctx = RktCtx::new();
    let all: Vec<&str> = BLOCKED.iter().chain(&NORMAL).copied().collect();
    let img = probe(&ctx, "rkt-rs.dev/ft/seccomp-default", &all);
    let out = ctx.run(&[&img]);
    out.code(0);
    assert_eq!(out.get("SECCOMP"), "2", "{out:#?}");
    assert_eq!(
        out.get("NONEWPRIVS"),
        "0",
        "root apps keep no_new_privs off"
    );
    for call in BLOCKED {
        assert_eq!(out.get(&key(call)), "EPERM", "{call}: {out:#?}");
    }
    for call in ["getpid", "openat", "stat", "uname", "thread"] {
        assert_eq!(out.get(&key(call)), "ok", "{call}: {out:#?}");
    }
    // Allowed calls reach the kernel, which rejects the bad fd.
    assert_eq!(out.get(&key("read")), "EBADF");
    assert_eq!(out.get(&key("write")), "EBADF");
}

#[test]
fn insecure_seccomp_runs_without_a_filter() {
    let ctx = RktCtx::new();
    let img = probe(&ctx, "rkt-rs.dev/ft/seccomp-off", &["mount", "setns"]);
    let out = ctx.rkt(&[
        "--insecure-options=image,seccomp",
        "run",
        "--net=none",
        img.to_str().unwrap(),
    ]);
    out.code(0);
    assert_eq!(out.get("SECCOMP"), "0", "{out:#?}");
    // The kernel itself answers: a bad pointer, a bad fd.
    assert_eq!(out.get(&key("mount")), "EFAULT");
    assert_eq!(out.get(&key("setns")), "EBADF");
}

#[test]
fn image_remove_set_with_errno() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/seccomp-remove")
        .isolator(json!({"name": "os/linux/seccomp-remove-set",
            "value": {"set": ["setns", "uname"], "errno": "ENOSYS"}}))
        .args(&[
            "--try-syscall=uname",
            "--try-syscall=setns",
            "--try-syscall=mount",
        ])
        .build(&ctx.work());
    let out = ctx.run(&[&img]);
    out.code(0);
    assert_eq!(out.get(&key("uname")), "ENOSYS", "{out:#?}");
    assert_eq!(out.get(&key("setns")), "ENOSYS");
    // Not in the set: the kernel answers (a bad pointer).
    assert_eq!(out.get(&key("mount")), "EFAULT");
}

#[test]
fn retain_set_and_the_flag_replacing_the_image_set() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/seccomp-retain")
        .isolator(json!({"name": "os/linux/seccomp-remove-set",
            "value": {"set": ["uname"], "errno": "ENOSYS"}}))
        .args(&["--try-syscall=uname", "--try-syscall=setns"])
        .build(&ctx.work());
    // The image's own set.
    let out = ctx.run(&[&img]);
    assert_eq!(out.get(&key("uname")), "ENOSYS", "{out:#?}");
    // The flag replaces it: everything the probe needs plus uname; setns is not retained.
    let flag = "--seccomp=mode=retain,errno=EACCES,@rkt/default-whitelist,uname";
    let out = ctx.run(&[img.to_str().unwrap(), flag]);
    out.code(0);
    assert_eq!(out.get(&key("uname")), "ok", "{out:#?}");
    assert_eq!(out.get(&key("setns")), "EACCES");
}

#[test]
fn retain_set_without_errno_kills_with_sigsys() {
    let ctx = RktCtx::new();
    let img = probe(&ctx, "rkt-rs.dev/ft/seccomp-kill", &["setns"]);
    let flag = "--seccomp=mode=retain,@rkt/default-whitelist";
    let out = ctx.run(&[img.to_str().unwrap(), flag]);
    // Not rkt's own failure code: the app ran and was killed at the call.
    assert!(out.code != 0 && out.code != 254, "{out:#?}");
    assert_eq!(out.get("SECCOMP"), "2");
    assert!(!out.stdout.contains("SYSCALL_SETNS"), "{out:#?}");
    // The same set with an errno: the probe survives and reports it.
    let flag = "--seccomp=mode=retain,errno=EPERM,@rkt/default-whitelist";
    let out = ctx.run(&[img.to_str().unwrap(), flag]);
    out.code(0);
    assert_eq!(out.get(&key("setns")), "EPERM");
}

#[test]
fn unknown_syscall_is_refused_naming_it() {
    let ctx = RktCtx::new();
    let img = probe(&ctx, "rkt-rs.dev/ft/seccomp-unknown", &["getpid"]);
    let out = ctx.run(&[img.to_str().unwrap(), "--seccomp=mode=remove,frobnicate"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("frobnicate"), "{out:#?}");
}

#[test]
fn enter_gets_the_apps_filter() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/seccomp-enter")
        .args(&["--sleep=60", "--silent-sigterm"])
        .build(&ctx.work());
    let pod = ctx.spawn(&[
        img.to_str().unwrap(),
        "--seccomp=mode=remove,errno=ENOSYS,uname",
    ]);
    let out = ctx.rkt(&[
        "enter",
        &pod.uuid,
        "/inspect",
        "--print-seccomp",
        "--try-syscall=uname",
        "--try-syscall=getpid",
    ]);
    out.code(0);
    assert_eq!(out.get("SECCOMP"), "2", "{out:#?}");
    assert_eq!(out.get(&key("uname")), "ENOSYS");
    assert_eq!(out.get(&key("getpid")), "ok");
    ctx.rkt(&["stop", &pod.uuid]).ok();
    pod.wait(Duration::from_secs(20)).ok();
}

#[test]
fn systemd_groups_in_remove_and_retain_sets() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/seccomp-systemd")
        .args(&[
            "--try-syscall=mount",
            "--try-syscall=unshare",
            "--try-syscall=getpid",
            "--try-syscall=uname",
        ])
        .build(&ctx.work());
    // @systemd/mount and @systemd/clock removed (with an errno): their calls fail, others
    // (unshare(0) is harmless without the default filter) go through. (@systemd/process
    // would take arch_prctl, which the static probe needs to start at all.)
    let out = ctx.run(&[
        img.to_str().unwrap(),
        "--seccomp=mode=remove,errno=ENOSYS,@systemd/mount,@systemd/clock",
    ]);
    out.code(0);
    assert_eq!(out.get(&key("mount")), "ENOSYS", "{out:#?}");
    assert_eq!(out.get(&key("unshare")), "ok");
    assert_eq!(out.get(&key("getpid")), "ok");
    assert_eq!(out.get(&key("uname")), "ok");
    // A retain-set of Docker's list plus @systemd/mount lets mount through the filter to the
    // kernel (which then refuses the probe's null arguments: not ENOSYS), and nothing else.
    let out = ctx.run(&[
        img.to_str().unwrap(),
        "--seccomp=mode=retain,errno=ENOSYS,@docker/default-whitelist,@systemd/mount",
    ]);
    out.code(0);
    assert_ne!(out.get(&key("mount")), "ENOSYS", "{out:#?}");
    assert_eq!(out.get(&key("unshare")), "ENOSYS", "{out:#?}");
    assert_eq!(out.get(&key("getpid")), "ok");
    let bad = ctx.run(&[
        img.to_str().unwrap(),
        "--seccomp=mode=remove,@systemd/nosuch",
    ]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("@systemd/nosuch"), "{bad:#?}");
}
