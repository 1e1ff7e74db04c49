//! `prepare_pod` and `enter_stage1_root` for real, as root, in a throw-away mount + pid
//! namespace: the test binary re-runs itself as PID 1 of a new pid namespace (in a new mount
//! namespace), which builds the pod and checks it from inside. The host's mount table is
//! checked from outside before, during and after.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stage1::context::{PodContext, RunArgs};
use stage1::setup::{RealMountSys, enter_stage1_root, prepare_pod};

const STAGE: &str = "RKT_SETUP_ROOT_STAGE";
const DIR: &str = "RKT_SETUP_ROOT_DIR";
const HOST_PID: &str = "RKT_SETUP_ROOT_HOST_PID";
const UUID: &str = "0c9a7d3e-1111-2222-3333-444455556666";
const TREE: &str = "deps-sha512-0123abcd";
const TREE2: &str = "deps-sha512-4567abcd";

fn rerun(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    cmd.stdin(Stdio::null());
    cmd
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn image_json(name: &str, mount_points: &str) -> String {
    format!(
        r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/{name}",
        "app":{{"exec":["/hello"],"user":"0","group":"0","mountPoints":[{mount_points}]}}}}"#
    )
}

/// `<tmp>/pods/run/<uuid>` with two apps: `web` (overlay, volumes, `mnt -> /etc`) and
/// `ro` (read-only root, `etc -> /real-etc`).
fn fixture(tmp: &Path) -> PathBuf {
    let pod = tmp.join("pods/run").join(UUID);
    for (tree, files) in [(TREE, true), (TREE2, false)] {
        let rootfs = tmp.join("cas/tree").join(tree).join("rootfs");
        write(&rootfs.join("hello"), "hello from the image\n");
        if files {
            write(&rootfs.join("etc/passwd"), "root:x:0:0::/:/bin/sh\n");
            symlink("/etc", rootfs.join("mnt")).unwrap();
        } else {
            std::fs::create_dir_all(rootfs.join("real-etc")).unwrap();
            symlink("/real-etc", rootfs.join("etc")).unwrap();
        }
    }
    write(&tmp.join("hostvol/data"), "host data\n");
    write(&tmp.join("hostvol2/marker"), "marker\n");
    let sha = "a".repeat(64);
    let manifest = format!(
        r#"{{"acKind":"PodManifest","acVersion":"0.8.11",
        "apps":[
          {{"name":"web","image":{{"id":"sha512-{sha}"}},
            "mounts":[{{"volume":"data","path":"/srv/data"}},{{"volume":"etcvol","path":"/mnt/vol"}}]}},
          {{"name":"ro","image":{{"id":"sha512-{sha}"}},"readOnlyRootFS":true,
            "mounts":[{{"volume":"shared","path":"/shared"}}]}}],
        "volumes":[
          {{"name":"data","kind":"host","source":"{}","readOnly":true}},
          {{"name":"etcvol","kind":"host","source":"{}"}},
          {{"name":"shared","kind":"empty","mode":"0770","uid":7,"gid":8}}]}}"#,
        tmp.join("hostvol").display(),
        tmp.join("hostvol2").display()
    );
    write(&pod.join("pod"), &manifest);
    for (app, tree, mps) in [
        (
            "web",
            TREE,
            r#"{"name":"shared","path":"/shared"},{"name":"cache","path":"/cache"}"#,
        ),
        ("ro", TREE2, r#"{"name":"shared","path":"/shared"}"#),
    ] {
        write(
            &pod.join("appsinfo").join(app).join("manifest"),
            &image_json(app, mps),
        );
        write(&pod.join("appsinfo").join(app).join("treeStoreID"), tree);
        let s2 = pod.join("stage1/rootfs/opt/stage2").join(app);
        std::fs::create_dir_all(s2.join("rootfs")).unwrap();
    }
    for dir in [
        "usr/lib/rkt/stage1",
        "rkt",
        "proc",
        "dev",
        "sys",
        "tmp",
        "etc",
    ] {
        std::fs::create_dir_all(pod.join("stage1/rootfs").join(dir)).unwrap();
    }
    write(
        &pod.join("stage1/rootfs/usr/lib/rkt/stage1/rkt-stage1"),
        "binary\n",
    );
    write(&pod.join("overlay-prepared"), "");
    std::fs::create_dir_all(pod.join("sharedVolumes")).unwrap();
    pod
}

