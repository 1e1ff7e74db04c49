use super::limits::{AppLimits, oom_kills, shares_to_weight};
use super::*;
use aci::isolator::{self, IsolatorValue};

const UUID: &str = "1f2e3d4c-0000-4abc-8def-0123456789ab";

fn iso(name: &str, value: serde_json::Value) -> IsolatorValue {
    isolator::parse(name, &value).unwrap()
}

#[test]
fn scope_name_escapes_like_systemd() {
    assert_eq!(
        pod_scope_name(UUID),
        "machine-rkt\\x2d1f2e3d4c\\x2d0000\\x2d4abc\\x2d8def\\x2d0123456789ab.scope"
    );
    assert_eq!(escape_unit("a/b.c d"), "a-b.c\\x20d");
    assert_eq!(escape_unit(".x:y_z"), "\\x2ex:y_z");
}

const MOUNTINFO: &str = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
25 22 0:21 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
26 25 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
27 25 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:24 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
29 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
31 25 0:27 /sub /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
";

const PROC_CGROUP: &str = "\
9:name=systemd:/system.slice/x.service
8:pids:/elsewhere
4:memory:/process_api/abc
3:cpuset:/
2:cpu,cpuacct:/system.slice/x.service
0::/system.slice/x.service
";

#[test]
fn discovers_used_hierarchies_and_own_cgroups() {
    let got = discover(MOUNTINFO, PROC_CGROUP);
    let own: Vec<&str> = got.iter().map(|h| h.own.to_str().unwrap()).collect();
    assert_eq!(
        own,
        [
            "/sys/fs/cgroup/cpu,cpuacct/system.slice/x.service",
            "/sys/fs/cgroup/memory/process_api/abc",
            "/sys/fs/cgroup/systemd/system.slice/x.service",
            "/sys/fs/cgroup/unified/system.slice/x.service",
        ],
        "cpuset is not used; pids is mounted from /sub, which does not hold /elsewhere"
    );
    assert_eq!(got[0].controllers, ["cpu", "cpuacct"]);
    assert_eq!(got[3].version, Version::V2);
    assert_eq!(got[2].relative, Path::new("/system.slice/x.service"));

    // In a systemd container the v1 controllers are mounted read-only: skipped.
    let ro = MOUNTINFO.replace(
        "/sys/fs/cgroup/memory rw",
        "/sys/fs/cgroup/memory ro,nosuid",
    );
    let got = discover(&ro, PROC_CGROUP);
    assert!(
        got.iter()
            .all(|h| !h.own.starts_with("/sys/fs/cgroup/memory"))
    );
    assert_eq!(got.len(), 3);
}

#[test]
fn a_read_only_devices_hierarchy_is_a_container_managers_guard() {
    let devices = "32 25 0:28 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n";
    assert!(!readonly_devices_hierarchy(MOUNTINFO));
    assert!(!readonly_devices_hierarchy(&format!(
        "{MOUNTINFO}{devices}"
    )));
    let ro = devices.replace("devices rw", "devices ro,nosuid");
    assert!(readonly_devices_hierarchy(&format!("{MOUNTINFO}{ro}")));
    // Read-only, but another controller.
    let mem = MOUNTINFO.replace("/sys/fs/cgroup/memory rw", "/sys/fs/cgroup/memory ro");
    assert!(!readonly_devices_hierarchy(&mem));
}

