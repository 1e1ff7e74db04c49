//! `rkt run`, `prepare` and `run-prepared` against the real binary, as root, with a STUB stage1
//! (see `run_support`) selected by `--stage1-path`: the pod dir layout, the pod manifest, the
//! hand-off (argv, cwd, lock fd) and the exit code.

mod run_support;
mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use aci::manifest::PodManifest;
use run_support::{Record, app_image, stub_stage1};
use support::TestEnv;

struct World {
    env: TestEnv,
    stage1: PathBuf,
    record: PathBuf,
}

impl World {
    fn new(code: i32) -> World {
        let env = TestEnv::new();
        let record = env.work().join("record");
        let stage1 = stub_stage1(&env.work(), &record, code);
        World {
            env,
            stage1,
            record,
        }
    }

    fn stage1_flag(&self) -> String {
        format!("--stage1-path={}", self.stage1.display())
    }

    fn app(&self, name: &str) -> String {
        app_image(&self.env.work(), name).display().to_string()
    }

    /// `rkt <verb> --insecure-options=image --stage1-path=STUB <rest>`.
    fn rkt(&self, verb: &str, rest: &[&str]) -> support::Run {
        let s1 = self.stage1_flag();
        let mut args = vec![verb, "--insecure-options=image", &s1];
        args.extend_from_slice(rest);
        self.env.rkt(&args)
    }

    fn pod_dir(&self, state: &str, uuid: &str) -> PathBuf {
        self.env.data_dir().join("pods").join(state).join(uuid)
    }

    fn only_pod(&self, state: &str) -> String {
        let dir = self.env.data_dir().join("pods").join(state);
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "one pod in {dir:?}: {names:?}");
        names[0].clone()
    }
}

fn manifest(pod_dir: &Path) -> PodManifest {
    PodManifest::from_slice(&fs::read(pod_dir.join("pod")).unwrap()).unwrap()
}

fn env_of(m: &PodManifest, app: &str) -> Vec<(String, String)> {
    m.app(app)
        .unwrap()
        .app
        .as_ref()
        .unwrap()
        .environment
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}

