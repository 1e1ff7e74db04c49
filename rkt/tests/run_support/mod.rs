//! Support for the `rkt run`/`prepare`/`run-prepared` functional tests: a STUB stage1 image
//! whose `run` entrypoint is a host `/bin/sh` script that records what stage0 handed it (argv,
//! cwd, `RKT_LOCK_FD`, whether the pod lock is held, the pod dir's files) and exits with a
//! code baked into the image; and app images with an `app` section.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aci::archive::{Compression, write_aci_entries};
use aci::entry::{EntryHeader, EntryKind};

fn header(path: &str, kind: EntryKind, mode: u32, size: u64) -> EntryHeader {
    EntryHeader {
        path: PathBuf::from(path),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_500_000_000,
        size,
        xattrs: Vec::new(),
    }
}

/// Write an ACI: `manifest` plus directories and `(path, mode, content)` files.
pub fn write_aci(
    out: &Path,
    manifest: &serde_json::Value,
    dirs: &[&str],
    files: &[(&str, u32, Vec<u8>)],
) {
    let mut entries = Vec::new();
    for d in dirs {
        entries.push((header(d, EntryKind::Dir, 0o755, 0), Vec::new()));
    }
    for (p, mode, data) in files {
        entries.push((
            header(p, EntryKind::File, *mode, data.len() as u64),
            data.clone(),
        ));
    }
    let file = std::fs::File::create(out).expect("creating a test ACI");
    write_aci_entries(
        manifest.to_string().as_bytes(),
        entries,
        file,
        Compression::None,
    )
    .expect("writing a test ACI");
}

fn labels() -> serde_json::Value {
    let (os, arch) = aci::discovery::host_os_arch();
    serde_json::json!([{"name": "os", "value": os}, {"name": "arch", "value": arch}])
}

/// The stub stage1 at `<dir>/stub-stage1.aci`: its `run` entrypoint writes `record` (one
/// `key=value` per line) and `record.files` (the pod dir's `find` listing) and exits `code`.
pub fn stub_stage1(dir: &Path, record: &Path, code: i32) -> PathBuf {
    let script = format!(
        r#"#!/bin/sh
rec='{rec}'
{{
  echo "argv0=$0"
  for a in "$@"; do echo "arg=$a"; done
  echo "cwd=$(pwd -P)"
  echo "lockfd=$RKT_LOCK_FD"
  echo "pids=${{RKT_STAGE1_PIDS_LIMIT-unset}}"
  echo "lockpath=$(readlink /proc/self/fd/$RKT_LOCK_FD)"
  if flock -n -x . true; then echo "locked=no"; else echo "locked=yes"; fi
}} > "$rec"
find . | sort > "$rec.files"
exit {code}
"#,
        rec = record.display()
    );
    let manifest = serde_json::json!({
        "acKind": "ImageManifest", "acVersion": "0.8.11",
        "name": "example.com/stub-stage1", "labels": labels(),
        "annotations": [
            {"name": "coreos.com/rkt/stage1/run", "value": "/usr/lib/rkt/stage1/init"},
            {"name": "coreos.com/rkt/stage1/interface-version", "value": "6"}
        ]
    });
    let out = dir.join("stub-stage1.aci");
    write_aci(
        &out,
        &manifest,
        &[
            "usr",
            "usr/lib",
            "usr/lib/rkt",
            "usr/lib/rkt/stage1",
            "opt",
            "opt/stage2",
        ],
        &[("usr/lib/rkt/stage1/init", 0o755, script.into_bytes())],
    );
    out
}

/// An app image `example.com/<name>` running `/bin/<name> img-arg` as 0:0 with environment
/// IMG=image, OVER=image.
pub fn app_image(dir: &Path, name: &str) -> PathBuf {
    let manifest = serde_json::json!({
        "acKind": "ImageManifest", "acVersion": "0.8.11",
        "name": format!("example.com/{name}"), "labels": labels(),
        "app": {
            "exec": [format!("/bin/{name}"), "img-arg"], "user": "0", "group": "0",
            "environment": [
                {"name": "IMG", "value": "image"}, {"name": "OVER", "value": "image"},
                {"name": "HOSTVAR", "value": "image"}
            ]
        }
    });
    let out = dir.join(format!("{name}.aci"));
    write_aci(
        &out,
        &manifest,
        &["bin", "etc"],
        &[
            (
                &format!("bin/{name}"),
                0o755,
                b"#!/bin/sh\necho hi\n".to_vec(),
            ),
            ("etc/data", 0o600, b"data\n".to_vec()),
        ],
    );
    out
}

/// The stub's record: `key=value` lines (`arg` repeated, in order).
#[derive(Debug)]
pub struct Record {
    pub values: BTreeMap<String, String>,
    pub args: Vec<String>,
    pub files: Vec<String>,
}

impl Record {
    pub fn read(record: &Path) -> Record {
        let text = std::fs::read_to_string(record)
            .unwrap_or_else(|e| panic!("the stub stage1 left no record at {record:?}: {e}"));
        let mut values = BTreeMap::new();
        let mut args = Vec::new();
        for line in text.lines() {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            if k == "arg" {
                args.push(v.to_string());
            } else {
                values.insert(k.to_string(), v.to_string());
            }
        }
        let mut files_path = record.as_os_str().to_owned();
        files_path.push(".files");
        let files = std::fs::read_to_string(PathBuf::from(files_path))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        Record {
            values,
            args,
            files,
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.values
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {key} in the record {self:#?}"))
    }
}
