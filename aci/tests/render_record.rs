//! The record a render keeps (`render_recorded`) must be exactly what the disk shows afterwards:
//! every node, kind, mode, owner, size and data hash, across layers, whitelists, whiteouts,
//! hard links, symlinks, special files, setuid bits, xattrs and implicit directories.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aci::entry::{EntryHeader, EntryKind};
use aci::extract::ExtractOptions;
use aci::render::{FileDigest, Layer, Node, NodeKind, Record, render_recorded};

fn hdr(path: &str, kind: EntryKind, mode: u32, owner: u32) -> EntryHeader {
    EntryHeader {
        path: path.into(),
        kind,
        mode,
        uid: owner,
        gid: owner + 1,
        mtime: 1_000,
        size: 0,
        xattrs: vec![],
    }
}

type Entry = (EntryHeader, Vec<u8>);

fn file(path: &str, data: &str, mode: u32, owner: u32) -> Entry {
    let h = EntryHeader {
        size: data.len() as u64,
        ..hdr(path, EntryKind::File, mode, owner)
    };
    (h, data.as_bytes().to_vec())
}

fn dir(path: &str, mode: u32, owner: u32) -> Entry {
    (hdr(path, EntryKind::Dir, mode, owner), vec![])
}

fn other(path: &str, kind: EntryKind) -> Entry {
    (hdr(path, kind, 0o640, 7), vec![])
}

fn layer(
    name: &str,
    whitelist: &[&str],
    whiteouts: &[&str],
    entries: Vec<Entry>,
) -> Layer<'static> {
    let whitelists = if whitelist.is_empty() {
        vec![]
    } else {
        vec![whitelist.iter().map(|s| s.to_string()).collect()]
    };
    Layer {
        name: name.to_string(),
        whitelists,
        whiteouts: whiteouts.iter().map(PathBuf::from).collect(),
        walk: Box::new(move |sink| {
            for (h, data) in &entries {
                sink(h, &mut data.as_slice())?;
            }
            Ok(())
        }),
    }
}

/// What the disk shows below `root`, read back node by node (never following symlinks).
fn on_disk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Node>) {
    for entry in fs::read_dir(root.join(rel)).unwrap() {
        let path = rel.join(entry.unwrap().file_name());
        let full = root.join(&path);
        let meta = fs::symlink_metadata(&full).unwrap();
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            on_disk(root, &path, out);
            NodeKind::Dir
        } else if ft.is_symlink() {
            NodeKind::Symlink(fs::read_link(&full).unwrap())
        } else if ft.is_file() {
            let digest = FileDigest::Blake3(*blake3::hash(&fs::read(&full).unwrap()).as_bytes());
            NodeKind::File {
                size: meta.len(),
                digest,
            }
        } else {
            assert!(ft.is_fifo() || ft.is_char_device() || ft.is_block_device());
            NodeKind::Special { rdev: meta.rdev() }
        };
        let node = Node {
            kind,
            mode: meta.permissions().mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        };
        out.insert(path, node);
    }
}

fn render_and_compare(layers: Vec<Layer<'static>>, opts: ExtractOptions) -> Record {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    fs::create_dir(&root).unwrap();
    let (_, record) = render_recorded(&root, layers, opts).unwrap();
    let mut disk = BTreeMap::new();
    on_disk(&root, Path::new(""), &mut disk);
    assert!(record.exact, "a render as root records exactly");
    assert_eq!(record.nodes, disk);
    record
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn record_matches_the_disk_across_layers() {
    if !is_root() {
        eprintln!("skipped: owners are only recorded exactly as root");
        return;
    }
    let mut caps = file("bin/ping", "ping", 0o755, 0);
    // security.capability is not cleared: ownership is applied before xattrs.
    caps.0.xattrs = vec![(b"user.origin".to_vec(), b"top".to_vec())];
    let top = layer(
        "top",
        &[],
        &["opt/gone"],
        vec![
            dir("", 0o755, 0),
            // usr is created implicitly here; the lower layer's entry gives it its metadata.
            file("usr/bin/tool", "tool v2", 0o4755, 0),
            file("etc/shared", "top", 0o600, 3),
            other("etc/shared-link", EntryKind::HardLink("etc/shared".into())),
            other("lib", EntryKind::Symlink("usr/lib".into())),
            other("run/fifo", EntryKind::Fifo),
            other("dev/null", EntryKind::CharDevice { major: 1, minor: 3 }),
            caps,
            dir("srv", 0o2775, 5),
        ],
    );
    let mid = layer(
        "mid",
        &[
            "/etc/shared",
            "/etc/mid",
            "/usr/bin/tool",
            "/opt/gone/x",
            "/lib/x",
        ],
        &[],
        vec![
            dir("usr", 0o750, 9),
            dir("etc", 0o711, 2),
            file("etc/shared", "mid", 0o644, 0),
            file("etc/mid", "mid only", 0o640, 4),
            file("etc/dropped", "not whitelisted", 0o644, 0),
            file("usr/bin/tool", "tool v1", 0o755, 0),
            file("opt/gone/x", "whited out", 0o644, 0),
            file("lib/x", "under an upper symlink", 0o644, 0),
        ],
    );
    let low = layer(
        "low",
        &[],
        &[],
        vec![
            file("base", "base", 0o444, 1),
            other("base-link", EntryKind::HardLink("base".into())),
            dir("opt/kept", 0o700, 6),
        ],
    );
    let opts = ExtractOptions {
        allow_devices: true,
        ..ExtractOptions::default()
    };
    let record = render_and_compare(vec![top, mid, low], opts);
    let n = |p: &str| record.nodes.get(Path::new(p)).cloned();
    assert_eq!(n("usr").map(|n| (n.mode, n.uid)), Some((0o750, 9)));
    assert_eq!(n("usr/bin").map(|n| (n.mode, n.uid)), Some((0o755, 0)));
    assert_eq!(n("usr/bin/tool").map(|n| n.mode), Some(0o4755));
    assert_eq!(n("etc/shared-link"), n("etc/shared"));
    for gone in ["etc/dropped", "opt/gone", "opt/gone/x", "lib/x"] {
        assert_eq!(n(gone), None, "{gone}");
    }
    assert!(n("opt/kept").is_some() && n("base-link") == n("base"));
}

#[test]
fn skipped_devices_are_not_recorded() {
    if !is_root() {
        eprintln!("skipped: owners are only recorded exactly as root");
        return;
    }
    let only = layer(
        "only",
        &[],
        &[],
        vec![
            other("dev/sda", EntryKind::BlockDevice { major: 8, minor: 0 }),
            file("dev/keep", "x", 0o644, 0),
        ],
    );
    let record = render_and_compare(vec![only], ExtractOptions::default());
    assert_eq!(
        record.nodes.keys().collect::<Vec<_>>(),
        vec![Path::new("dev"), Path::new("dev/keep")]
    );
}

#[test]
fn without_ownership_the_record_is_inexact() {
    let only = layer("only", &[], &[], vec![file("a", "a", 0o644, 0)]);
    let tmp = tempfile::tempdir().unwrap();
    let opts = ExtractOptions {
        preserve_ownership: false,
        ..ExtractOptions::default()
    };
    let (_, record) = render_recorded(tmp.path(), vec![only], opts).unwrap();
    assert!(!record.exact, "owners were left to the kernel");
}
