//! What a pod looks like from inside: hostname, fds (the lock fd never reaches an app), its
//! own pid namespace.

use functional_tests::{InspectImage, RktCtx};

#[test]
fn default_hostname_is_rkt_uuid() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/host")
        .args(&["--print-hostname"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    let out = ctx.run(&[save.as_str(), img.to_str().unwrap()]);
    out.ok();
    let uuid = std::fs::read_to_string(&uuid_file).unwrap();
    assert_eq!(out.get("HOSTNAME"), format!("rkt-{}", uuid.trim()));
}

#[test]
fn hostname_flag() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/hostflag")
        .args(&["--print-hostname", "--read-file=/etc/hostname"])
        .build(&ctx.work());
    let out = ctx.run(&["--hostname=custom-name", img.to_str().unwrap()]);
    out.ok();
    assert_eq!(out.get("HOSTNAME"), "custom-name");
}

#[test]
fn only_stdio_reaches_the_app() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/fds")
        .args(&["--print-fds", "--print-pid"])
        .build(&ctx.work());
    let out = ctx.run_image(&img);
    out.ok();
    assert_eq!(
        out.get("FDS"),
        "0,1,2",
        "the lock fd or another leaked: {out:#?}"
    );
    assert_ne!(
        out.get("PID"),
        "1",
        "stage1 is the pod's PID 1, not the app"
    );
    let pid: u32 = out.get("PID").parse().unwrap();
    assert!(
        pid < 100,
        "the app runs in the pod's own pid namespace: {out:#?}"
    );
}

#[test]
fn no_mounts_leak_to_the_host_and_gc_removes_the_pod() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/gc")
        .args(&["--print-mounts"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    let out = ctx.run(&[save.as_str(), img.to_str().unwrap()]);
    out.ok();
    assert!(
        out.stdout.contains("MOUNT=/ "),
        "the app sees its own root: {out:#?}"
    );
    let uuid = std::fs::read_to_string(&uuid_file).unwrap();
    let uuid = uuid.trim();
    assert!(
        functional_tests::ctx::mounts_under(ctx.path()).is_empty(),
        "stage0 and stage1 never mount in the host's namespace"
    );
    assert!(ctx.pod_dir(uuid).is_some());
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert_eq!(ctx.pod_dir(uuid), None, "gc removes the exited pod");
    assert!(functional_tests::ctx::mounts_under(ctx.path()).is_empty());
}
