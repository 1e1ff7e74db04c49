//! `--private-users` (issue 7): the apps run in a user namespace with a fresh 65536-id range;
//! root in the pod is an unprivileged uid on the host, the image's files still show as root's
//! inside (id-mapped lower layer, overlay kept), and `rkt enter` joins the same namespace.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use functional_tests::{InspectImage, Out, RktCtx, all_kv};

/// The host pid of the process whose command line holds `marker`.
fn find_process(marker: &str) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let exe = std::fs::read_link(e.path().join("exe")).unwrap_or_default();
            // The app itself (stage2 execs the probe), not a launcher holding the marker.
            let is_probe = exe.file_name().is_some_and(|n| n == "inspect");
            if is_probe && args.contains(&marker.as_bytes()) {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The four ids of a `Uid:`/`Gid:` line of `/proc/<pid>/status`.
fn ids(pid: u32, key: &str) -> Vec<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"));
    line.split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The `uid_map` line as `[inside, outside, count]`.
fn map_line(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn check_inside(out: &Out, shift: u64) {
    for key in ["UID", "EUID", "GID", "EGID"] {
        assert_eq!(out.get(key), "0", "{key}: {out:#?}");
    }
    // The image's files (owned by root in the store) show as root's.
    for stat in all_kv(&out.stdout, "STAT") {
        assert!(stat.contains("uid=0 gid=0"), "{stat}: {out:#?}");
    }
    assert_eq!(map_line(out.get("READ")), [0, shift, 65536], "{out:#?}");
}

fn run_private(ctx: &RktCtx, name: &str, marker: &str) -> (Out, u64, PathBuf) {
    let img = InspectImage::new(name)
        .args(&[
            marker,
            "--print-user",
            "--stat=/inspect",
            "--stat=/",
            "--read-file=/proc/self/uid_map",
            "--write-file=/written-by-app",
            "--content=x",
            "--sleep=30",
            "--silent-sigterm",
        ])
        .build(&ctx.work());
    let pod = ctx.spawn(&["--private-users", img.to_str().unwrap()]);
    let pid = find_process(marker).expect("the app's process on the host");
    let uid = ids(pid, "Uid:");
    let gid = ids(pid, "Gid:");
    let shift = uid[0];
    assert!(uid.iter().all(|u| *u == shift), "{uid:?}");
    assert!(gid.iter().all(|g| *g == shift), "{gid:?}");
    assert!(
        shift >= 1 << 20 && shift.is_multiple_of(65536),
        "host uid {shift}"
    );
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(map_line(&map), [0, shift, 65536]);
    // Root in the pod has no capability over the host's user namespace.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NSpid:"), "{status}");
    let pod_dir = ctx.pod_dir(&pod.uuid).unwrap();
    ctx.rkt(&["stop", &pod.uuid]).ok();
    let out = pod.wait(Duration::from_secs(30));
    (out, shift, pod_dir)
}

/// Files the app wrote, as the host stores them.
fn written_owner(pod_dir: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let walk = walkdir(pod_dir);
    walk.iter()
        .find(|p| p.file_name().is_some_and(|n| n == "written-by-app"))
        .and_then(|p| std::fs::symlink_metadata(p).ok())
        .map(|m| m.uid())
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn pod_root_is_an_unprivileged_host_uid_and_files_stay_root_owned_with_overlay() {
    let ctx = RktCtx::new();
    let marker = "--print-msg=userns-overlay";
    let (out, shift, pod_dir) = run_private(&ctx, "rkt-rs.dev/ft/userns", marker);
    check_inside(&out, shift);
    // Overlay kept: the app's write landed in the pod's upper dir, stored with the shifted id;
    // the store's tree was not chowned.
    assert!(pod_dir.join("overlay").is_dir(), "no overlay dir");
    assert_eq!(written_owner(&pod_dir.join("overlay")), Some(shift as u32));
    use std::os::unix::fs::MetadataExt;
    let trees = ctx.data_dir().join("cas/tree");
    for tree in walkdir(&trees)
        .iter()
        .filter(|p| p.ends_with("rootfs/inspect"))
    {
        assert_eq!(std::fs::metadata(tree).unwrap().uid(), 0, "{tree:?}");
    }
}

#[test]
fn no_overlay_is_refused_with_private_users() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/userns-copy").build(&ctx.work());
    let out = ctx.run(&["--private-users", "--no-overlay", img.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("--private-users") && out.stderr.contains("--no-overlay"),
        "{out:#?}"
    );
}

#[test]
fn each_pod_gets_its_own_range_and_enter_joins_it() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/userns-enter")
        .args(&["--sleep=60", "--silent-sigterm"])
        .build(&ctx.work());
    let a = ctx.spawn(&["--private-users", img.to_str().unwrap()]);
    let b = ctx.spawn(&["--private-users", img.to_str().unwrap()]);
    let enter = |uuid: &str| {
        let out = ctx.rkt(&[
            "enter",
            uuid,
            "/inspect",
            "--print-user",
            "--read-file=/proc/self/uid_map",
        ]);
        out.code(0);
        assert_eq!(out.get("UID"), "0", "{out:#?}");
        map_line(out.get("READ"))
    };
    let (ma, mb) = (enter(&a.uuid), enter(&b.uuid));
    assert_eq!(ma[0], 0);
    assert!(ma[1] >= 1 << 20 && ma[2] == 65536, "{ma:?}");
    assert_ne!(ma[1], mb[1], "two pods share a range");
    for pod in [a, b] {
        ctx.rkt(&["stop", &pod.uuid]).ok();
        pod.wait(Duration::from_secs(30)).ok();
    }
}

#[test]
fn without_the_flag_the_pod_shares_the_hosts_ids() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/userns-off")
        .args(&["--read-file=/proc/self/uid_map"])
        .build(&ctx.work());
    let out = ctx.run(&[&img]);
    out.code(0);
    assert_eq!(map_line(out.get("READ")), [0, 0, 4294967295]);
}
