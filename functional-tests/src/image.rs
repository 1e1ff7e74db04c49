//! Building real ACIs: a generic [`ImageBuilder`] (manifest + rootfs entries, written
//! reproducibly with `aci::archive`), the stage1 image ([`stage1_image`]) and the test images
//! around the `inspect` probe ([`InspectImage`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aci::archive::{ArchiveError, Compression, write_aci_entries};
use aci::entry::{EntryHeader, EntryKind};
use aci::types::ImageId;
use serde_json::{Value, json};

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the image {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("packing the image {path}: {source}")]
    Pack { path: PathBuf, source: ArchiveError },
}

/// Fixed mtime of every entry, so the same inputs give the same bytes.
pub const MTIME: u64 = 1_500_000_000;

/// An ACI under construction: a manifest and rootfs entries kept sorted by path (so parents
/// come before children and the output is reproducible).
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    pub manifest: Value,
    entries: BTreeMap<PathBuf, (EntryHeader, Vec<u8>)>,
}

impl ImageBuilder {
    /// An image manifest named `name` with labels os=linux, arch=amd64 and `version`.
    pub fn new(name: &str, version: &str) -> ImageBuilder {
        let manifest = json!({
            "acKind": "ImageManifest",
            "acVersion": "0.8.11",
            "name": name,
            "labels": [
                {"name": "version", "value": version},
                {"name": "os", "value": "linux"},
                {"name": "arch", "value": "amd64"},
            ],
        });
        ImageBuilder {
            manifest,
            entries: BTreeMap::new(),
        }
    }

    fn put(&mut self, path: &str, kind: EntryKind, mode: u32, owner: (u32, u32), data: Vec<u8>) {
        let path = PathBuf::from(path.trim_start_matches('/'));
        // Parents first, as plain root-owned 0755 dirs, unless added explicitly.
        let mut parent = path.parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            self.entries
                .entry(p.to_path_buf())
                .or_insert_with(|| (header(p, EntryKind::Dir, 0o755, (0, 0), 0), Vec::new()));
            parent = p.parent();
        }
        let h = header(&path, kind, mode, owner, data.len() as u64);
        self.entries.insert(path, (h, data));
    }

    pub fn file(&mut self, path: &str, data: &[u8], mode: u32, owner: (u32, u32)) -> &mut Self {
        self.put(path, EntryKind::File, mode, owner, data.to_vec());
        self
    }

    pub fn dir(&mut self, path: &str, mode: u32, owner: (u32, u32)) -> &mut Self {
        self.put(path, EntryKind::Dir, mode, owner, Vec::new());
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let kind = EntryKind::Symlink(PathBuf::from(target));
        self.put(path, kind, 0o777, (0, 0), Vec::new());
        self
    }

    /// Set (or replace) the annotation `name`.
    pub fn annotation(&mut self, name: &str, value: &str) -> &mut Self {
        set_named(&mut self.manifest, "annotations", name, value);
        self
    }

    /// The uncompressed tar and the image ID.
    pub fn tar(&self) -> Result<(Vec<u8>, ImageId), ArchiveError> {
        let mut out = Vec::new();
        let id = write_aci_entries(
            self.manifest.to_string().as_bytes(),
            self.entries.values().cloned(),
            &mut out,
            Compression::None,
        )?;
        Ok((out, id))
    }

    /// Write the image gzip-compressed to `out`; returns its ID (of the uncompressed tar).
    pub fn write(&self, out: &Path) -> Result<ImageId, ImageError> {
        self.write_as(out, Compression::Gzip)
    }

    /// Write the image to `out` with `compression` (`None`: a plain tar, also a valid ACI).
    pub fn write_as(&self, out: &Path, compression: Compression) -> Result<ImageId, ImageError> {
        let file = std::fs::File::create(out).map_err(|source| ImageError::Write {
            path: out.to_path_buf(),
            source,
        })?;
        let manifest = self.manifest.to_string();
        let entries = self.entries.values().cloned();
        write_aci_entries(manifest.as_bytes(), entries, file, compression).map_err(|source| {
            ImageError::Pack {
                path: out.to_path_buf(),
                source,
            }
        })
    }
}

fn header(path: &Path, kind: EntryKind, mode: u32, owner: (u32, u32), size: u64) -> EntryHeader {
    EntryHeader {
        path: path.to_path_buf(),
        kind,
        mode,
        uid: owner.0,
        gid: owner.1,
        mtime: MTIME,
        size,
        xattrs: Vec::new(),
    }
}

/// Set `{name, value}` in the list `field` of `obj` (labels, annotations, environment).
fn set_named(obj: &mut Value, field: &str, name: &str, value: &str) {
    let list = obj
        .as_object_mut()
        .map(|o| o.entry(field).or_insert_with(|| json!([])));
    if let Some(Value::Array(items)) = list {
        items.retain(|i| i["name"] != name);
        items.push(json!({"name": name, "value": value}));
    }
}

