//! The plan, checked with the recording fake; in-root resolution checked for real (no
//! mounts, so no root needed).

use std::path::{Path, PathBuf};

use aci::manifest::{ImageManifest, PodManifest};

use super::*;
use crate::context::{AppContext, PodContext, RunArgs};

const POD: &str = "/d/pods/run/u1";
const S1: &str = "/d/pods/run/u1/stage1/rootfs";
const ROOT: &str = "/d/pods/run/u1/stage1/rootfs/opt/stage2/web/rootfs";

fn image(mount_points: &str) -> ImageManifest {
    let json = format!(
        r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/web",
        "app":{{"exec":["/bin/web"],"user":"0","group":"0","mountPoints":[{mount_points}]}}}}"#
    );
    ImageManifest::from_slice(json.as_bytes()).unwrap()
}

fn pod(volumes: &str, mounts: &str) -> PodManifest {
    let json = format!(
        r#"{{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{{"name":"web",
        "image":{{"id":"sha512-{}"}},"mounts":[{mounts}]}}],"volumes":[{volumes}]}}"#,
        "a".repeat(64)
    );
    PodManifest::from_slice(json.as_bytes()).unwrap()
}

fn ctx(manifest: PodManifest, image: ImageManifest) -> PodContext {
    let ra = &manifest.apps[0];
    let app = AppContext {
        name: ra.name.clone(),
        app: image.app().unwrap().clone(),
        image,
        tree_id: "deps-sha512-aa".to_string(),
        lower: PathBuf::from("/d/cas/tree/deps-sha512-aa/rootfs"),
        lower_layers: Vec::new(),
        upper: PathBuf::from(POD).join("overlay/deps-sha512-aa/upper/web"),
        work: PathBuf::from(POD).join("overlay/deps-sha512-aa/work/web"),
        root_in_stage1: PathBuf::from("/opt/stage2/web/rootfs"),
        root_on_host: PathBuf::from(ROOT),
        read_only_rootfs: ra.read_only_root_fs,
        mounts: ra.mounts.clone(),
    };
    PodContext {
        pod_dir: PathBuf::from(POD),
        data_dir: PathBuf::from("/d"),
        stage1_root: PathBuf::from(S1),
        stage1_lower: None,
        use_overlay: true,
        apps: vec![app],
        args: RunArgs {
            net: "none".to_string(),
            uuid: "u1".to_string(),
            ..RunArgs::default()
        },
        manifest,
    }
}

fn simple() -> PodContext {
    ctx(pod("", ""), image(""))
}

fn run(ctx: &PodContext, sys: &mut RecordingSys) -> Vec<String> {
    prepare_pod(ctx, sys).unwrap();
    sys.calls.clone()
}

fn pos(calls: &[String], line: &str) -> usize {
    calls
        .iter()
        .position(|c| c == line)
        .unwrap_or_else(|| panic!("no call {line:?} in:\n{}", calls.join("\n")))
}