#[test]
fn run_hands_the_locked_pod_to_stage1_and_returns_its_code() {
    let w = World::new(7);
    let app = w.app("hello");
    let uuid_file = w.env.work().join("uuid");
    let envfile = w.env.work().join("envfile");
    fs::write(&envfile, "FILE=file\nOVER=file\n").unwrap();
    let s1 = w.stage1_flag();
    let uuid_flag = format!("--uuid-file-save={}", uuid_file.display());
    let envfile_flag = format!("--set-env-file={}", envfile.display());
    let out = w
        .env
        .command(&[
            "run",
            "--insecure-options=image",
            &s1,
            "--net=host",
            "--inherit-env",
            "--set-env=OVER=set",
            &envfile_flag,
            "--hostname=pod1",
            "--dns=8.8.8.8",
            &uuid_flag,
            &app,
            "--user=5",
            "--environment=OVER=app",
            "--mount=volume=data,target=/data",
            "--",
            "a1",
            "--a2",
            "---",
            "--volume=data,kind=host,source=/tmp,readOnly=true",
        ])
        .env("HOSTVAR", "host")
        .env("ONLYHOST", "host")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "rkt run should exit with the stub's code: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uuid = fs::read_to_string(&uuid_file).unwrap();
    assert_eq!(uuid, w.only_pod("run"));
    let pod = w.pod_dir("run", &uuid);
    let rec = Record::read(&w.record);

    // The hand-off: entrypoint, flags, UUID, cwd, the inherited lock.
    let entry = pod.join("stage1/rootfs/usr/lib/rkt/stage1/init");
    assert_eq!(rec.get("argv0"), entry.display().to_string());
    assert_eq!(
        rec.args,
        [
            "--net=host".to_string(),
            format!("--local-config={}", w.env.local_config().display()),
            "--hostname=pod1".to_string(),
            "--dns=8.8.8.8".to_string(),
            uuid.clone(),
        ]
    );
    assert_eq!(rec.get("cwd"), pod.display().to_string());
    assert!(rec.get("lockfd").parse::<u32>().is_ok(), "{rec:#?}");
    assert_eq!(rec.get("lockpath"), pod.display().to_string());
    assert_eq!(rec.get("locked"), "yes", "stage1 must hold the pod lock");

    // The pod manifest: exec + args, user, env precedence, mounts, volumes.
    let m = manifest(&pod);
    let ra = m.app("hello").expect("app named after the image");
    assert_eq!(
        ra.image.name.as_ref().unwrap().as_str(),
        "example.com/hello"
    );
    assert!(ra.image.id.as_str().starts_with("sha512-"));
    let a = ra.app.as_ref().unwrap();
    assert_eq!(a.exec, ["/bin/hello", "img-arg", "a1", "--a2"]);
    assert_eq!(a.user, "5");
    assert_eq!(a.group, "0");
    let env = env_of(&m, "hello");
    let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("ONLYHOST"), Some("host"));
    assert_eq!(get("HOSTVAR"), Some("image"), "image beats --inherit-env");
    assert_eq!(get("IMG"), Some("image"));
    assert_eq!(get("FILE"), Some("file"));
    assert_eq!(get("OVER"), Some("app"), "--environment beats everything");
    assert_eq!(ra.mounts[0].volume.as_str(), "data");
    assert_eq!(ra.mounts[0].path, "/data");
    assert_eq!(m.volumes[0].source.as_deref(), Some("/tmp"));
    assert_eq!(m.volumes[0].read_only, Some(true));

    // The layout: stage1 (hard-linked), app infos, overlay dirs, markers.
    let s1_tree = fs::read_to_string(pod.join("stage1TreeStoreID")).unwrap();
    let tree_init = w
        .env
        .data_dir()
        .join("cas/tree")
        .join(&s1_tree)
        .join("rootfs/usr/lib/rkt/stage1/init");
    assert_eq!(
        fs::metadata(&entry).unwrap().ino(),
        fs::metadata(&tree_init).unwrap().ino(),
        "the stage1 rootfs is a hard-link farm of its tree"
    );
    let app_tree = fs::read_to_string(pod.join("appsinfo/hello/treeStoreID")).unwrap();
    assert!(app_tree.starts_with("deps-sha512-"));
    let img_manifest = fs::read(pod.join("appsinfo/hello/manifest")).unwrap();
    assert_eq!(
        fs::read(pod.join("stage1/rootfs/opt/stage2/hello/manifest")).unwrap(),
        img_manifest
    );
    assert!(pod.join("overlay-prepared").exists());
    assert!(pod.join("pod-created").exists());
    for part in ["upper", "work"] {
        assert!(
            pod.join("overlay")
                .join(&app_tree)
                .join(part)
                .join("hello")
                .is_dir()
        );
    }
    let rootfs = pod.join("stage1/rootfs/opt/stage2/hello/rootfs");
    assert_eq!(
        fs::read_dir(&rootfs).unwrap().count(),
        0,
        "an empty mount point"
    );
    let shared = fs::metadata(pod.join("sharedVolumes")).unwrap();
    assert_eq!(shared.mode() & 0o777, 0o700);
    for f in ["./pod", "./stage1/manifest", "./appsinfo/hello/treeStoreID"] {
        assert!(
            rec.files.iter().any(|x| x == f),
            "stage1 saw {f}: {:?}",
            rec.files
        );
    }
}