/// The stage1 image name fixed by the ABI decisions.
pub const STAGE1_NAME: &str = "rkt-rs.dev/stage1-default";
/// Where the multi-call binary lives in the stage1 rootfs.
pub const STAGE1_DIR: &str = "usr/lib/rkt/stage1";
/// The app skeleton in the stage1 rootfs (the same path as stage1's `setup::APP_SKEL`).
pub const APP_SKEL_DIR: &str = "usr/lib/rkt/app-skel";
/// The entrypoints: annotation suffix and the multi-call name it runs.
pub const STAGE1_ENTRYPOINTS: [(&str, &str); 4] = [
    ("run", "init"),
    ("enter", "enter"),
    ("gc", "gc"),
    ("stop", "stop"),
];

/// The default stage1 image around the static `rkt-stage1` binary: the entrypoint symlinks,
/// the empty dirs the pod needs, the ABI annotations. Everything root-owned, files 0755/0644.
pub fn stage1_image(binary: &[u8], name: &str, version: &str) -> ImageBuilder {
    let mut b = ImageBuilder::new(name, version);
    b.file(&format!("{STAGE1_DIR}/rkt-stage1"), binary, 0o755, (0, 0));
    for link in ["init", "enter", "gc", "stop", "stage2"] {
        b.symlink(&format!("{STAGE1_DIR}/{link}"), "rkt-stage1");
    }
    // `oldroot`: where PID 1's pivot_root puts the host's root until it is detached.
    for dir in ["opt/stage2", "rkt", "proc", "dev", "sys", "etc", "oldroot"] {
        b.dir(dir, 0o755, (0, 0));
    }
    b.dir("tmp", 0o1777, (0, 0));
    // The app skeleton, every app overlay's bottom layer (stage1's `setup::APP_SKEL`). No
    // `tmp`: nothing under /usr is world-writable, not even in the store's tree.
    b.dir(APP_SKEL_DIR, 0o755, (0, 0));
    for dir in ["dev", "proc", "sys", "etc"] {
        b.dir(&format!("{APP_SKEL_DIR}/{dir}"), 0o755, (0, 0));
    }
    b.file(&format!("{APP_SKEL_DIR}/etc/hostname"), b"", 0o644, (0, 0));
    for (annotation, entry) in STAGE1_ENTRYPOINTS {
        let value = format!("/{STAGE1_DIR}/{entry}");
        b.annotation(&format!("coreos.com/rkt/stage1/{annotation}"), &value);
    }
    b.annotation("coreos.com/rkt/stage1/interface-version", "6");
    // Our stage1 mounts the store's tree as its root (binds): stage0 makes no link farm.
    b.annotation("rkt-rs.dev/stage1/rootfs", "overlay-ro");
    b
}

/// The image's `/etc/passwd`: root, `user` (1000) and nobody.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
user:x:1000:1000:user:/home/user:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
/// The image's `/etc/group`: `user` (1000) is also in `staff` (2000).
pub const GROUP: &str = "root:x:0:\nuser:x:1000:\nstaff:x:2000:user\nnogroup:x:65534:\n";
/// A file owned by 1001:1002, for `--user=/owned --group=/owned`.
pub const OWNED_FILE: &str = "/owned";

/// A test image whose app is the `inspect` probe (`/inspect`), with a minimal passwd/group, a
/// few dirs (`/tmp`, `/root`, `/home/user`, `/dir1/file`) and [`OWNED_FILE`].
#[derive(Debug, Clone)]
pub struct InspectImage {
    name: String,
    exec: Vec<String>,
    app: Value,
    extra: Vec<Extra>,
    annotations: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum Extra {
    File(String, Vec<u8>, u32, (u32, u32)),
    Dir(String, u32),
    Symlink(String, String),
    /// Remove the default entry at this path (e.g. to replace `/etc` by a symlink).
    Without(String),
}

impl InspectImage {
    /// `name` is a full image name (`example.com/foo`); the app name is its last component.
    pub fn new(name: &str) -> InspectImage {
        InspectImage {
            name: name.to_string(),
            exec: vec!["/inspect".into()],
            app: json!({"user": "0", "group": "0"}),
            extra: Vec::new(),
            annotations: Vec::new(),
        }
    }

    /// The app's exec: `/inspect` followed by these arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.exec = std::iter::once("/inspect")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        self
    }

    /// The whole exec array.
    pub fn exec(mut self, exec: &[&str]) -> Self {
        self.exec = exec.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.app["user"] = json!(user);
        self
    }

    pub fn group(mut self, group: &str) -> Self {
        self.app["group"] = json!(group);
        self
    }

