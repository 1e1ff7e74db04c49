//! Pods fabricated on disk for the pod-verb tests, laid out as stage0 and stage1 leave them,
//! with a stub stage1 whose entrypoints are shell scripts that log their argv and cwd.
//! Include with `mod support; mod pod_support;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use aci::manifest::PodManifest;
use stage0::pod::{Pod, Pods};

use crate::support::TestEnv;

pub const IMAGE_A: &str = "sha512-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const IMAGE_B: &str = "sha512-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A test world: the rkt env, its pods, and the log the stub stage1 writes.
pub struct World {
    pub env: TestEnv,
    pub pods: Pods,
}

impl World {
    pub fn new() -> World {
        let env = TestEnv::new();
        let pods = Pods::new(&env.data_dir()).unwrap();
        World { env, pods }
    }

    /// One line per stub entrypoint call: `<entrypoint>|<cwd>|<args>`.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn log(&self) -> PathBuf {
        self.env.work().join("stage1-calls")
    }

    /// A prepared pod (unlocked) with `apps` (name, image id, image name, version).
    pub fn prepared(&self, apps: &[(&str, &str, &str, Option<&str>)]) -> Pod {
        let mut pod = Pod::create_embryo(&self.pods).unwrap();
        pod.to_prepare().unwrap();
        pod.write_manifest(&pod_manifest(apps)).unwrap();
        pod.mark_created().unwrap();
        for (app, _, name, version) in apps {
            write(
                &pod.path().join("appsinfo").join(app).join("manifest"),
                &image_manifest(name, *version),
            );
        }
        self.stub_stage1(&pod.path());
        pod.to_prepared().unwrap();
        pod
    }

    /// A pod that ran and exited, with a pid and an exit code per app.
    pub fn exited(&self, apps: &[(&str, &str, &str, Option<&str>)], codes: &[i32]) -> Pod {
        let mut pod = self.prepared(apps);
        pod.to_run().unwrap();
        std::fs::write(pod.path().join("pid"), "4242\n").unwrap();
        for ((app, ..), code) in apps.iter().zip(codes) {
            write(
                &pod.path().join("stage1/rootfs/rkt/status").join(app),
                &code.to_string(),
            );
        }
        pod.unlock().unwrap();
        pod
    }

    /// A running pod: in `run/`, its lock held by a child process until the Holder drops.
    pub fn running(&self, apps: &[(&str, &str, &str, Option<&str>)]) -> (Pod, Holder) {
        let mut pod = self.prepared(apps);
        pod.to_run().unwrap();
        std::fs::write(pod.path().join("pid"), "4243\n").unwrap();
        pod.unlock().unwrap();
        let holder = Holder::exclusive(&pod.path());
        (pod, holder)
    }

    /// `stage1/manifest` naming stub entrypoints under `stage1/rootfs/stub/`.
    fn stub_stage1(&self, pod_dir: &Path) {
        let ann = |n: &str, v: &str| serde_json::json!({"name": n, "value": v});
        let manifest = serde_json::json!({
            "acKind": "ImageManifest", "acVersion": "0.8.11",
            "name": "example.com/stub-stage1",
            "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}],
            "annotations": [
                ann("coreos.com/rkt/stage1/run", "/stub/run"),
                ann("coreos.com/rkt/stage1/enter", "/stub/enter"),
                ann("coreos.com/rkt/stage1/gc", "/stub/gc"),
                ann("coreos.com/rkt/stage1/stop", "/stub/stop"),
                ann("coreos.com/rkt/stage1/interface-version", "6"),
            ]
        });
        write(&pod_dir.join("stage1/manifest"), &manifest.to_string());
        for (ep, code) in [("run", 0), ("enter", 7), ("gc", 0), ("stop", 0)] {
            let script = format!(
                "#!/bin/sh\nprintf '%s|%s|%s\\n' {ep} \"$(pwd)\" \"$*\" >> '{}'\nexit {code}\n",
                self.log().display()
            );
            let path = pod_dir.join("stage1/rootfs/stub").join(ep);
            write(&path, &script);
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

/// Replace a stub entrypoint of `pod_dir` with one that fails.
pub fn failing_entrypoint(pod_dir: &Path, ep: &str) {
    write(
        &pod_dir.join("stage1/rootfs/stub").join(ep),
        "#!/bin/sh\necho stub failure >&2\nexit 3\n",
    );
}

pub fn pod_manifest(apps: &[(&str, &str, &str, Option<&str>)]) -> PodManifest {
    let apps: Vec<serde_json::Value> = apps
        .iter()
        .map(|(app, id, name, _)| {
            serde_json::json!({"name": app, "image": {"name": name, "id": id},
                               "app": {"exec": ["/bin/app", app], "user": "0", "group": "0"}})
        })
        .collect();
    let json = serde_json::json!({"acVersion": "0.8.11", "acKind": "PodManifest", "apps": apps});
    PodManifest::from_slice(json.to_string().as_bytes()).unwrap()
}

pub fn image_manifest(name: &str, version: Option<&str>) -> String {
    let mut labels = vec![
        serde_json::json!({"name": "os", "value": "linux"}),
        serde_json::json!({"name": "arch", "value": "amd64"}),
    ];
    if let Some(v) = version {
        labels.push(serde_json::json!({"name": "version", "value": v}));
    }
    serde_json::json!({
        "acKind": "ImageManifest", "acVersion": "0.8.11", "name": name, "labels": labels,
        "app": {"exec": ["/bin/original"], "user": "0", "group": "0"}
    })
    .to_string()
}

pub fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A process holding an exclusive flock on a pod directory until dropped (the pod "runs").
pub struct Holder {
    child: Child,
}

impl Holder {
    pub fn exclusive(path: &Path) -> Holder {
        let mut child = Command::new("flock")
            .args(["-x", "-n", "-F"])
            .arg(path)
            .args(["-c", "echo locked; exec sleep 1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("flock(1) from util-linux");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "locked",
            "flock could not lock {}",
            path.display()
        );
        Holder { child }
    }

    /// The "pod" exits: its lock is released.
    pub fn release(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stop();
    }
}