#[test]
fn limits_from_isolators_to_v1_and_v2_values() {
    let lim = AppLimits::from_isolators(&[
        iso("resource/memory", serde_json::json!({"limit": "50M"})),
        iso("resource/cpu", serde_json::json!({"limit": "250m"})),
        iso("os/linux/cpu-shares", serde_json::json!(512)),
        iso("os/linux/oom-score-adj", serde_json::json!(5)),
    ]);
    assert_eq!(
        lim,
        AppLimits {
            memory: Some(50_000_000),
            cpu_milli: Some(250),
            cpu_shares: Some(512),
        }
    );
    let v1: Vec<(&str, String)> = lim.v1().into_iter().map(|s| (s.file, s.value)).collect();
    let v1: Vec<(&str, &str)> = v1.iter().map(|(f, v)| (*f, v.as_str())).collect();
    assert_eq!(
        v1,
        [
            ("memory.limit_in_bytes", "50000000"),
            ("memory.memsw.limit_in_bytes", "50000000"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "25000"),
            ("cpu.shares", "512"),
        ]
    );
    let v2: Vec<(String, String)> = lim
        .v2()
        .into_iter()
        .map(|s| (s.file.to_string(), s.value))
        .collect();
    let want = [
        ("memory.max", "50000000"),
        ("memory.swap.max", "0"),
        ("cpu.max", "25000 100000"),
        ("cpu.weight", "20"),
    ];
    assert_eq!(
        v2,
        want.map(|(f, v)| (f.to_string(), v.to_string())).to_vec()
    );
    assert!(AppLimits::from_isolators(&[]).is_empty());
}

#[test]
fn quantities_round_and_clamp() {
    let lim = AppLimits::from_isolators(&[
        iso("resource/memory", serde_json::json!({"limit": "1Gi"})),
        iso("resource/cpu", serde_json::json!({"limit": "2"})),
    ]);
    assert_eq!(lim.memory, Some(1 << 30));
    assert_eq!(
        lim.v2()[2].value,
        "200000 100000",
        "2 CPUs = 200 ms per 100 ms"
    );
    let tiny = AppLimits {
        cpu_milli: Some(1),
        cpu_shares: Some(1),
        ..AppLimits::default()
    };
    let v1 = tiny.v1();
    assert_eq!(v1[1].value, "1000", "the kernel's minimum quota");
    assert_eq!(v1[2].value, "2", "shares are clamped to 2..");
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(1 << 30), 10_000);
}

#[test]
fn oom_counters() {
    assert_eq!(
        oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
        2
    );
    let events = "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n";
    assert_eq!(oom_kills(events), 1);
    assert_eq!(oom_kills("oom_kill_disable 0\n"), 0);
}

/// A fake host: a v2 tree whose caller's cgroup delegates `memory` and `pids` (not `cpu`), and
/// a v1 memory + pids + devices tree.
fn fake_tree(root: &Path) -> Vec<Hierarchy> {
    let v2 = root.join("unified/caller");
    fs::create_dir_all(&v2).unwrap();
    fs::write(v2.join("cgroup.subtree_control"), "memory pids\n").unwrap();
    let v1 = root.join("memory/caller");
    fs::create_dir_all(&v1).unwrap();
    vec![
        Hierarchy {
            version: Version::V1,
            controllers: vec!["memory".into(), "pids".into(), "devices".into()],
            own: v1,
            relative: "/caller".into(),
        },
        Hierarchy {
            version: Version::V2,
            controllers: Vec::new(),
            own: v2,
            relative: "/caller".into(),
        },
    ]
}