    pub fn working_dir(mut self, dir: &str) -> Self {
        self.app["workingDirectory"] = json!(dir);
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        set_named(&mut self.app, "environment", name, value);
        self
    }

    pub fn mount_point(mut self, name: &str, path: &str, read_only: bool) -> Self {
        let mp = json!({"name": name, "path": path, "readOnly": read_only});
        let list = self.app.as_object_mut().map(|o| o.entry("mountPoints"));
        if let Some(entry) = list {
            match entry.or_insert_with(|| json!([])) {
                Value::Array(items) => items.push(mp),
                other => *other = json!([mp]),
            }
        }
        self
    }

    /// An isolator as JSON (`{"name": ..., "value": ...}`).
    pub fn isolator(mut self, isolator: Value) -> Self {
        if let Some(o) = self.app.as_object_mut() {
            match o.entry("isolators").or_insert_with(|| json!([])) {
                Value::Array(items) => items.push(isolator),
                other => *other = json!([isolator]),
            }
        }
        self
    }

    pub fn annotation(mut self, name: &str, value: &str) -> Self {
        self.annotations.push((name.into(), value.into()));
        self
    }

    /// An event handler (`pre-start` or `post-stop`) running `exec`.
    pub fn event_handler(mut self, name: &str, exec: &[&str]) -> Self {
        let handler = json!({"name": name, "exec": exec});
        if let Some(o) = self.app.as_object_mut() {
            match o.entry("eventHandlers").or_insert_with(|| json!([])) {
                Value::Array(items) => items.push(handler),
                other => *other = json!([handler]),
            }
        }
        self
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> Self {
        self.extra
            .push(Extra::File(path.into(), data.to_vec(), 0o644, (0, 0)));
        self
    }

    pub fn file_with(mut self, path: &str, data: &[u8], mode: u32, owner: (u32, u32)) -> Self {
        self.extra
            .push(Extra::File(path.into(), data.to_vec(), mode, owner));
        self
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        self.extra.push(Extra::Dir(path.into(), mode));
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.extra.push(Extra::Symlink(path.into(), target.into()));
        self
    }

    /// Drop a default entry and everything under it (e.g. `etc`, to make it a symlink).
    pub fn without(mut self, path: &str) -> Self {
        self.extra.push(Extra::Without(path.into()));
        self
    }

    /// The app name rkt derives from the image name.
    pub fn app_name(&self) -> String {
        self.name
            .rsplit('/')
            .next()
            .unwrap_or(&self.name)
            .to_string()
    }

    /// The full image, with the probe's bytes.
    pub fn builder(&self, inspect: &[u8]) -> ImageBuilder {
        let mut b = ImageBuilder::new(&self.name, "1");
        let mut app = self.app.clone();
        app["exec"] = json!(self.exec);
        b.manifest["app"] = app;
        for (k, v) in &self.annotations {
            b.annotation(k, v);
        }
        b.file("inspect", inspect, 0o755, (0, 0));
        b.file("etc/passwd", PASSWD.as_bytes(), 0o644, (0, 0));
        b.file("etc/group", GROUP.as_bytes(), 0o644, (0, 0));
        b.dir("tmp", 0o1777, (0, 0));
        b.dir("root", 0o700, (0, 0));
        b.dir("home/user", 0o755, (1000, 1000));
        b.file("dir1/file", b"dir1\n", 0o644, (0, 0));
        b.file(OWNED_FILE, b"owned\n", 0o644, (1001, 1002));
        for e in &self.extra {
            match e {
                Extra::File(p, data, mode, owner) => b.file(p, data, *mode, *owner),
                Extra::Dir(p, mode) => b.dir(p, *mode, (0, 0)),
                Extra::Symlink(p, target) => b.symlink(p, target),
                Extra::Without(p) => {
                    let p = Path::new(p.trim_start_matches('/'));
                    b.entries.retain(|k, _| !k.starts_with(p));
                    &mut b
                }
            };
        }
        b
    }

    /// Write `<dir>/<app name>.aci` with the static probe from `RKT_INSPECT_BIN`; panics with
    /// the fix when that is unset or the image cannot be written (a test helper). The image is
    /// an uncompressed tar: test builds are unoptimised, and gzip would dominate a test's time.
    pub fn build(&self, dir: &Path) -> PathBuf {
        let inspect = crate::env_path("RKT_INSPECT_BIN");
        let bytes = std::fs::read(&inspect)
            .unwrap_or_else(|e| panic!("reading the inspect probe {}: {e}", inspect.display()));
        let out = dir.join(format!("{}.aci", self.app_name()));
        self.builder(&bytes)
            .write_as(&out, Compression::None)
            .unwrap_or_else(|e| panic!("{e}"));
        out
    }
}
