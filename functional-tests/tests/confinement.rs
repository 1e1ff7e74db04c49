//! Images that try to reach the host through symlinks: an `/etc` that points at the host's
//! /etc, and a mount point that is a symlink out of the rootfs. Whatever stage1 does with
//! them, the host must stay untouched.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use functional_tests::{InspectImage, RktCtx};

/// Names, sizes, mtimes and inodes of a host directory's entries (not following links).
fn snapshot(dir: &Path) -> BTreeSet<(String, u64, i64, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let m = e.path().symlink_metadata().ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                m.size(),
                m.mtime(),
                m.ino(),
            ))
        })
        .collect()
}

#[test]
fn etc_symlink_to_the_host_etc() {
    let ctx = RktCtx::new();
    let before = snapshot(Path::new("/etc"));
    for (name, target) in [("abs", "/etc"), ("rel", "../../../../../../../../etc")] {
        let img = InspectImage::new(&format!("rkt-rs.dev/ft/etc-{name}"))
            .without("etc")
            .symlink("etc", target)
            .args(&["--print-hostname"])
            .build(&ctx.work());
        let out = ctx.run(&["--hostname=must-not-reach-the-host", img.to_str().unwrap()]);
        assert!(out.code == 0 || out.code == 254, "{out:#?}");
        assert_eq!(
            snapshot(Path::new("/etc")),
            before,
            "the host's /etc changed ({name})"
        );
    }
    let host_name = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    assert!(!host_name.contains("must-not-reach-the-host"));
}

#[test]
fn mount_point_symlink_out_of_the_rootfs() {
    let ctx = RktCtx::new();
    let outside = ctx.work().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let src = ctx.work().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("in"), "volume").unwrap();
    let img = InspectImage::new("rkt-rs.dev/ft/mnt-link")
        .symlink("data", outside.to_str().unwrap())
        .mount_point("data", "/data", false)
        .args(&[
            "--read-file=/data/in",
            "--content=pod",
            "--write-file=/data/out",
        ])
        .build(&ctx.work());
    let vol = format!("--volume=data,kind=host,source={}", src.display());
    let out = ctx.run(&[vol.as_str(), img.to_str().unwrap()]);
    assert!(out.code == 0 || out.code == 254, "{out:#?}");
    if out.code == 0 {
        // Resolved inside the app's root: the volume is where the app looks.
        assert_eq!(out.get("READ"), "volume");
        assert_eq!(std::fs::read_to_string(src.join("out")).unwrap(), "pod");
    }
    let left: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
    assert!(
        left.is_empty(),
        "the host dir behind the symlink was written: {left:?}"
    );
    assert!(functional_tests::ctx::mounts_under(&outside).is_empty());
}

/// Every `PEEK <pid>:<comm>=...` line of a `--try-peek=all` probe.
fn peeks(out: &functional_tests::Out) -> Vec<(String, String)> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("PEEK "))
        .filter_map(|l| l.split_once('='))
        .map(|(who, what)| (who.to_string(), what.to_string()))
        .collect()
}

#[test]
fn stage1_processes_and_enter_helpers_cannot_be_read_from_the_app() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/peek")
        .args(&["--sleep=60", "--silent-sigterm"])
        .build(&ctx.work());
    let pod = ctx.spawn(&[img.to_str().unwrap()]);
    // A long-running entered command, and a second one that peeks at everything it sees.
    let mut long = ctx
        .command(&["enter", &pod.uuid, "/inspect", "--sleep=20"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = ctx.rkt(&["enter", &pod.uuid, "/inspect", "--try-peek=all"]);
    out.code(0);
    let seen = peeks(&out);
    assert!(
        seen.iter().any(|(who, _)| who.starts_with("1:")),
        "{out:#?}"
    );
    let mut probes = 0;
    for (who, what) in &seen {
        if who.ends_with(":inspect") {
            probes += 1; // The app and the entered command: ordinary app processes.
            continue;
        }
        // stage1's PID 1 (and any stage1/stage2 helper caught before its exec).
        assert!(
            !what.contains(":ok"),
            "{who} is readable from the pod: {what}"
        );
    }
    assert!(probes >= 2, "the app and the entered command: {out:#?}");
    let _ = long.kill();
    let _ = long.wait();
    ctx.rkt(&["stop", &pod.uuid]).ok();
    pod.wait(std::time::Duration::from_secs(20)).ok();
}