fn read(p: PathBuf) -> String {
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn writes_pod_and_app_cgroups_in_a_fake_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let hs = fake_tree(tmp.path());
    let lim = AppLimits {
        memory: Some(1 << 20),
        cpu_milli: None,
        cpu_shares: None,
    };
    let mut apps = vec![
        ("web".to_string(), lim),
        ("db".into(), AppLimits::default()),
    ];
    let record = tmp.path().join("record");
    // No hierarchy has cpu: a cpu limit fails the start before anything is made.
    apps[1].1.cpu_milli = Some(500);
    let err = create(&hs, UUID, &apps, Some(64), &record).unwrap_err();
    assert!(
        matches!(&err, CgroupError::NotDelegated { app, controller: "cpu", .. } if app == "db"),
        "{err}"
    );
    apps[1].1.cpu_milli = None;
    let made = create(&hs, UUID, &apps, Some(64), &record).unwrap();
    let scope = pod_scope_name(UUID);
    let v2 = tmp.path().join("unified/caller").join(&scope);
    let v1 = tmp.path().join("memory/caller").join(&scope);
    assert_eq!(made.v2_enabled, ["memory", "pids"]);
    assert_eq!(read(v2.join("cgroup.subtree_control")), "+memory +pids");
    assert_eq!(read(v2.join("pids.max")), "64");
    assert_eq!(read(v2.join("web/memory.max")), "1048576");
    assert!(!v2.join("web/memory.swap.max").exists(), "optional, absent");
    assert!(v2.join(STAGE1_LEAF).is_dir() && v2.join("db").is_dir());
    assert!(!v2.join("db/memory.max").exists());
    assert_eq!(read(v1.join("pids.max")), "64");
    assert_eq!(read(v1.join("web/memory.limit_in_bytes")), "1048576");
    assert!(
        !v1.join("web/cpu.cfs_quota_us").exists(),
        "no cpu controller"
    );
    assert_eq!(read(v1.join("db/devices.deny")), "a");
    assert_eq!(read(v1.join("db/devices.allow")), DEVICE_ALLOW[10]);
    assert_eq!(
        read(record),
        format!("{}\n{}\n", v1.display(), v2.display())
    );
    assert_eq!(made.subcgroup().unwrap(), format!("caller/{scope}"));

    // PID 1 is placed by pid; v2 is skipped when the clone put it there.
    made.place_stage1(1234, true).unwrap();
    assert_eq!(read(v1.join(STAGE1_LEAF).join("cgroup.procs")), "1234");
    assert!(!v2.join(STAGE1_LEAF).join("cgroup.procs").exists());
    made.place_stage1(1235, false).unwrap();
    assert_eq!(read(v2.join(STAGE1_LEAF).join("cgroup.procs")), "1235");
    assert!(made.stage1_dir().is_some());
    for dir in [&v1, &v2] {
        fs::write(dir.join("web/cgroup.procs"), "").unwrap();
    }
    fs::write(v1.join("web/memory.oom_control"), "oom_kill 3\n").unwrap();
    fs::write(v2.join("web/memory.events"), "oom 1\noom_kill 1\n").unwrap();
    let app = made.open_app("web").unwrap();
    assert_eq!(app.procs.len(), 1, "v1 only");
    assert!(app.v2_procs.is_some() && app.v2_dir.is_some());
    let (dir_fd, v1_fds, v2_fd) = app.raw_fds();
    assert!(dir_fd.is_some() && v2_fd.is_some() && v1_fds.len() == 1);
    // Both trees have memory here (never on a real host): the last one read wins.
    assert_eq!(read_oom_kills(app.oom.as_ref().unwrap()), 1);
}

#[test]
fn v2_without_delegation_only_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let hs: Vec<Hierarchy> = fake_tree(tmp.path()).into_iter().skip(1).collect();
    fs::write(hs[0].own.join("cgroup.subtree_control"), "").unwrap();
    let lim = AppLimits {
        memory: Some(4096),
        ..AppLimits::default()
    };
    let record = tmp.path().join("r");
    // A limit nothing enforces is an error, not an unlimited app.
    let err = create(&hs, UUID, &[("a".into(), lim)], Some(10), &record).unwrap_err();
    assert!(err.to_string().contains("Delegate=yes"), "{err}");
    let made = create(
        &hs,
        UUID,
        &[("a".into(), AppLimits::default())],
        Some(10),
        &record,
    )
    .unwrap();
    let pod = hs[0].own.join(pod_scope_name(UUID));
    assert!(made.v2_enabled.is_empty());
    assert!(!pod.join("cgroup.subtree_control").exists());
    assert!(!pod.join("pids.max").exists());
    assert!(!pod.join("a/memory.max").exists());
    assert!(pod.join("a").is_dir());
}

