//! The appc executor duties (appc.md §7) not covered elsewhere: event handlers in order and in
//! the app's own rootfs instance with the app's environment, apps of one pod running together
//! on a shared empty volume, and volumes visible in /proc/self/mountinfo with their mode.

use functional_tests::{InspectImage, RktCtx, all_kv};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[test]
fn hooks_run_in_order_in_the_apps_rootfs() {
    let ctx = RktCtx::new();
    let vol = ctx.work().join("hooks");
    std::fs::create_dir_all(&vol).unwrap();
    let img = InspectImage::new("rkt-rs.dev/ft/hooked")
        .mount_point("out", "/out", false)
        .event_handler(
            "pre-start",
            &[
                "/inspect",
                "--print-msg=STAGE=pre-start",
                "--print-env=PATH",
                "--print-env=AC_APP_NAME",
                "--content=from-pre-start",
                "--write-file=/prestart",
            ],
        )
        .event_handler(
            "post-stop",
            &[
                "/inspect",
                "--print-msg=STAGE=post-stop",
                "--read-file=/out/main",
                "--content=from-post-stop",
                "--write-file=/out/post",
            ],
        )
        .args(&[
            "--print-msg=STAGE=main",
            "--read-file=/prestart",
            "--content=from-main",
            "--write-file=/out/main",
        ])
        .build(&ctx.work());
    let out = ctx.run(&[
        format!("--volume=out,kind=host,source={}", vol.display()),
        img.display().to_string(),
    ]);
    out.ok();
    assert_eq!(
        all_kv(&out.stdout, "STAGE"),
        ["pre-start", "main", "post-stop"],
        "{out:#?}"
    );
    // Handlers get the app's environment.
    assert_eq!(out.get("PATH"), DEFAULT_PATH);
    assert_eq!(out.get("AC_APP_NAME"), "hooked");
    // main read what pre-start wrote into the rootfs; post-stop read main's file.
    assert_eq!(
        all_kv(&out.stdout, "READ"),
        ["from-pre-start", "from-main"],
        "{out:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(vol.join("post")).unwrap(),
        "from-post-stop"
    );
}

#[test]
fn two_apps_handshake_over_a_shared_empty_volume() {
    let ctx = RktCtx::new();
    // Each waits for the other: this only ends if both run at the same time on one volume.
    let ping = InspectImage::new("rkt-rs.dev/ft/ping")
        .mount_point("shared", "/shared", false)
        .args(&[
            "--content=ping",
            "--write-file=/shared/ping",
            "--wait-file=/shared/pong",
            "--read-file=/shared/pong",
        ]);
    let pong = InspectImage::new("rkt-rs.dev/ft/pong")
        .mount_point("shared", "/shared", false)
        .args(&[
            "--wait-file=/shared/ping",
            "--read-file=/shared/ping",
            "--content=pong",
            "--write-file=/shared/pong",
        ]);
    let out = ctx.run(&[
        "--volume=shared,kind=empty".into(),
        ping.build(&ctx.work()).display().to_string(),
        pong.build(&ctx.work()).display().to_string(),
    ]);
    out.ok();
    let mut read = all_kv(&out.stdout, "READ");
    read.sort();
    assert_eq!(read, ["ping", "pong"], "{out:#?}");
    assert_eq!(all_kv(&out.stdout, "WAITED").len(), 2);
}

#[test]
fn volumes_show_in_mountinfo_with_their_mode() {
    let ctx = RktCtx::new();
    let src = ctx.work().join("ro-src");
    std::fs::create_dir_all(&src).unwrap();
    let img = InspectImage::new("rkt-rs.dev/ft/mounted")
        .mount_point("data", "/data", false)
        .mount_point("scratch", "/scratch", false)
        .args(&["--print-mounts"])
        .build(&ctx.work());
    let out = ctx.run(&[
        format!(
            "--volume=data,kind=host,source={},readOnly=true",
            src.display()
        ),
        "--volume=scratch,kind=empty".to_string(),
        img.display().to_string(),
    ]);
    out.ok();
    let mounts = all_kv(&out.stdout, "MOUNT");
    let find = |target: &str| {
        mounts
            .iter()
            .find(|m| m.split(' ').next() == Some(target))
            .unwrap_or_else(|| panic!("{target} not in mountinfo: {mounts:?}"))
            .to_string()
    };
    let data = find("/data");
    let opts = data.split(' ').nth(2).unwrap();
    assert!(opts.split(',').any(|o| o == "ro"), "{data}");
    let scratch = find("/scratch");
    let opts = scratch.split(' ').nth(2).unwrap();
    assert!(opts.split(',').any(|o| o == "rw"), "{scratch}");
    for linux in ["/proc", "/sys", "/dev/pts", "/dev/shm"] {
        find(linux);
    }
}