#[test]
fn no_overlay_copies_the_app_tree() {
    let w = World::new(0);
    let app = w.app("hello");
    // Global flags after the image count too: --debug and the run-time insecure options
    // reach stage1.
    w.rkt(
        "run",
        &[
            "--net=none",
            "--no-overlay",
            &app,
            "--debug",
            "--insecure-options=image,seccomp",
        ],
    )
    .ok();
    let uuid = w.only_pod("run");
    let pod = w.pod_dir("run", &uuid);
    assert!(!pod.join("overlay-prepared").exists());
    assert!(!pod.join("overlay").exists());
    let copied = pod.join("stage1/rootfs/opt/stage2/hello/rootfs/bin/hello");
    let tree = fs::read_to_string(pod.join("appsinfo/hello/treeStoreID")).unwrap();
    let original = w
        .env
        .data_dir()
        .join("cas/tree")
        .join(tree)
        .join("rootfs/bin/hello");
    let (c, o) = (
        fs::metadata(&copied).unwrap(),
        fs::metadata(&original).unwrap(),
    );
    assert_ne!(c.ino(), o.ino(), "a copy, not a link into the tree store");
    assert_eq!(c.mode() & 0o7777, 0o755);
    assert_eq!(fs::read(&copied).unwrap(), fs::read(&original).unwrap());
    let data = pod.join("stage1/rootfs/opt/stage2/hello/rootfs/etc/data");
    assert_eq!(fs::metadata(data).unwrap().mode() & 0o7777, 0o600);
    let args = Record::read(&w.record).args;
    assert_eq!(args[..2], ["--debug", "--net=none"]);
    assert!(args.iter().any(|a| a == "--disable-seccomp"), "{args:?}");
    assert!(!args.iter().any(|a| a == "--disable-paths"), "{args:?}");
}

#[test]
fn prepare_then_run_prepared() {
    let w = World::new(3);
    let (a, b) = (w.app("alpha"), w.app("beta"));
    let out = w.rkt(
        "prepare",
        &[
            "--quiet",
            "--exec=/bin/all",
            &a,
            "--name=first",
            &b,
            "--exec=/bin/own",
            "--readonly-rootfs",
            "--",
            "x",
        ],
    );
    let uuid = out.ok().trim().to_string();
    assert_eq!(out.stdout, format!("{uuid}\n"), "only the UUID on stdout");
    assert_eq!(uuid, w.only_pod("prepared"));
    let m = manifest(&w.pod_dir("prepared", &uuid));
    assert_eq!(m.apps.len(), 2);
    let first = m.app("first").unwrap();
    assert_eq!(first.app.as_ref().unwrap().exec, ["/bin/all"]);
    assert!(!first.read_only_root_fs);
    let beta = m.app("beta").unwrap();
    assert_eq!(beta.app.as_ref().unwrap().exec, ["/bin/own", "x"]);
    assert!(beta.read_only_root_fs);
    assert!(!w.record.exists(), "prepare must not start stage1");

    // A prefix is enough; the pod runs with run-prepared's own flags.
    let r = w
        .env
        .rkt(&["run-prepared", "--net=host", "--ipc=private", &uuid[..8]]);
    assert_eq!(r.code, 3, "{r:#?}");
    let rec = Record::read(&w.record);
    assert_eq!(
        rec.get("cwd"),
        w.pod_dir("run", &uuid).display().to_string()
    );
    assert_eq!(rec.args.first().map(String::as_str), Some("--net=host"));
    assert!(rec.args.iter().any(|a| a == "--ipc=private"), "{rec:#?}");
    assert_eq!(rec.args.last(), Some(&uuid));
    assert_eq!(rec.get("locked"), "yes");

    // Not prepared any more.
    let err = w.env.rkt(&["run-prepared", &uuid]).failed().to_string();
    assert!(err.contains(&uuid), "{err}");
}

