//! Shared helpers for the pod tests: a temp data dir, pods in given states, a lock held by
//! another process (`flock(1)`), a small pod manifest.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use aci::manifest::PodManifest;
use stage0::pod::{Pod, Pods};

pub struct Data {
    pub tmp: tempfile::TempDir,
    pub pods: Pods,
}

pub fn data() -> Data {
    let tmp = tempfile::tempdir().unwrap();
    let pods = Pods::new(tmp.path()).unwrap();
    Data { tmp, pods }
}

/// A process holding an exclusive flock on a path (a pod directory) until dropped.
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
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const IMAGE_A: &str = "sha512-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const IMAGE_B: &str = "sha512-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Two apps (`a1` on IMAGE_A with a host volume mount, `a2` on `image_b`), user labels.
pub fn manifest(image_b: &str, mutable: bool) -> PodManifest {
    let json = format!(
        r#"{{"acVersion":"0.8.11","acKind":"PodManifest",
        "apps":[
          {{"name":"a1","image":{{"id":"{IMAGE_A}"}},
            "app":{{"exec":["/bin/true"],"user":"0","group":"0",
                    "userLabels":{{"tier":"web"}}}},
            "mounts":[{{"volume":"data","path":"/data"}}]}},
          {{"name":"a2","image":{{"id":"{image_b}"}}}}],
        "volumes":[{{"name":"data","kind":"host","source":"/srv/data","readOnly":true}}],
        "annotations":[{{"name":"coreos.com/rkt/stage1/mutable","value":"{mutable}"}}],
        "userAnnotations":{{"note":"hi"}}}}"#
    );
    PodManifest::from_slice(json.as_bytes()).unwrap()
}

/// An embryo moved to prepare and finished: prepared, unlocked, with a manifest.
pub fn prepared(pods: &Pods, image_b: &str) -> Pod {
    let mut pod = Pod::create_embryo(pods).unwrap();
    pod.to_prepare().unwrap();
    pod.write_manifest(&manifest(image_b, false)).unwrap();
    pod.mark_created().unwrap();
    pod.to_prepared().unwrap();
    pod
}

/// A pod that ran and exited (in `run`, unlocked).
pub fn exited(pods: &Pods) -> Pod {
    let mut pod = prepared(pods, IMAGE_B);
    pod.to_run().unwrap();
    pod.unlock().unwrap();
    pod
}

/// A pod that ran, exited and was marked (in `exited-garbage`, unlocked).
pub fn exited_garbage(pods: &Pods) -> Pod {
    let mut pod = exited(pods);
    pod.to_exited_garbage().unwrap();
    pod
}

pub fn state_of(pods: &Pods, pod: &Pod) -> String {
    Pod::open_uuid(pods, pod.uuid())
        .unwrap()
        .state()
        .to_string()
}

pub fn write(path: PathBuf, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}
