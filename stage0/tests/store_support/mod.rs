//! Building real ACIs for the store tests: a manifest from a few parts and an archive from
//! in-memory files (parent directories are added as entries automatically).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aci::archive::{Compression, EntryHeader, EntryKind, write_aci_entries};
use aci::types::ImageId;
use serde_json::{Value, json};

/// An image manifest with an optional version label, dependencies and path whitelist.
pub fn manifest(name: &str, version: Option<&str>, deps: &[Value], whitelist: &[&str]) -> Vec<u8> {
    let mut labels = vec![json!({"name": "os", "value": "linux"})];
    if let Some(v) = version {
        labels.push(json!({"name": "version", "value": v}));
    }
    let mut m = json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": name,
        "labels": labels,
    });
    if !deps.is_empty() {
        m["dependencies"] = Value::Array(deps.to_vec());
    }
    if !whitelist.is_empty() {
        m["pathWhitelist"] = json!(whitelist);
    }
    serde_json::to_vec(&m).unwrap()
}

/// A dependency on an image by name (and version).
pub fn dep_by_name(name: &str, version: &str) -> Value {
    json!({"imageName": name, "labels": [{"name": "version", "value": version}]})
}

/// A dependency pinned to an image ID.
pub fn dep_by_id(name: &str, id: &ImageId) -> Value {
    json!({"imageName": name, "imageID": id.as_str()})
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

/// An ACI of `files` (path, content), compressed as asked; returns the bytes and the image ID.
pub fn aci(
    manifest: &[u8],
    files: &[(&str, &[u8])],
    compression: Compression,
) -> (Vec<u8>, ImageId) {
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
        let h = header(&path, EntryKind::File, 0o644, data.len() as u64);
        entries.push((h, data.to_vec()));
    }
    let mut out = Vec::new();
    let id = write_aci_entries(manifest, entries, &mut out, compression).unwrap();
    (out, id)
}

/// A plain-tar image named `name` with one file whose content makes the image unique.
pub fn simple(name: &str, version: Option<&str>, content: &str) -> (Vec<u8>, ImageId) {
    aci(
        &manifest(name, version, &[], &[]),
        &[("etc/content", content.as_bytes())],
        Compression::None,
    )
}

/// Where the store keeps an image's info file.
pub fn info_path(store: &stage0::store::Store, key: &str) -> PathBuf {
    store.cas_dir().join("info").join(format!("{key}.json"))
}

/// Where the store keeps an image's manifest copy (sharded by the key's first two digits).
pub fn manifest_path(store: &stage0::store::Store, key: &str) -> PathBuf {
    let hex = &key["sha512-".len()..];
    store
        .cas_dir()
        .join("imageManifest/sha512")
        .join(&hex[..2])
        .join(key)
}
