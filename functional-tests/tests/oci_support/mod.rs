//! Test images in OCI and Docker formats, built by hand: layer tars, OCI image layouts and
//! `docker save` tarballs around the static `inspect` probe.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// One layer tar, entries in the order added.
#[derive(Default)]
pub struct Layer {
    b: Option<tar::Builder<Vec<u8>>>,
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            b: Some(tar::Builder::new(Vec::new())),
        }
    }

    fn add(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        data: &[u8],
        link: Option<&str>,
    ) {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        let b = self.b.as_mut().unwrap();
        b.append_data(&mut h, path, data).unwrap();
    }

    pub fn dir(mut self, path: &str) -> Self {
        self.add(path, tar::EntryType::Directory, 0o755, b"", None);
        self
    }
    pub fn file(mut self, path: &str, data: &[u8]) -> Self {
        self.add(path, tar::EntryType::Regular, 0o644, data, None);
        self
    }
    pub fn exe(mut self, path: &str, data: &[u8]) -> Self {
        self.add(path, tar::EntryType::Regular, 0o755, data, None);
        self
    }
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.add(path, tar::EntryType::Link, 0o644, b"", Some(target));
        self
    }
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.add(path, tar::EntryType::Symlink, 0o777, b"", Some(target));
        self
    }
    pub fn tar(mut self) -> Vec<u8> {
        self.b.take().unwrap().into_inner().unwrap()
    }
}

/// The probe, /etc/passwd and /etc/group with user `app` (1234, primary group 4321), and
/// directories the upper layers change.
pub fn base_layer() -> Vec<u8> {
    let inspect = std::fs::read(functional_tests::env_path("RKT_INSPECT_BIN")).unwrap();
    Layer::new()
        .dir("bin")
        .exe("bin/inspect", &inspect)
        .dir("etc")
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1234:4321::/home/app:/bin/sh\n",
        )
        .file("etc/group", b"root:x:0:\napp:x:4321:\n")
        .dir("a")
        .file("a/gone", b"deleted above")
        .file("a/keep", b"kept")
        .dir("b")
        .file("b/old1", b"1")
        .file("b/old2", b"2")
        .tar()
}

/// Whiteout, opaque dir, a hard link to a file of the base layer, a symlink.
pub fn change_layer() -> Vec<u8> {
    Layer::new()
        .dir("a")
        .file("a/.wh.gone", b"")
        .dir("b")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"fresh")
        .hardlink("hl", "a/keep")
        .symlink("s", "/a/keep")
        .tar()
}

pub fn config(layers: &[&[u8]], cmd: &[&str]) -> Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": ["/bin/inspect"],
            "Cmd": cmd,
            "Env": ["PATH=/bin", "OCI_VAR=from-config"],
            "User": "app",
            "WorkingDir": "/a",
            "ExposedPorts": {"8080/tcp": {}},
            "Volumes": {"/data": {}},
            "Labels": {"org.example.team": "qa"},
        },
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha(l)).collect::<Vec<_>>()},
    })
}

/// zstd-compressed `data`, by Debian's `zstd` command (a second implementation to our decoder).
pub fn zstd(data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("zstd")
        .args(["-q", "-c", "-3"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the zstd command (Debian package zstd; `make deps` installs it)");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "zstd failed");
    out.stdout
}

/// How [`write_layout_as`] compresses the layers, and the media type it gives them.
#[derive(Clone, Copy)]
pub enum Compress {
    Gzip,
    Zstd,
}

/// An OCI image layout at `dir` with gzip layers, tagged `reference`.
pub fn write_layout(dir: &Path, layers: &[&[u8]], config: &Value, reference: &str) {
    write_layout_as(dir, layers, config, reference, Compress::Gzip)
}

/// An OCI image layout at `dir` with layers compressed by `how`, tagged `reference`.
pub fn write_layout_as(
    dir: &Path,
    layers: &[&[u8]],
    config: &Value,
    reference: &str,
    how: Compress,
) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = sha(data);
        std::fs::write(blobs.join(&d[7..]), data).unwrap();
        (d, data.len())
    };
    let descs: Vec<Value> = layers
        .iter()
        .map(|l| {
            let (blob, media_type) = match how {
                Compress::Gzip => (gzip(l), "application/vnd.oci.image.layer.v1.tar+gzip"),
                Compress::Zstd => (zstd(l), "application/vnd.oci.image.layer.v1.tar+zstd"),
            };
            let (d, n) = put(&blob);
            json!({"mediaType": media_type, "digest": d, "size": n})
        })
        .collect();
    let (cd, cn) = put(&serde_json::to_vec(config).unwrap());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": descs,
    });
    let (md, mn) = put(&serde_json::to_vec(&manifest).unwrap());
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": reference}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A `docker save` tarball at `file`: manifest.json, the config, one `<n>/layer.tar` each.
pub fn write_docker_archive(file: &Path, layers: &[&[u8]], config: &Value, tag: &str) {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    };
    let cfg = serde_json::to_vec(config).unwrap();
    let cfg_name = format!("{}.json", &sha(&cfg)[7..]);
    add(&cfg_name, &cfg);
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        add(&name, l);
        names.push(name);
    }
    let manifest = json!([{"Config": cfg_name, "RepoTags": [tag], "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    std::fs::write(file, b.into_inner().unwrap()).unwrap();
}

/// Entries of a store directory (layer blobs, trees with a prefix).
pub fn count(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .count()
    })
}

pub fn layer_blobs(data: &Path) -> usize {
    count(&data.join("cas/layers/sha256"), "")
}

pub fn layer_trees(data: &Path) -> usize {
    count(&data.join("cas/tree"), "layer-sha256-")
}

pub fn probe_cmd() -> Vec<&'static str> {
    vec![
        "--print-user",
        "--print-env=OCI_VAR",
        "--print-cwd",
        "--exists=/a/gone",
        "--exists=/a/keep",
        "--list-dir=/b",
        "--read-file=/hl",
        "--read-file=/s",
    ]
}

pub fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

pub fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