#[test]
fn order_private_then_stage1_then_app() {
    let calls = run(&simple(), &mut RecordingSys::default());
    assert_eq!(calls[0], "rprivate /");
    assert_eq!(calls[1], format!("bind {S1} {S1}"));
    // The stage1 root gets no /dev at all: nothing after the pivot needs one.
    let s1_dev = format!("{S1}/dev");
    assert!(!calls.iter().any(|c| c.contains(&s1_dev)), "{calls:#?}");
    let s1_proc = pos(
        &calls,
        &format!("mount proc proc {S1}/proc nosuid,nodev,noexec "),
    );
    let overlay = pos(
        &calls,
        &format!(
            "mount overlay overlay {ROOT} - lowerdir=/d/cas/tree/deps-sha512-aa/rootfs:\
             {S1}/usr/lib/rkt/app-skel,upperdir={POD}/overlay/deps-sha512-aa/upper/web,workdir={POD}/overlay/deps-sha512-aa/work/web,volatile"
        ),
    );
    let upper = pos(
        &calls,
        &format!("mkdir-host {POD}/overlay/deps-sha512-aa/upper/web 755 0:0"),
    );
    let app_dev = pos(
        &calls,
        &format!("mount tmpfs tmpfs {ROOT}/dev nosuid,strictatime mode=755,size=65536k"),
    );
    let null = pos(&calls, &format!("mknod {ROOT}/dev/null c 1:3 666"));
    let pts = pos(
        &calls,
        &format!(
            "mount devpts devpts {ROOT}/dev/pts nosuid,noexec newinstance,ptmxmode=0666,mode=0620,gid=5"
        ),
    );
    let app_proc = pos(
        &calls,
        &format!("mount proc proc {ROOT}/proc nosuid,nodev,noexec "),
    );
    let app_sys = pos(
        &calls,
        &format!("mount sysfs sysfs {ROOT}/sys ro,nosuid,nodev,noexec "),
    );
    assert!(s1_proc < upper && upper < overlay);
    assert!(
        overlay < app_dev && app_dev < null && null < pts && pts < app_proc && app_proc < app_sys
    );
    pos(&calls, &format!("symlink {ROOT}/dev/ptmx -> pts/ptmx"));
    pos(&calls, &format!("symlink {ROOT}/dev/fd -> /proc/self/fd"));
    pos(
        &calls,
        &format!("symlink {ROOT}/dev/stderr -> /proc/self/fd/2"),
    );
    pos(
        &calls,
        &format!("mount tmpfs tmpfs {ROOT}/dev/shm nosuid,nodev mode=1777"),
    );
    for (d, major, minor) in paths::DEVICES {
        pos(
            &calls,
            &format!("mknod {ROOT}/dev/{d} c {major}:{minor} 666"),
        );
        // A node, not a mount of the host's.
        assert!(
            !calls
                .iter()
                .any(|c| c.ends_with(&format!("{ROOT}/dev/{d}")))
        );
    }
    // No terminal: no console; no --net=host: resolv.conf untouched; no sys in stage1.
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("console") || c.contains("resolv.conf"))
    );
    assert!(!calls.iter().any(|c| c.contains(&format!("{S1}/sys"))));
}

#[test]
fn masks_proc_and_sys_unless_disabled() {
    let mut sys = RecordingSys {
        files: vec![
            PathBuf::from(ROOT).join("proc/kcore"),
            PathBuf::from(ROOT).join("proc/sysrq-trigger"),
        ],
        missing: vec![PathBuf::from(ROOT).join("proc/kmem")],
        ..RecordingSys::default()
    };
    let calls = run(&simple(), &mut sys);
    pos(&calls, &format!("bind /dev/null {ROOT}/proc/kcore ro"));
    pos(&calls, &format!("bind {ROOT}/proc/sys {ROOT}/proc/sys ro"));
    pos(
        &calls,
        &format!("bind {ROOT}/proc/sysrq-trigger {ROOT}/proc/sysrq-trigger ro"),
    );
    pos(
        &calls,
        &format!("mount tmpfs tmpfs {ROOT}/proc/acpi ro,nosuid,nodev,noexec mode=0,size=4k"),
    );
    // One empty tmpfs per pod; every other hidden directory is a read-only bind of it.
    let empties = calls
        .iter()
        .filter(|c| c.contains("mode=0,size=4k"))
        .count();
    assert_eq!(empties, 1, "{calls:#?}");
    pos(
        &calls,
        &format!("bind {ROOT}/proc/acpi {ROOT}/sys/firmware ro"),
    );
    let hidden_dirs = PROC_HIDDEN
        .iter()
        .map(|d| format!("proc/{d}"))
        .chain(SYS_HIDDEN.iter().map(|d| format!("sys/{d}")))
        .filter(|d| d != "proc/kcore" && d != "proc/kmem" && d != "proc/acpi");
    for d in hidden_dirs {
        pos(&calls, &format!("bind {ROOT}/proc/acpi {ROOT}/{d} ro"));
    }
    assert!(
        !calls.iter().any(|c| c.contains("proc/kmem")),
        "missing entries are skipped"
    );
    // The stage1 root's own /proc is not masked.
    assert!(!calls.iter().any(|c| c.contains(&format!("{S1}/proc/"))));

    let mut c = simple();
    c.args.disable_paths = true;
    let calls = run(&c, &mut RecordingSys::default());
    let masked =
        |c: &String| c.contains(&format!("{ROOT}/proc/")) || c.contains(&format!("{ROOT}/sys/"));
    assert!(!calls.iter().any(masked), "{calls:#?}");
    pos(
        &calls,
        &format!("mount sysfs sysfs {ROOT}/sys ro,nosuid,nodev,noexec "),
    );
}

