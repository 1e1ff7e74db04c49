//! cgroups (issue 7): a cgroup per pod and per app, the resource isolators written into them,
//! OOM kills reported by `rkt status`, the pods' pids limit, and `rkt gc` removing them all.
//! Limits are read from the host side: `/sys/fs/cgroup` is hidden inside the pod.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use functional_tests::ctx::output;
use functional_tests::{InspectImage, Out, RktCtx};

/// Each `CGROUP=id:controllers:path` line the probe printed: controllers → path.
fn cgroups(out: &Out) -> BTreeMap<String, String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("CGROUP="))
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            Some((ctrl.to_string(), path.to_string()))
        })
        .collect()
}

/// The host directory of a cgroup path in the hierarchy mounted with `ctrl` (v2 for "").
fn host_dir(ctrl: &str, path: &str) -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-").unwrap();
        let (root, mnt, fstype, opts) = (f[3], f[4], f[sep + 1], f[sep + 3]);
        let hit = match ctrl {
            "" => fstype == "cgroup2",
            c => fstype == "cgroup" && c.split(',').all(|c| opts.split(',').any(|o| o == c)),
        };
        if hit {
            let below = Path::new(path).strip_prefix(root).unwrap();
            return Path::new(mnt).join(below);
        }
    }
    panic!("no hierarchy for {ctrl:?}");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn scope(uuid: &str) -> String {
    functional_tests::pod_scope(uuid)
}

fn uuid_of(ctx: &RktCtx, file: &Path) -> String {
    let uuid = std::fs::read_to_string(file).unwrap().trim().to_string();
    assert!(ctx.pod_dir(&uuid).is_some(), "no pod {uuid}");
    uuid
}

/// The pod cgroup directories stage1 recorded.
fn recorded(ctx: &RktCtx, uuid: &str) -> Vec<PathBuf> {
    let dir = ctx.pod_dir(uuid).unwrap();
    read(&dir.join("cgroups"))
        .lines()
        .map(PathBuf::from)
        .collect()
}

fn gc_removes(ctx: &RktCtx, uuid: &str, dirs: &[PathBuf]) {
    assert!(dirs.iter().all(|d| d.is_dir()), "{dirs:?}");
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert!(ctx.pod_dir(uuid).is_none(), "pod {uuid} was not collected");
    let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left after gc: {left:?}");
}