#[test]
fn gc_removes_recorded_cgroups_deepest_first_and_refuses_foreign_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let record = tmp.path().join("cgroups");
    assert_eq!(remove_recorded(&record, UUID).unwrap(), 0, "no record");
    // Real cgroup directories are removable with files in them; a temp dir is not, so the
    // fake tree here holds directories only.
    let pod = tmp.path().join("cpu").join(pod_scope_name(UUID));
    for sub in ["a", "b/c", STAGE1_LEAF] {
        fs::create_dir_all(pod.join(sub)).unwrap();
    }
    let gone = tmp.path().join("memory").join(pod_scope_name(UUID));
    fs::write(&record, format!("{}\n{}\n", pod.display(), gone.display())).unwrap();
    assert_eq!(remove_recorded(&record, UUID).unwrap(), 5);
    assert!(!pod.exists());
    assert_eq!(remove_recorded(&record, UUID).unwrap(), 0, "idempotent");

    // A recorded supervisor leaf goes too, after the pod's cgroups.
    let leaf = tmp.path().join("unit").join(delegate::SUPERVISOR_LEAF);
    fs::create_dir_all(&leaf).unwrap();
    fs::write(&record, format!("supervisor {}\n", leaf.display())).unwrap();
    assert_eq!(remove_recorded(&record, UUID).unwrap(), 1);
    assert!(!leaf.exists() && tmp.path().join("unit").exists());

    fs::write(&record, format!("{}\n", tmp.path().display())).unwrap();
    let err = remove_recorded(&record, UUID).unwrap_err();
    assert!(matches!(err, CgroupError::Foreign { .. }), "{err}");
    assert!(tmp.path().exists());
}

#[test]
fn enter_joins_the_apps_cgroups() {
    let tmp = tempfile::tempdir().unwrap();
    let record = tmp.path().join("cgroups");
    assert_eq!(
        join_app(&record, "web").unwrap(),
        0,
        "no record: nothing to join"
    );
    let hs = fake_tree(tmp.path());
    let made = create(
        &hs,
        UUID,
        &[("web".into(), AppLimits::default())],
        None,
        &record,
    )
    .unwrap();
    assert_eq!(join_app(&record, "web").unwrap(), 2);
    for (_, dir) in &made.pod_dirs {
        assert_eq!(read(dir.join("web/cgroup.procs")), "0");
    }
    assert!(join_app(&record, "nope").is_err(), "an app without cgroups");
}

#[test]
fn a_lone_caller_moves_into_a_supervisor_leaf_and_records_it() {
    let tmp = tempfile::tempdir().unwrap();
    let hs: Vec<Hierarchy> = fake_tree(tmp.path()).into_iter().skip(1).collect();
    let unit = &hs[0].own;
    fs::write(unit.join("cgroup.controllers"), "memory pids\n").unwrap();
    fs::write(unit.join("cgroup.subtree_control"), "").unwrap();
    fs::write(
        unit.join("cgroup.procs"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    let record = tmp.path().join("r");
    let made = create(&hs, UUID, &[], None, &record).unwrap();
    let leaf = unit.join(delegate::SUPERVISOR_LEAF);
    assert_eq!(made.supervisor.as_ref(), Some(&leaf));
    assert_eq!(read(leaf.join("cgroup.procs")), "0", "moved itself");
    // A plain file keeps the last write: each controller is enabled on its own.
    assert_eq!(read(unit.join("cgroup.subtree_control")), "+pids");
    let pod = unit.join(pod_scope_name(UUID));
    assert_eq!(
        read(record),
        format!("{}\nsupervisor {}\n", pod.display(), leaf.display())
    );
}

#[test]
fn pids_limit_env() {
    // The only test touching this variable.
    // SAFETY: no other test reads or writes it.
    unsafe { std::env::remove_var(PIDS_LIMIT_ENV) };
    assert_eq!(pids_limit_from_env().unwrap(), Some(DEFAULT_PIDS_LIMIT));
    for (v, want) in [("max", None), ("12", Some(12))] {
        unsafe { std::env::set_var(PIDS_LIMIT_ENV, v) };
        assert_eq!(pids_limit_from_env().unwrap(), want);
    }
    for bad in ["0", "-1", "x"] {
        unsafe { std::env::set_var(PIDS_LIMIT_ENV, bad) };
        assert!(pids_limit_from_env().is_err(), "{bad}");
    }
    unsafe { std::env::remove_var(PIDS_LIMIT_ENV) };
}
