//! Devices (T13): the app's `/dev` holds exactly the standard set, and device access is
//! limited to it by the app's cgroup (v1 `devices`, v2 eBPF program): a block device cannot
//! be made, and a character device the app makes (it has CAP_MKNOD) cannot be opened.

use functional_tests::{InspectImage, RktCtx};

const EPERM: &str = "1";

#[test]
fn dev_listing_is_exact() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/dev-list")
        .args(&[
            "--list-dir=/dev",
            "--list-dir=/dev/pts",
            "--stat=/dev/ptmx",
            "--stat=/dev/fd",
            "--stat=/dev/stdin",
        ])
        .build(&ctx.work());
    let out = ctx.run(&[&img]);
    out.code(0);
    // No terminal here, so no console.
    assert_eq!(
        out.get("LS /dev"),
        "fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero",
        "{out:#?}"
    );
    assert_eq!(out.get("LS /dev/pts"), "ptmx", "a fresh devpts instance");
    let stats = functional_tests::all_kv(&out.stdout, "STAT");
    for s in stats {
        assert!(s.contains("type=symlink"), "{s}");
    }
}

#[test]
fn other_devices_cannot_be_made_or_opened() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/dev-deny")
        .args(&[
            "--try-mknod=/tmp/sda:b:8:0",
            "--try-mknod=/tmp/mem:c:1:1",
            "--try-mknod=/tmp/null2:c:1:3",
            "--try-mknod=/tmp/kmsg:c:1:11",
            "--try-open=/dev/null",
            "--try-open=/dev/zero",
            "--try-open=/dev/urandom",
        ])
        .build(&ctx.work());
    let out = ctx.run(&[&img]);
    out.code(0);
    // Block devices: not even made.
    assert_eq!(out.get("MKNOD /tmp/sda"), EPERM, "{out:#?}");
    // Character devices may be made (rkt's CAP_MKNOD), but only the standard ones opened.
    assert_eq!(out.get("MKNOD /tmp/mem"), "ok", "{out:#?}");
    assert_eq!(out.get("MKNOD_OPEN /tmp/mem"), EPERM, "{out:#?}");
    assert_eq!(out.get("MKNOD_OPEN /tmp/kmsg"), EPERM, "{out:#?}");
    assert_eq!(out.get("MKNOD_OPEN /tmp/null2"), "ok", "{out:#?}");
    assert_eq!(out.get("OPEN /dev/null"), "ok len=0");
    assert_eq!(out.get("OPEN /dev/zero"), "ok len=4096");
    assert_eq!(out.get("OPEN /dev/urandom"), "ok len=4096");
}
