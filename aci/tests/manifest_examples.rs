//! The spec's own example manifests, read from the installed appc-spec package at test time.
//!
//! Two of them are not valid as they stand, on purpose for our reader:
//! - `image.json` names a dependency `"imageID": "sha512-..."`, a placeholder. Go accepts any
//!   string after `sha512-`; we refuse it because an ID that is not a hash can never match an
//!   image and would make dependency fetching fail late. With a real ID the example parses.
//! - `pod_template.json` is a *template*: two apps name their image by name and labels only.
//!   The runtime reads pod manifests in their reified form (spec/pods.md: "before running it must
//!   be reified"), so `image.id` is required; resolving a template is stage0's job on its own
//!   input. With IDs filled in, the template parses.

use aci::manifest::{EventHandlerName, ImageManifest, ManifestError, PodManifest, VolumeKind};
use serde_json::Value;

const DIR: &str = "/usr/share/doc/appc-spec/examples";
const ID: &str = "sha512-57007df523db8aa55e11260aaaab5e8242eb7a2a431196da7ba8204c4aacc6215db289242d17e5a5e45cb0cd0c2e22c7be9c77b61401a8f7e3eba66c2e6e42eb";

/// The example's text, or `None` (test skipped, said so) where the spec package is missing.
fn example(name: &str) -> Option<String> {
    let path = format!("{DIR}/{name}");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("skipped: needs {path} (Debian package appc-spec): {e}");
            None
        }
    }
}

#[test]
fn image_example() {
    let Some(text) = example("image.json") else {
        return;
    };
    let e = ImageManifest::from_slice(text.as_bytes()).unwrap_err();
    assert_eq!(e.path(), "dependencies[0].imageID");
    assert!(matches!(e, ManifestError::Decode { .. }));

    let m = ImageManifest::from_slice(text.replace("sha512-...", ID).as_bytes()).unwrap();
    assert_eq!(m.name.as_str(), "example.com/reduce-worker");
    assert_eq!(m.labels.get("version"), Some("1.0.0"));
    assert_eq!(m.labels.get("os"), Some("linux"));
    let app = m.app().unwrap();
    assert_eq!(app.exec, ["/usr/bin/reduce-worker", "--quiet"]);
    assert_eq!((app.user.as_str(), app.group.as_str()), ("100", "300"));
    assert_eq!(
        app.event_handler(EventHandlerName::PreStart).unwrap().exec,
        ["/usr/bin/data-downloader"]
    );
    assert_eq!(app.env("REDUCE_WORKER_DEBUG"), Some("true"));
    assert_eq!(app.isolators.len(), 5);
    assert_eq!(app.isolators[3].value, Value::Bool(true));
    assert_eq!(app.mount_points[0].name.as_str(), "database");
    assert!(app.ports[0].socket_activated);
    assert_eq!(app.ports[0].count, 1);
    assert_eq!(m.dependencies[0].labels.get("env"), Some("canary"));
    assert_eq!(m.path_whitelist.len(), 5);
    assert_eq!(m.annotations.get("homepage"), Some("https://example.com"));

    let again = ImageManifest::from_slice(&m.to_vec().unwrap()).unwrap();
    assert_eq!(again, m);
}

#[test]
fn pod_runtime_example() {
    let Some(text) = example("pod_runtime.json") else {
        return;
    };
    let p = PodManifest::from_slice(text.as_bytes()).unwrap();
    let names: Vec<_> = p.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["reduce-worker", "backup", "register"]);
    let worker = p.app("reduce-worker").unwrap();
    assert_eq!(worker.app.as_ref().unwrap().exec[1], "--debug=true");
    assert_eq!(worker.mounts[0].volume.as_str(), "dbvolume");
    assert_eq!(p.app("backup").unwrap().annotations.get("foo"), Some("baz"));
    assert_eq!(
        p.app("register").unwrap().image.labels.get("version"),
        Some("3.0.0")
    );
    let db = p.volume("dbvolume").unwrap();
    assert_eq!(
        (db.kind, db.read_only(), db.source.as_deref()),
        (VolumeKind::Host, true, Some("/opt/tenant1/database"))
    );
    let out = p.volume("buildoutput").unwrap();
    assert_eq!((out.kind, out.mode()), (VolumeKind::Empty, "0777"));
    assert_eq!(p.isolators[1].name.as_str(), "os/unix/sysctl");
    assert_eq!(p.annotations.get("ip-address"), Some("10.1.2.3"));
    assert_eq!(PodManifest::from_slice(&p.to_vec().unwrap()).unwrap(), p);
}

#[test]
fn pod_template_example() {
    let Some(text) = example("pod_template.json") else {
        return;
    };
    let e = PodManifest::from_slice(text.as_bytes()).unwrap_err();
    assert_eq!(e.path(), "apps[1].image");

    let mut doc: Value = serde_json::from_str(&text).unwrap();
    for app in doc["apps"].as_array_mut().unwrap() {
        app["image"]["id"] = Value::String(ID.to_string());
    }
    let p = PodManifest::from_slice(doc.to_string().as_bytes()).unwrap();
    assert_eq!(p.ac_version.to_string(), "0.3.0");
    assert_eq!(p.apps.len(), 3);
    assert_eq!(
        p.app("backup").unwrap().image.labels.get("version"),
        Some("latest")
    );
}