#[test]
fn pod_manifest_is_used_as_given() {
    let w = World::new(0);
    let app = w.app("hello");
    // First a pod from the image, whose manifest then serves as --pod-manifest.
    let uuid = w.rkt("prepare", &[&app]).ok().trim().to_string();
    let mut m = manifest(&w.pod_dir("prepared", &uuid));
    m.apps[0].name = aci::types::AcName::new("renamed").unwrap();
    let path = w.env.work().join("pod.json");
    fs::write(&path, m.to_vec().unwrap()).unwrap();
    let flag = format!("--pod-manifest={}", path.display());
    let uuid2 = w.rkt("prepare", &[&flag]).ok().trim().to_string();
    let pod = w.pod_dir("prepared", &uuid2);
    assert_eq!(manifest(&pod), m);
    assert!(pod.join("appsinfo/renamed/treeStoreID").exists());
    let err = w.rkt("prepare", &[&flag, &app]).failed().to_string();
    assert!(
        err.contains("--pod-manifest") && err.contains("IMAGE"),
        "{err}"
    );
}

#[test]
fn conflicts_fail_with_254_and_say_why() {
    let w = World::new(0);
    let app = w.app("hello");
    for (args, words) in [
        (
            vec!["run", "--stage1-path=/x", "--stage1-name=y", app.as_str()],
            vec!["--stage1-path", "--stage1-name"],
        ),
        (
            vec!["run", "--interactive", app.as_str(), app.as_str()],
            vec!["--interactive"],
        ),
        (
            vec![
                "run",
                "--insecure-options=image",
                app.as_str(),
                app.as_str(),
            ],
            vec!["hello", "--name"],
        ),
        (
            vec!["prepare", "--net=host", "--port=http:80", app.as_str()],
            vec!["--port", "--net=host"],
        ),
        (vec!["run", "--bogus", app.as_str()], vec!["--bogus"]),
    ] {
        let r = w.env.rkt(&args);
        let err = r.failed();
        for word in words {
            assert!(err.contains(word), "{args:?}: {err}");
        }
    }
    assert!(!w.record.exists());
}

#[test]
fn unprivileged_users_are_refused() {
    let w = World::new(0);
    let app = w.app("hello");
    for verb in ["run", "prepare"] {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_rkt"))
            .arg(format!("--dir={}", w.env.data_dir().display()))
            .args([verb, &app]);
        let out = cmd.output().expect("setpriv (util-linux) is needed");
        assert_eq!(out.status.code(), Some(254), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot run as unprivileged user"), "{err}");
    }
}

#[test]
fn unsigned_app_images_need_insecure_options() {
    let w = World::new(0);
    let app = w.app("hello");
    let s1 = w.stage1_flag();
    let err = w.env.rkt(&["run", &s1, &app]).failed().to_string();
    assert!(err.contains("signature") || err.contains("signed"), "{err}");
    assert!(!w.record.exists());
}

#[test]
fn a_failed_prepare_leaves_an_aborted_pod() {
    let w = World::new(0);
    let app = w.app("hello");
    // A stage1 whose opt/stage2 is a file: laying out the app fails after the pod exists.
    let (os, arch) = aci::discovery::host_os_arch();
    let manifest = serde_json::json!({
        "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/broken-stage1",
        "labels": [{"name": "os", "value": os}, {"name": "arch", "value": arch}],
        "annotations": [
            {"name": "coreos.com/rkt/stage1/run", "value": "/init"},
            {"name": "coreos.com/rkt/stage1/interface-version", "value": "6"}
        ]
    });
    let broken = w.env.work().join("broken.aci");
    run_support::write_aci(
        &broken,
        &manifest,
        &["opt"],
        &[
            ("init", 0o755, b"#!/bin/sh\n".to_vec()),
            ("opt/stage2", 0o644, Vec::new()),
        ],
    );
    let flag = format!("--stage1-path={}", broken.display());
    let err = w
        .env
        .rkt(&["run", "--insecure-options=image", &flag, &app])
        .failed()
        .to_string();
    assert!(err.contains("opt/stage2"), "{err}");
    let uuid = w.only_pod("prepare");
    let pods = stage0::pod::Pods::new(&w.env.data_dir()).unwrap();
    let pod = stage0::pod::Pod::open(&pods, &uuid).unwrap();
    assert_eq!(pod.state(), stage0::pod::PodState::AbortedPrepare);
    assert!(!w.record.exists());
}
