//! Helpers for the `rkt image` functional tests: a temp data and config root per test, real
//! ACIs built at test time and imported through the store library (`rkt fetch` is another
//! helper's work), fake pod directories, and running the real binary.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aci::archive::{Compression, EntryHeader, EntryKind, write_aci_entries};
use serde_json::{Value, json};
use stage0::store::{ImageInfo, Origin, Store};

/// One test's rkt root: `--dir`, `--local-config` and `--system-config` under a temp dir.
pub struct Rkt {
    root: tempfile::TempDir,
}

impl Rkt {
    pub fn new() -> Rkt {
        let root = tempfile::tempdir().unwrap();
        for d in ["data", "local", "system"] {
            fs::create_dir(root.path().join(d)).unwrap();
        }
        Rkt { root }
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// A scratch path for outputs, outside the data dir.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rkt"))
            .arg("--dir")
            .arg(self.data())
            .arg("--local-config")
            .arg(self.root.path().join("local"))
            .arg("--system-config")
            .arg(self.root.path().join("system"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Run and require success; return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "rkt {args:?} failed: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run and require rkt's failure code 254; return stdout and stderr together.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(254), "rkt {args:?}: {}", text(&out));
        text(&out)
    }

    pub fn store(&self) -> Store {
        Store::open(&self.data()).unwrap()
    }

    /// The keys of the stored images, read afresh (a `Store` reads its listing once).
    pub fn keys(&self) -> Vec<String> {
        self.store()
            .list()
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect()
    }

    pub fn import(&self, aci: &[u8]) -> ImageInfo {
        self.store().import(aci, Origin::default()).unwrap()
    }

    /// A fake pod in `state` whose manifest uses `image_ids`; returns its directory.
    pub fn pod(&self, state: &str, uuid: &str, image_ids: &[&str]) -> PathBuf {
        let dir = self.data().join("pods").join(state).join(uuid);
        fs::create_dir_all(&dir).unwrap();
        let apps: Vec<Value> = image_ids
            .iter()
            .enumerate()
            .map(|(n, id)| json!({"name": format!("app{n}"), "image": {"id": id}}))
            .collect();
        let manifest = json!({"acKind": "PodManifest", "acVersion": "0.8.11", "apps": apps});
        fs::write(dir.join("pod"), serde_json::to_vec(&manifest).unwrap()).unwrap();
        dir
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An image manifest with an optional version label and dependencies.
pub fn manifest(name: &str, version: Option<&str>, deps: &[Value]) -> Vec<u8> {
    let mut labels = vec![json!({"name": "os", "value": "linux"})];
    if let Some(v) = version {
        labels.push(json!({"name": "version", "value": v}));
    }
    let mut m = json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": name,
        "labels": labels,
        "app": {"exec": ["/bin/true"], "user": "0", "group": "0"},
    });
    if !deps.is_empty() {
        m["dependencies"] = Value::Array(deps.to_vec());
    }
    serde_json::to_vec(&m).unwrap()
}

fn header(path: &Path, kind: EntryKind, mode: u32, size: u64) -> EntryHeader {
    EntryHeader {
        path: path.to_path_buf(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        size,
        xattrs: Vec::new(),
    }
}

/// A gzip ACI of `files` (path, content); parent directories are added as entries.
pub fn aci(manifest: &[u8], files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut dirs = BTreeSet::new();
    for (path, data) in files {
        let path = PathBuf::from(path);
        let mut parents: Vec<PathBuf> = path.ancestors().skip(1).map(Path::to_path_buf).collect();
        parents.reverse();
        for dir in parents.into_iter().filter(|d| !d.as_os_str().is_empty()) {
            if dirs.insert(dir.clone()) {
                entries.push((header(&dir, EntryKind::Dir, 0o755, 0), Vec::new()));
            }
        }
        entries.push((
            header(&path, EntryKind::File, 0o644, data.len() as u64),
            data.to_vec(),
        ));
    }
    let mut out = Vec::new();
    write_aci_entries(manifest, entries, &mut out, Compression::Gzip).unwrap();
    out
}

/// A simple image `name[:version]` with one file holding `content`.
pub fn simple(name: &str, version: Option<&str>, content: &str) -> Vec<u8> {
    aci(
        &manifest(name, version, &[]),
        &[("etc/content", content.as_bytes())],
    )
}
