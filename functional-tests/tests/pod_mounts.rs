//! The pod's mount table as its PID 1 sees it (read from the host's `/proc/<pid>/mountinfo`
//! while the pod runs): the stage1 root has no `/dev` of its own, every app keeps its own
//! `/dev`, `/proc` and `/sys`, and every hidden directory of every app is the same empty
//! read-only tmpfs (one superblock per pod, bound where needed). The app specs stay written
//! for `enter` although the apps get theirs in memory.

use std::path::Path;
use std::time::Duration;

use functional_tests::{InspectImage, RktCtx};

/// One mountinfo line: (device `major:minor`, mount point, mount options, fs type).
fn parse(line: &str) -> Option<(&str, &str, &str, &str)> {
    let f: Vec<&str> = line.split(' ').collect();
    let sep = f.iter().position(|x| *x == "-")?;
    Some((f.get(2)?, f.get(4)?, f.get(5)?, f.get(sep + 1)?))
}

#[test]
fn stage1_root_has_no_dev_and_app_masks_share_one_tmpfs() {
    let ctx = RktCtx::new();
    let work = ctx.work();
    let a = InspectImage::new("rkt-rs.dev/ft/mounts-a")
        .args(&["--sleep=60", "--silent-sigterm"])
        .build(&work);
    let b = InspectImage::new("rkt-rs.dev/ft/mounts-b")
        .args(&["--sleep=60", "--silent-sigterm"])
        .build(&work);
    let pod = ctx.spawn(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    let dir = ctx.pod_dir(&pod.uuid).expect("the pod's dir");
    let pid = std::fs::read_to_string(dir.join("pid")).expect("the pod's pid file");
    let info = std::fs::read_to_string(format!("/proc/{}/mountinfo", pid.trim()))
        .expect("PID 1's mountinfo");
    let mounts: Vec<_> = info.lines().filter_map(parse).collect();
    let points: Vec<&str> = mounts.iter().map(|m| m.1).collect();
    assert!(
        !points
            .iter()
            .any(|p| *p == "/dev" || p.starts_with("/dev/")),
        "the stage1 root has a /dev: {info}"
    );
    assert!(points.contains(&"/proc"), "{info}");
    let mut hidden = Vec::new();
    for app in ["mounts-a", "mounts-b"] {
        let root = format!("/opt/stage2/{app}/rootfs");
        for sub in ["/dev", "/dev/pts", "/dev/shm", "/proc", "/sys"] {
            let want = format!("{root}{sub}");
            assert!(points.contains(&want.as_str()), "no {want}: {info}");
        }
        for d in [
            "proc/acpi",
            "proc/scsi",
            "sys/firmware",
            "sys/fs",
            "sys/power",
        ] {
            if !Path::new("/").join(d).is_dir() {
                continue; // Not on this kernel: nothing to hide.
            }
            let point = format!("{root}/{d}");
            let m = mounts
                .iter()
                .rev() // The top mount wins.
                .find(|m| m.1 == point)
                .unwrap_or_else(|| panic!("{point} is not hidden: {info}"));
            assert_eq!(m.3, "tmpfs", "{point}: {info}");
            assert!(
                m.2.split(',').any(|o| o == "ro"),
                "{point} writable: {info}"
            );
            hidden.push(m.0);
        }
    }
    assert!(hidden.len() >= 4, "too few hidden dirs here: {info}");
    hidden.dedup();
    assert_eq!(hidden.len(), 1, "more than one mask tmpfs: {info}");
    for app in ["mounts-a", "mounts-b"] {
        let spec = dir.join(format!("stage1/rootfs/rkt/appspec/{app}.json"));
        let text = std::fs::read_to_string(&spec).expect("the app spec for enter");
        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(json["name"], app, "{text}");
    }
    ctx.rkt(&["stop", &pod.uuid]).ok();
    pod.wait(Duration::from_secs(20)).ok();
}