#[test]
fn app_cgroup_below_the_pod_with_limits_and_gc_removes_it() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/cg-limits")
        .args(&[
            "--print-cgroup",
            "--read-file=/proc/self/oom_score_adj",
            "--write-file=/sys/fs/cgroup/pids/tasks",
        ])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let out = ctx.run(&[
        format!("--uuid-file-save={}", uuid_file.display()).as_str(),
        img.to_str().unwrap(),
        "--memory=64Mi",
        "--cpu=250m",
        "--cpu-shares=512",
        "--oom-score-adj=345",
    ]);
    out.code(1); // the write below fails, everything else works
    assert_eq!(out.get("READ"), "345", "oom-score-adj is applied");
    // The cgroup trees are hidden (so read-only) inside the pod.
    assert!(!out.stdout.contains("WROTE="), "{out:#?}");
    assert!(out.get("ERROR").contains("/sys/fs/cgroup"), "{out:#?}");
    let uuid = uuid_of(&ctx, &uuid_file);
    let scope = scope(&uuid);
    let app = "cg-limits";
    let cg = cgroups(&out);
    for ctrl in [
        "cpu",
        "cpuacct",
        "memory",
        "pids",
        "devices",
        "name=systemd",
        "",
    ] {
        let Some((_, path)) = cg.iter().find(|(c, _)| c.split(',').any(|x| x == ctrl)) else {
            assert!(
                ctrl.is_empty() || ctrl == "devices",
                "no {ctrl} line: {out:#?}"
            );
            continue;
        };
        assert!(
            path.ends_with(&format!("/{scope}/{app}")),
            "{ctrl}: {path} is not the app's cgroup below the pod's"
        );
    }
    let host = |ctrl: &str, file: &str| {
        let (c, path) = cg
            .iter()
            .find(|(c, _)| c.split(',').any(|x| x == ctrl))
            .unwrap();
        read(&host_dir(c, path).join(file))
    };
    assert_eq!(host("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(host("cpu", "cpu.cfs_quota_us"), "25000");
    assert_eq!(host("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(host("cpu", "cpu.shares"), "512");
    assert_eq!(
        host("pids", "../pids.max"),
        "4096",
        "the pod's default pids limit"
    );
    if cg.keys().any(|c| c == "devices") {
        let list = host("devices", "devices.list");
        assert!(
            list.contains("c 1:3 rwm") && !list.contains("a *:* rwm"),
            "{list}"
        );
    }
    let pod_dir = ctx.pod_dir(&uuid).unwrap();
    let sub = read(&pod_dir.join("subcgroup"));
    assert!(sub.ends_with(&scope) && !sub.starts_with('/'), "{sub}");
    let dirs = recorded(&ctx, &uuid);
    assert!(dirs.len() >= 4, "{dirs:?}");
    assert!(dirs.iter().all(|d| d.ends_with(&scope)));
    assert!(dirs.iter().all(|d| d.join("stage1.scope").is_dir()));
    gc_removes(&ctx, &uuid, &dirs);
}

#[test]
fn enter_joins_the_apps_cgroup() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/cg-enter")
        .args(&["--print-cgroup", "--silent-sigterm", "--sleep=60"])
        .build(&ctx.work());
    let pod = ctx.spawn(&[img]);
    let out = ctx.rkt(&["enter", &pod.uuid, "/inspect", "--print-cgroup"]);
    out.ok();
    let scope = scope(&pod.uuid);
    let cg = cgroups(&out);
    let memory = cg.iter().find(|(c, _)| c.as_str() == "memory").unwrap().1;
    assert!(memory.ends_with(&format!("/{scope}/cg-enter")), "{out:#?}");
    assert!(cg[""].ends_with(&format!("/{scope}/cg-enter")), "{out:#?}");
    ctx.rkt(&["stop", &pod.uuid]).ok();
    pod.wait(Duration::from_secs(20)).ok();
}

#[test]
fn oom_killed_app_is_reported() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/cg-oom")
        .args(&["--alloc=512"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let out = ctx.run(&[
        format!("--uuid-file-save={}", uuid_file.display()).as_str(),
        img.to_str().unwrap(),
        "--memory=32Mi",
    ]);
    out.code(137);
    assert!(out.stderr.contains("OOM killer"), "{out:#?}");
    let uuid = uuid_of(&ctx, &uuid_file);
    let st = ctx.status(&uuid);
    assert_eq!(
        st.get("app-cg-oom").map(String::as_str),
        Some("137"),
        "{st:?}"
    );
    assert_eq!(
        st.get("app-cg-oom-oom-killed").map(String::as_str),
        Some("true"),
        "{st:?}"
    );

    // Without a limit the same probe is not killed, and nothing is reported.
    let small = InspectImage::new("rkt-rs.dev/ft/cg-fits")
        .args(&["--alloc=16"])
        .build(&ctx.work());
    let out = ctx.run(&[
        format!("--uuid-file-save={}", uuid_file.display()).as_str(),
        small.to_str().unwrap(),
        "--memory=64Mi",
    ]);
    out.ok();
    let st = ctx.status(&uuid_of(&ctx, &uuid_file));
    assert!(!st.contains_key("app-cg-fits-oom-killed"), "{st:?}");
}

#[test]
fn pids_limit_stops_a_fork_bomb_in_the_pod_only() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/cg-forks")
        .args(&["--fork-bomb=300"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let mut cmd = ctx.command(&[
        "--insecure-options=image",
        "run",
        "--net=none",
        format!("--uuid-file-save={}", uuid_file.display()).as_str(),
        img.to_str().unwrap(),
    ]);
    cmd.env("RKT_STAGE1_PIDS_LIMIT", "40");
    let out = output(cmd, Duration::from_secs(60));
    out.ok();
    let forked: usize = out.get("FORKED").parse().unwrap();
    assert!(forked > 0 && forked < 40, "{out:#?}");
    assert_eq!(out.get("FORK_ERROR"), libc::EAGAIN.to_string());
    let uuid = uuid_of(&ctx, &uuid_file);
    let dirs = recorded(&ctx, &uuid);
    let pids = dirs
        .iter()
        .find(|d| d.join("pids.max").exists())
        .expect("a pids hierarchy");
    assert_eq!(read(&pids.join("pids.max")), "40");
    // The host is not limited: it forks past the pod's limit at the same time.
    let children: Vec<std::process::Child> = (0..50)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("0.2")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        c.wait().unwrap();
    }
    gc_removes(&ctx, &uuid, &dirs);
}

#[test]
fn bad_pids_limit_is_refused() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/cg-badpids").build(&ctx.work());
    let mut cmd = ctx.command(&[
        "--insecure-options=image",
        "run",
        "--net=none",
        img.to_str().unwrap(),
    ]);
    cmd.env("RKT_STAGE1_PIDS_LIMIT", "lots");
    let out = output(cmd, Duration::from_secs(60));
    out.code(254);
    assert!(out.stderr.contains("RKT_STAGE1_PIDS_LIMIT"), "{out:#?}");
}

#[test]
fn pids_limit_flag_contains_a_fork_bomb() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/cg-forks-flag")
        .args(&["--fork-bomb=300"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let out = ctx.rkt(&[
        "--insecure-options=image",
        "run",
        "--net=none",
        "--pids-limit=30",
        format!("--uuid-file-save={}", uuid_file.display()).as_str(),
        img.to_str().unwrap(),
    ]);
    out.ok();
    let forked: usize = out.get("FORKED").parse().unwrap();
    assert!(forked > 0 && forked < 30, "{out:#?}");
    assert_eq!(out.get("FORK_ERROR"), libc::EAGAIN.to_string());
    let uuid = uuid_of(&ctx, &uuid_file);
    let dirs = recorded(&ctx, &uuid);
    let pids = dirs
        .iter()
        .find(|d| d.join("pids.max").exists())
        .expect("a pids hierarchy");
    assert_eq!(read(&pids.join("pids.max")), "30");
    gc_removes(&ctx, &uuid, &dirs);
    let bad = ctx.rkt(&[
        "--insecure-options=image",
        "run",
        "--pids-limit=0",
        img.to_str().unwrap(),
    ]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("--pids-limit"), "{bad:#?}");
}
