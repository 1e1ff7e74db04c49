//! Volumes: host volumes read-write and read-only, an empty volume shared by two apps,
//! `--mount` without an image mount point, and `--readonly-rootfs`.

use functional_tests::{InspectImage, RktCtx};

fn host_dir(ctx: &RktCtx, name: &str) -> std::path::PathBuf {
    let dir = ctx.work().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("in"), "from-host").unwrap();
    dir
}

#[test]
fn host_volume_read_write() {
    let ctx = RktCtx::new();
    let src = host_dir(&ctx, "rw");
    let img = InspectImage::new("rkt-rs.dev/ft/rw")
        .mount_point("data", "/data", false)
        .args(&[
            "--read-file=/data/in",
            "--content=from-pod",
            "--write-file=/data/out",
        ])
        .build(&ctx.work());
    let vol = format!("--volume=data,kind=host,source={}", src.display());
    let out = ctx.run(&[vol.as_str(), img.to_str().unwrap()]);
    out.ok();
    assert_eq!(out.get("READ"), "from-host");
    assert_eq!(
        std::fs::read_to_string(src.join("out")).unwrap(),
        "from-pod"
    );
}

#[test]
fn host_volume_read_only() {
    let ctx = RktCtx::new();
    let src = host_dir(&ctx, "ro");
    let img = InspectImage::new("rkt-rs.dev/ft/ro")
        .mount_point("data", "/data", false)
        .args(&[
            "--read-file=/data/in",
            "--content=x",
            "--write-file=/data/out",
        ])
        .build(&ctx.work());
    let vol = format!(
        "--volume=data,kind=host,source={},readOnly=true",
        src.display()
    );
    let out = ctx.run(&[vol.as_str(), img.to_str().unwrap()]);
    out.code(1);
    assert_eq!(out.get("READ"), "from-host");
    assert!(out.get("ERROR").contains("/data/out"), "{out:#?}");
    assert!(!src.join("out").exists(), "a read-only volume was written");
}

#[test]
fn mount_flag_without_image_mount_point() {
    let ctx = RktCtx::new();
    let src = host_dir(&ctx, "mnt");
    let img = InspectImage::new("rkt-rs.dev/ft/mnt")
        .args(&["--read-file=/mnt/in"])
        .build(&ctx.work());
    let vol = format!("--volume=v,kind=host,source={}", src.display());
    let out = ctx.run(&[
        vol.as_str(),
        img.to_str().unwrap(),
        "--mount=volume=v,target=/mnt",
    ]);
    out.ok();
    assert_eq!(out.get("READ"), "from-host");
}

#[test]
fn empty_volume_shared_by_two_apps() {
    let ctx = RktCtx::new();
    let writer = InspectImage::new("rkt-rs.dev/ft/writer")
        .mount_point("shared", "/shared", false)
        .args(&["--content=hello-neighbour", "--write-file=/shared/msg"]);
    let reader = InspectImage::new("rkt-rs.dev/ft/reader")
        .mount_point("shared", "/shared", false)
        .args(&["--sleep=1", "--read-file=/shared/msg"]);
    let out = ctx.run(&[
        "--volume=shared,kind=empty".into(),
        writer.build(&ctx.work()).display().to_string(),
        reader.build(&ctx.work()).display().to_string(),
    ]);
    out.ok();
    assert_eq!(out.get("READ"), "hello-neighbour");
}

#[test]
fn readonly_rootfs() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/rootfs")
        .args(&["--content=x", "--write-file=/written"])
        .build(&ctx.work());
    let out = ctx.run(&[img.to_str().unwrap(), "--readonly-rootfs=true"]);
    out.code(1);
    assert!(out.get("ERROR").contains("/written"), "{out:#?}");
    // Without the flag the same write works.
    ctx.run_image(&img).ok();
}