fn host_mounts_under(pid: &str, dir: &Path) -> Vec<String> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let dir = dir.to_str().unwrap();
    table
        .lines()
        .filter(|l| l.contains(dir))
        .map(String::from)
        .collect()
}

/// Runs `test` again as PID 1 of new mount + pid namespaces with `scenario`; returns its
/// output once it succeeded.
fn run_isolated(test: &str, scenario: &str, tmp_path: &Path) -> String {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (run `make test` as root)"
    );
    let mut cmd = rerun(test);
    cmd.env(STAGE, scenario)
        .env(DIR, tmp_path)
        .env(HOST_PID, std::process::id().to_string());
    // The unshared process cannot start threads (its children are in another pid namespace),
    // so it forks once more: the child, PID 1 there, execs the test; it waits and relays.
    // SAFETY: only async-signal-safe calls (unshare, fork, waitpid, _exit) before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            match libc::fork() {
                -1 => Err(std::io::Error::last_os_error()),
                0 => Ok(()),
                pid => {
                    let mut status = 0;
                    libc::waitpid(pid, &mut status, 0);
                    let code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128
                    };
                    libc::_exit(code)
                }
            }
        });
    }
    let out = cmd.output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the isolated run failed:\n{log}");
    assert!(
        log.contains("INNER CHECKS PASSED"),
        "the inner checks did not run:\n{log}"
    );
    log
}