#[test]
fn tmp_created_sticky_and_console_with_tty() {
    let mut sys = RecordingSys {
        tty: true,
        missing: vec![PathBuf::from(ROOT).join("tmp")],
        ..RecordingSys::default()
    };
    let calls = run(&simple(), &mut sys);
    pos(&calls, &format!("mkdir {ROOT}/tmp 1777"));
    pos(&calls, &format!("bind /dev/pts/7 {ROOT}/dev/console"));
    assert!(
        !calls
            .iter()
            .any(|c| c.contains(&format!("{S1}/dev/console")))
    );
}

#[test]
fn no_overlay_self_binds_and_read_only_root_comes_last() {
    let mut c = simple();
    c.use_overlay = false;
    c.apps[0].read_only_rootfs = true;
    let calls = run(&c, &mut RecordingSys::default());
    pos(&calls, &format!("bind {ROOT} {ROOT}"));
    assert!(!calls.iter().any(|c| c.contains("overlay")));
    assert_eq!(calls.last().unwrap(), &format!("ro {ROOT}"));
}

#[test]
fn volumes_host_empty_and_implicit() {
    let manifest = pod(
        r#"{"name":"data","kind":"host","source":"/srv/data","readOnly":true,"recursive":false},
           {"name":"cache","kind":"empty","mode":"0700","uid":5,"gid":6},
           {"name":"logs","kind":"host","source":"/var/log/x"}"#,
        r#"{"volume":"data","path":"/data"},{"volume":"cache","path":"/data/cache"}"#,
    );
    let img = image(
        r#"{"name":"logs","path":"/var/log","readOnly":true},
           {"name":"scratch","path":"/scratch"},
           {"name":"data","path":"/ignored-since-mount-wins"}"#,
    );
    let c = ctx(manifest, img);
    let mounts = app_mounts(&c.manifest.volumes, &c.apps[0]).unwrap();
    let got: Vec<(String, String, bool)> = mounts
        .iter()
        .map(|m| {
            (
                m.volume.name.to_string(),
                m.target.display().to_string(),
                m.read_only,
            )
        })
        .collect();
    let want = [
        ("data", "data", true),
        ("web-scratch", "scratch", false),
        ("data", "ignored-since-mount-wins", true),
        ("cache", "data/cache", false),
        ("logs", "var/log", true),
    ];
    let want: Vec<(String, String, bool)> = want
        .iter()
        .map(|(a, b, r)| (a.to_string(), b.to_string(), *r))
        .collect();
    assert_eq!(got, want);

    let mut sys = RecordingSys {
        files: vec![PathBuf::from("/var/log/x")],
        missing: vec![PathBuf::from(ROOT).join("scratch")],
        ..RecordingSys::default()
    };
    let calls = run(&c, &mut sys);
    let data = pos(&calls, &format!("bind /srv/data {ROOT}/data ro"));
    let cache = pos(
        &calls,
        &format!("bind {POD}/sharedVolumes/cache {ROOT}/data/cache"),
    );
    assert!(data < cache, "parents mount first");
    pos(
        &calls,
        &format!("mkdir-host {POD}/sharedVolumes/cache 700 5:6"),
    );
    pos(&calls, &format!("bind /var/log/x {ROOT}/var/log rec ro"));
    pos(
        &calls,
        &format!("mkdir-host {POD}/sharedVolumes/web-scratch 755 0:0"),
    );
    pos(&calls, &format!("mkdir {ROOT}/scratch 755"));
    // Volumes come after the app's /dev, /proc, /sys and /etc.
    assert!(
        pos(
            &calls,
            &format!("mount sysfs sysfs {ROOT}/sys ro,nosuid,nodev,noexec ")
        ) < data
    );
}

