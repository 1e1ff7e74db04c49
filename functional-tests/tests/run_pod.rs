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

#[test]
fn relative_data_and_config_dirs_work() {
    // A script run from its own directory with `--dir=data`: stage1 runs in the pod's dir, so
    // every path it is handed must be absolute.
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/reldir")
        .args(&["--print-hostname"])
        .build(&ctx.work());
    let mut cmd = std::process::Command::new(functional_tests::ctx::rkt_bin());
    cmd.current_dir(ctx.path())
        .args([
            "--dir=data",
            "--local-config=local",
            "--system-config=system",
            "--user-config=user",
            "--insecure-options=image",
            "run",
            "--net=none",
        ])
        .arg(
            img.strip_prefix(ctx.path())
                .expect("the image is in the test's dir"),
        )
        .stdin(std::process::Stdio::null());
    let out = functional_tests::ctx::output(cmd, std::time::Duration::from_secs(120));
    out.ok();
    assert!(out.get("HOSTNAME").starts_with("rkt-"), "{out:#?}");
    // The pod is in the data dir the relative path named.
    let pods = ctx.pods_json();
    assert_eq!(pods.as_array().map(Vec::len), Some(1), "{pods:#}");
}