#[test]
fn prepare_pod_for_real() {
    if std::env::var(STAGE).as_deref() == Ok("inner") {
        return inner();
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = std::fs::canonicalize(tmp.path()).unwrap();
    fixture(&tmp_path);
    let me = std::process::id().to_string();
    let host_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    run_isolated("prepare_pod_for_real", "inner", &tmp_path);
    let host_after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(host_mounts_under(&me, &tmp_path), Vec::<String>::new());
    let ours = |t: &str| {
        t.lines()
            .filter(|l| l.contains(tmp_path.to_str().unwrap()))
            .count()
    };
    assert_eq!(ours(&host_before), ours(&host_after));
    assert!(!Path::new("/etc/vol").exists() && !Path::new("/etc/marker").exists());
    assert!(!Path::new("/real-etc").exists());
    // Data the pod wrote through its binds/overlay stays in the pod dir, nowhere else.
    let pod = tmp_path.join("pods/run").join(UUID);
    assert!(
        pod.join("overlay")
            .join(TREE)
            .join("upper/web/written")
            .is_file()
    );
    let shared = std::fs::metadata(pod.join("sharedVolumes/shared")).unwrap();
    assert_eq!(shared.permissions().mode() & 0o7777, 0o770);
    drop(tmp);
}

fn expect_err(result: std::io::Result<()>, kind: ErrorKind, what: &str) {
    match result {
        Ok(()) => panic!("{what}: succeeded"),
        Err(e) => assert_eq!(e.kind(), kind, "{what}: {e}"),
    }
}

fn inner() {
    assert_eq!(
        std::process::id(),
        1,
        "inner runs as PID 1 of the pod's pid namespace"
    );
    let tmp = PathBuf::from(std::env::var(DIR).unwrap());
    let pod = tmp.join("pods/run").join(UUID);
    let args = RunArgs::parse(&[
        "--net=none".to_string(),
        "--hostname=podhost".to_string(),
        "--dns=9.9.9.9".to_string(),
        UUID.to_string(),
    ])
    .unwrap();
    let ctx = PodContext::load(&pod, args).unwrap();
    let mut sys = RealMountSys;
    prepare_pod(&ctx, &mut sys).unwrap();
    let host_pid = std::env::var(HOST_PID).unwrap();
    assert_eq!(
        host_mounts_under(&host_pid, &tmp),
        Vec::<String>::new(),
        "the host sees none of the pod's mounts"
    );
    check_app_web(&ctx.apps[0].root_on_host, &tmp);
    check_app_ro(&ctx.apps[1].root_on_host);

    enter_stage1_root(&ctx, &mut sys).unwrap();
    let hello = std::fs::read_to_string("/opt/stage2/web/rootfs/hello").unwrap();
    assert_eq!(hello, "hello from the image\n");
    expect_err(
        std::fs::write("/usr/x", ""),
        ErrorKind::ReadOnlyFilesystem,
        "write in /usr",
    );
    std::fs::write("/tmp/stage1-tmp-is-writable", "").unwrap();
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    // Mount points (field 5) are all inside the new root; the old root is gone.
    let points: Vec<&str> = table.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    assert_eq!(points.iter().filter(|p| **p == "/").count(), 1, "{table}");
    assert!(points.contains(&"/usr") && points.contains(&"/opt/stage2/web/rootfs/srv/data"));
    assert!(
        !points.iter().any(|p| p.contains(tmp.to_str().unwrap())),
        "{table}"
    );
    assert!(std::env::current_dir().unwrap() == Path::new("/"));
    println!("INNER CHECKS PASSED");
}

fn check_app_web(root: &Path, tmp: &Path) {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = table
        .lines()
        .find(|l| l.contains(&format!(" {} ", root.display())))
        .unwrap_or_else(|| panic!("no mount at {}:\n{table}", root.display()));
    assert!(line.contains(" - overlay "), "{line}");
    assert_eq!(
        std::fs::read_to_string(root.join("hello")).unwrap(),
        "hello from the image\n"
    );
    std::fs::write(root.join("written"), "x").unwrap();
    // Host volume, read-only.
    assert_eq!(
        std::fs::read_to_string(root.join("srv/data/data")).unwrap(),
        "host data\n"
    );
    expect_err(
        std::fs::write(root.join("srv/data/new"), ""),
        ErrorKind::ReadOnlyFilesystem,
        "ro volume",
    );
    // `mnt -> /etc` in the image: the volume lands in the app's /etc, not the host's.
    assert_eq!(
        std::fs::read_to_string(root.join("etc/vol/marker")).unwrap(),
        "marker\n"
    );
    assert!(!Path::new("/etc/vol").exists());
    // Empty volumes: the named one shared, the implicit one per app.
    std::fs::write(root.join("shared/from-web"), "hi").unwrap();
    assert!(root.join("cache").is_dir());
    assert!(
        tmp.join("pods/run")
            .join(UUID)
            .join("sharedVolumes/web-cache")
            .is_dir()
    );
    // /dev
    let null = std::fs::metadata(root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    std::fs::write(root.join("dev/null"), "discarded").unwrap();
    assert_eq!(
        std::fs::read_link(root.join("dev/ptmx")).unwrap(),
        Path::new("pts/ptmx")
    );
    assert!(root.join("dev/pts/ptmx").exists());
    let shm = std::fs::metadata(root.join("dev/shm")).unwrap();
    assert_eq!(shm.permissions().mode() & 0o7777, 0o1777);
    // /proc: the pod's pid namespace, masked.
    let status = std::fs::read_to_string(root.join("proc/1/status")).unwrap();
    assert!(status.contains("Pid:\t1\n"));
    // Hidden files read as empty (/dev/null over them), where this kernel has them.
    for name in ["kcore", "kallsyms", "keys", "timer_list", "interrupts"] {
        if Path::new("/proc").join(name).exists() {
            assert_eq!(
                std::fs::read(root.join("proc").join(name)).unwrap(),
                b"",
                "{name}"
            );
        }
    }
    assert!(
        Path::new("/proc/kallsyms").exists(),
        "the test expects /proc/kallsyms on the host"
    );
    if Path::new("/proc/acpi").exists() {
        assert_eq!(
            std::fs::read_dir(root.join("proc/acpi")).unwrap().count(),
            0
        );
    }
    let sysctl = root.join("proc/sys/kernel/hostname");
    expect_err(
        std::fs::write(&sysctl, "x"),
        ErrorKind::ReadOnlyFilesystem,
        "write /proc/sys",
    );
    // /sys read-only, firmware hidden.
    assert!(root.join("sys/kernel").is_dir());
    let firmware = std::fs::read_dir(root.join("sys/firmware"))
        .unwrap()
        .count();
    assert_eq!(firmware, 0);
    expect_err(
        std::fs::write(root.join("sys/x"), ""),
        ErrorKind::ReadOnlyFilesystem,
        "write /sys",
    );
    // /tmp made, /etc files.
    let tmpdir = std::fs::metadata(root.join("tmp")).unwrap();
    assert_eq!(tmpdir.permissions().mode() & 0o7777, 0o1777);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "podhost\n"
    );
    let resolv = std::fs::read_to_string(root.join("etc/resolv.conf")).unwrap();
    assert_eq!(resolv, "nameserver 9.9.9.9\n");
    let hosts = std::fs::read_to_string(root.join("etc/hosts")).unwrap();
    assert!(hosts.ends_with("127.0.0.1 podhost\n"), "{hosts}");
    std::io::stdout().flush().unwrap();
}

fn check_app_ro(root: &Path) {
    // `etc -> /real-etc`: the generated files are inside the app root.
    let hostname = std::fs::read_to_string(root.join("real-etc/hostname")).unwrap();
    assert_eq!(hostname, "podhost\n");
    assert!(!Path::new("/real-etc").exists());
    // Read-only root, but volumes and /tmp-like mounts keep their own flags.
    expect_err(
        std::fs::write(root.join("new"), ""),
        ErrorKind::ReadOnlyFilesystem,
        "ro root",
    );
    assert_eq!(
        std::fs::read_to_string(root.join("shared/from-web")).unwrap(),
        "hi"
    );
    std::fs::write(root.join("shared/from-ro"), "").unwrap();
    std::fs::write(root.join("dev/shm/x"), "").unwrap();
}

/// `--no-overlay` (a copied root, self-bound) whose `/dev` is a symlink out of it: refused,
/// nothing created where it points.
#[test]
fn symlinked_dev_is_refused() {
    if std::env::var(STAGE).as_deref() == Ok("devlink") {
        return inner_devlink();
    }
    let tmp = tempfile::tempdir().unwrap();
    let tmp_path = std::fs::canonicalize(tmp.path()).unwrap();
    let pod = fixture(&tmp_path);
    std::fs::remove_file(pod.join("overlay-prepared")).unwrap();
    let outside = tmp_path.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let root = pod.join("stage1/rootfs/opt/stage2/web/rootfs");
    write(&root.join("hello"), "copied\n");
    symlink(&outside, root.join("dev")).unwrap();
    run_isolated("symlinked_dev_is_refused", "devlink", &tmp_path);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert_eq!(host_mounts_under("self", &tmp_path), Vec::<String>::new());
}

fn inner_devlink() {
    let tmp = PathBuf::from(std::env::var(DIR).unwrap());
    let pod = tmp.join("pods/run").join(UUID);
    let args = RunArgs::parse(&["--net=none".to_string(), UUID.to_string()]).unwrap();
    let ctx = PodContext::load(&pod, args).unwrap();
    assert!(!ctx.use_overlay);
    let err = prepare_pod(&ctx, &mut RealMountSys).unwrap_err();
    let root = &ctx.apps[0].root_on_host;
    assert!(
        err.to_string().contains(&format!("{}/dev", root.display())),
        "{err}"
    );
    // The copy was self-bound before /dev was refused.
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(table.contains(&format!(" {} ", root.display())), "{table}");
    println!("INNER CHECKS PASSED");
}
