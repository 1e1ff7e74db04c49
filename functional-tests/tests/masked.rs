//! Masked and read-only paths (T12): the union of runc's, podman's and rkt's masked lists is
//! unreadable (empty) in the app, `/proc/sys`, `/proc/sysrq-trigger` and `/sys` refuse writes,
//! no cgroup file system is visible (so none is writable), and
//! `--insecure-options=paths` lifts the masks.

use functional_tests::{InspectImage, Out, RktCtx};

/// `/proc` entries masked (runc + podman + rkt).
const PROC_MASKED: [&str; 14] = [
    "acpi",
    "asound",
    "config.gz",
    "interrupts",
    "kallsyms",
    "kcore",
    "keys",
    "kmem",
    "latency_stats",
    "mem",
    "sched_debug",
    "scsi",
    "timer_list",
    "timer_stats",
];
/// `/sys` entries masked.
const SYS_MASKED: [&str; 6] = [
    "firmware",
    "fs",
    "hypervisor",
    "module",
    "power",
    "devices/virtual/powercap",
];
const EROFS: &str = "30";
const ENOENT: &str = "2";

fn masked_paths() -> Vec<String> {
    let proc = PROC_MASKED.iter().map(|p| format!("/proc/{p}"));
    let sys = SYS_MASKED.iter().map(|p| format!("/sys/{p}"));
    proc.chain(sys).collect()
}

fn probe(ctx: &RktCtx, name: &str) -> Out {
    let mut args: Vec<String> = masked_paths()
        .iter()
        .map(|p| format!("--try-open={p}"))
        .collect();
    for p in [
        "/proc/sysrq-trigger",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/vm/panic_on_oom",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/class/net/lo/mtu",
    ] {
        args.push(format!("--try-open-write={p}"));
    }
    args.push("--try-mkdir=/sys/fs/cgroup".into());
    args.push("--try-mkdir=/sys/newdir".into());
    args.push("--print-mounts".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let img = InspectImage::new(name).args(&args).build(&ctx.work());
    ctx.run(&[&img])
}

#[test]
fn masked_paths_are_empty_and_proc_sys_and_sys_are_read_only() {
    let ctx = RktCtx::new();
    let out = probe(&ctx, "rkt-rs.dev/ft/masked");
    out.code(0);
    let mut seen = 0;
    for p in masked_paths() {
        let got = out.get(&format!("OPEN {p}"));
        // Masked: a dir is an empty tmpfs, a file reads as /dev/null; absent on this kernel
        // is fine too. Anything read is a leak.
        assert!(got == "ok len=0" || got == ENOENT, "{p}: {got}");
        let on_host = std::path::Path::new(&p).exists();
        if on_host {
            assert_eq!(got, "ok len=0", "{p} exists on the host but not masked");
            seen += 1;
        }
    }
    assert!(
        seen >= 5,
        "too few masked paths exist here to mean anything"
    );
    for p in ["/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern"] {
        // Absent when the kernel lacks it (no CONFIG_MAGIC_SYSRQ here), else read-only.
        let want = if std::path::Path::new(p).exists() {
            EROFS
        } else {
            ENOENT
        };
        assert_eq!(out.get(&format!("OPENW {p}")), want, "{p}: {out:#?}");
    }
    for p in [
        "/proc/sys/vm/panic_on_oom",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/class/net/lo/mtu",
    ] {
        let got = out.get(&format!("OPENW {p}"));
        assert!(got == EROFS || got == ENOENT, "{p}: {got}");
    }
    // cgroupfs: /sys/fs is an empty read-only tmpfs, and no cgroup mount is visible at all.
    assert_eq!(out.get("MKDIR /sys/fs/cgroup"), EROFS, "{out:#?}");
    assert_eq!(out.get("MKDIR /sys/newdir"), EROFS, "{out:#?}");
    for m in functional_tests::all_kv(&out.stdout, "MOUNT") {
        let f: Vec<&str> = m.split(' ').collect();
        assert!(!f[1].starts_with("cgroup"), "a cgroup fs in the app: {m}");
        if f[1] == "sysfs" || f[0].starts_with("/sys") || f[0].starts_with("/proc/sys") {
            assert!(f[2].split(',').any(|o| o == "ro"), "writable: {m}");
        }
    }
}

#[test]
fn insecure_paths_lifts_the_masks() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/masked-off")
        .args(&["--try-open=/proc/interrupts", "--try-open=/sys/fs"])
        .build(&ctx.work());
    let out = ctx.rkt(&[
        "--insecure-options=image,paths",
        "run",
        "--net=none",
        img.to_str().unwrap(),
    ]);
    out.code(0);
    assert_ne!(out.get("OPEN /proc/interrupts"), "ok len=0", "{out:#?}");
    assert_ne!(out.get("OPEN /sys/fs"), "ok len=0", "{out:#?}");
}