#[test]
fn volume_errors() {
    let c = ctx(pod("", r#"{"volume":"nope","path":"/x"}"#), image(""));
    let err = prepare_pod(&c, &mut RecordingSys::default()).unwrap_err();
    assert!(
        matches!(&err, SetupError::UnknownVolume { volume, .. } if volume == "nope"),
        "{err}"
    );
    assert!(err.to_string().contains("--volume nope,kind=host"));

    let vols = r#"{"name":"v","kind":"empty"}"#;
    for bad in ["/../etc", "/", "a/../../b"] {
        let m = format!(r#"{{"volume":"v","path":"{bad}"}}"#);
        let c = ctx(pod(vols, &m), image(""));
        let err = prepare_pod(&c, &mut RecordingSys::default()).unwrap_err();
        assert!(matches!(err, SetupError::BadTarget { .. }), "{bad}: {err}");
    }

    let c = ctx(pod(vols, ""), image(""));
    let mut v = c.manifest.volumes[0].clone();
    v.mode = Some("rwx".into());
    let err = volumes::parse_mode(&v).unwrap_err();
    assert!(err.to_string().contains("octal"), "{err}");
    v.mode = Some("1777".into());
    assert_eq!(volumes::parse_mode(&v).unwrap(), 0o1777);

    let c = ctx(
        pod(
            r#"{"name":"v","kind":"host","source":"/gone"}"#,
            r#"{"volume":"v","path":"/x"}"#,
        ),
        image(""),
    );
    let mut sys = RecordingSys {
        missing: vec![PathBuf::from("/gone")],
        ..RecordingSys::default()
    };
    let err = prepare_pod(&c, &mut sys).unwrap_err();
    assert!(err.to_string().contains("/gone"), "{err}");
}

#[test]
fn normalizes_targets() {
    assert_eq!(normalize_target("/a/./b/").unwrap(), Path::new("a/b"));
    assert_eq!(normalize_target("a").unwrap(), Path::new("a"));
    assert!(normalize_target("/a/..").is_err());
    assert!(normalize_target("/.").is_err());
    assert!(normalize_target("/a\0b").is_err());
}

#[test]
fn etc_files_default_and_flags() {
    let hosts_dir = format!("{S1}/tmp/etc/web");
    // Default: hosts only if the image has none; hostname always; resolv.conf untouched.
    let mut sys = RecordingSys {
        missing: vec![PathBuf::from(ROOT).join("etc/hosts")],
        ..RecordingSys::default()
    };
    let calls = run(&simple(), &mut sys);
    let hosts = format!("{HOSTS_FALLBACK}127.0.0.1 rkt-u1\n").replace('\n', "\\n");
    pos(&calls, &format!("write {hosts_dir}/hosts {hosts}"));
    pos(&calls, &format!("touch {ROOT}/etc/hosts 644"));
    pos(&calls, &format!("bind {hosts_dir}/hosts {ROOT}/etc/hosts"));
    pos(&calls, &format!("write {hosts_dir}/hostname rkt-u1\\n"));
    pos(
        &calls,
        &format!("bind {hosts_dir}/hostname {ROOT}/etc/hostname"),
    );
    // The image has a hosts file: kept.
    let calls = run(&simple(), &mut RecordingSys::default());
    assert!(!calls.iter().any(|c| c.contains("etc/hosts")));

    // --net=host: the host's resolv.conf, read-only; --hosts-entry=host likewise.
    let mut c = simple();
    c.args.net = "host".into();
    c.args.hosts_entries = vec!["host".into()];
    let calls = run(&c, &mut RecordingSys::default());
    pos(
        &calls,
        &format!("bind /etc/resolv.conf {ROOT}/etc/resolv.conf ro"),
    );
    pos(&calls, &format!("bind /etc/hosts {ROOT}/etc/hosts ro"));

    // --dns=none wins over --net=host.
    c.args.dns = vec!["none".into()];
    let calls = run(&c, &mut RecordingSys::default());
    assert!(!calls.iter().any(|c| c.contains("resolv.conf")));

    // Generated resolv.conf and hosts entries.
    let mut c = simple();
    c.args.hostname = Some("h1".into());
    c.args.dns = vec!["1.1.1.1".into(), "::1".into()];
    c.args.dns_search = vec!["a.example".into(), "b.example".into()];
    c.args.dns_opt = vec!["ndots:2".into()];
    c.args.dns_domain = Some("example".into());
    c.args.hosts_entries = vec!["10.0.0.1=db".into()];
    let calls = run(&c, &mut RecordingSys::default());
    pos(
        &calls,
        &format!(
            "write {hosts_dir}/resolv.conf nameserver 1.1.1.1\\nnameserver ::1\\nsearch a.example b.example\\noptions ndots:2\\ndomain example\\n"
        ),
    );
    let hosts = format!("{HOSTS_FALLBACK}10.0.0.1 db\n127.0.0.1 h1\n").replace('\n', "\\n");
    pos(&calls, &format!("write {hosts_dir}/hosts {hosts}"));
    pos(
        &calls,
        &format!("bind {hosts_dir}/resolv.conf {ROOT}/etc/resolv.conf"),
    );
}

#[test]
fn etc_flag_errors() {
    type Case = (&'static str, fn(&mut RunArgs));
    let cases: [Case; 6] = [
        ("--dns", |a| a.dns = vec!["host".into(), "1.1.1.1".into()]),
        ("--dns", |a| a.dns = vec!["example.com".into()]),
        ("--dns-search", |a| a.dns_search = vec!["a b".into()]),
        ("--hosts-entry", |a| {
            a.hosts_entries = vec!["10.0.0.1".into()]
        }),
        ("--hosts-entry", |a| a.hosts_entries = vec!["x=db".into()]),
        ("--hostname", |a| a.hostname = Some("a\nb".into())),
    ];
    for (flag, set) in cases {
        let mut c = simple();
        set(&mut c.args);
        let err = prepare_pod(&c, &mut RecordingSys::default()).unwrap_err();
        assert!(
            matches!(&err, SetupError::Flag { flag: f, .. } if f == flag),
            "{flag}: {err}"
        );
    }
}

#[test]
fn enter_makes_usr_read_only_then_pivots() {
    let mut sys = RecordingSys::default();
    enter_stage1_root(&simple(), &mut sys).unwrap();
    assert_eq!(
        sys.calls,
        [
            format!("bind {S1}/usr {S1}/usr rec ro"),
            format!("pivot_root {S1}")
        ]
    );
}

/// Real in-root resolution (no mounts involved).
mod in_root {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        symlink("/etc", root.join("mnt")).unwrap();
        symlink("../../../../../outside", root.join("up")).unwrap();
        symlink("/tmp", root.join("dev")).unwrap();
        symlink("/nowhere", root.join("dangling")).unwrap();
        (tmp, root)
    }

    #[test]
    fn symlinks_stay_in_the_root() {
        let (tmp, root) = tree();
        let mut sys = RealMountSys;
        let file = Some((NodeKind::File, 0o644));
        let t = sys
            .open_in_root(&root, Path::new("mnt/x/y"), Follow::InRoot, file)
            .unwrap();
        assert!(!t.is_dir);
        assert!(
            root.join("etc/x/y").is_file(),
            "created through the link, inside"
        );
        assert!(!Path::new("/etc/x/y").exists());
        let dir = Some((NodeKind::Dir, 0o1777));
        sys.open_in_root(&root, Path::new("up/z"), Follow::InRoot, dir)
            .unwrap();
        assert!(
            root.join("outside/z").is_dir(),
            "`..` is clamped at the root"
        );
        assert!(!tmp.path().join("outside/z").exists());
        let mode = std::fs::metadata(root.join("outside/z"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o1777, "umask does not apply");
    }

    #[test]
    fn never_follow_and_dangling() {
        let (_tmp, root) = tree();
        let mut sys = RealMountSys;
        let dir = Some((NodeKind::Dir, 0o755));
        assert!(
            sys.open_in_root(&root, Path::new("dev"), Follow::Never, dir)
                .is_err()
        );
        assert!(
            sys.open_in_root(&root, Path::new("mnt/q"), Follow::Never, dir)
                .is_err()
        );
        assert!(!root.join("etc/q").exists());
        let err = sys
            .open_in_root(&root, Path::new("dangling"), Follow::InRoot, dir)
            .unwrap_err();
        assert!(err.to_string().contains("dangling"), "{err}");
        assert!(!Path::new("/nowhere").exists());
        let missing = sys.open_in_root(&root, Path::new("nope"), Follow::InRoot, None);
        assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn symlinks_and_host_files() {
        let (tmp, root) = tree();
        let mut sys = RealMountSys;
        sys.symlink_in_root(&root, Path::new("mnt/ptmx"), "pts/ptmx")
            .unwrap();
        assert_eq!(
            std::fs::read_link(root.join("etc/ptmx")).unwrap(),
            Path::new("pts/ptmx")
        );
        let f = tmp.path().join("a/b/file");
        sys.write_host_file(&f, b"one").unwrap();
        sys.write_host_file(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        let d = tmp.path().join("vols/v");
        sys.mkdir_host(&d, 0o700, 0, 0).unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o700);
    }
}

/// User namespaces, OCI layers, the stage1 root overlay, shared masks, the two set-up phases.
mod layers;
