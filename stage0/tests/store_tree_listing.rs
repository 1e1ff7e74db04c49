//! The `files` listing a render records while writing must equal, byte for byte, a listing
//! made afterwards by reading the tree back (what `image verify` does): across dependencies, a
//! path whitelist, hard links, symlinks, setuid files, xattrs and implicit directories.

mod store_support;

use std::fs;
use std::path::PathBuf;

use aci::archive::{Compression, EntryHeader, EntryKind, write_aci_entries};
use sha2::{Digest, Sha512};
use stage0::store::{Origin, Store};
use store_support::{dep_by_name, manifest};

fn entry(
    path: &str,
    kind: EntryKind,
    mode: u32,
    owner: u32,
    data: &[u8],
) -> (EntryHeader, Vec<u8>) {
    let h = EntryHeader {
        path: PathBuf::from(path),
        kind,
        mode,
        uid: owner,
        gid: owner + 10,
        mtime: 1_600_000_000,
        size: data.len() as u64,
        xattrs: Vec::new(),
    };
    (h, data.to_vec())
}

fn file(path: &str, mode: u32, owner: u32, data: &[u8]) -> (EntryHeader, Vec<u8>) {
    entry(path, EntryKind::File, mode, owner, data)
}

fn dir(path: &str, mode: u32, owner: u32) -> (EntryHeader, Vec<u8>) {
    entry(path, EntryKind::Dir, mode, owner, b"")
}

#[test]
fn recorded_listing_equals_a_listing_read_back() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: the tree store renders with owners only as root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let base_entries = vec![
        dir("usr", 0o755, 0),
        dir("usr/bin", 0o750, 2),
        file("usr/bin/su", 0o4755, 0, b"setuid"),
        file("usr/bin/hidden", 0o755, 0, b"not whitelisted"),
        entry(
            "usr/bin/su-link",
            EntryKind::HardLink("usr/bin/su".into()),
            0o644,
            0,
            b"",
        ),
        file("etc/base", 0o600, 4, b"from base"),
        file("etc/shared", 0o644, 0, b"base version"),
        dir("etc", 0o711, 1),
    ];
    let m = manifest("example.com/base", Some("1"), &[], &[]);
    let mut bytes = Vec::new();
    write_aci_entries(&m, base_entries, &mut bytes, Compression::Gzip).unwrap();
    store.import(&bytes[..], Origin::default()).unwrap();

    let mut caps = file("bin/ping", 0o755, 0, b"ping");
    caps.0.xattrs = vec![(b"user.rkt-test".to_vec(), b"value".to_vec())];
    let top_entries = vec![
        caps,
        file("etc/shared", 0o640, 3, b"top version"),
        entry(
            "etc/shared.lnk",
            EntryKind::Symlink("shared".into()),
            0o777,
            5,
            b"",
        ),
        entry(
            "etc/hard",
            EntryKind::HardLink("etc/shared".into()),
            0o644,
            0,
            b"",
        ),
        entry("run/fifo", EntryKind::Fifo, 0o620, 6, b""),
        file("srv/a\tb", 0o2755, 7, b"a name with a tab"),
    ];
    let whitelist = [
        "/usr/bin/su",
        "/usr/bin/su-link",
        "/etc/base",
        "/etc/shared",
        "/etc/shared.lnk",
        "/etc/hard",
        "/bin/ping",
        "/run/fifo",
        "/srv/a\tb",
    ];
    let m = manifest(
        "example.com/top",
        None,
        &[dep_by_name("example.com/base", "1")],
        &whitelist,
    );
    let mut bytes = Vec::new();
    write_aci_entries(&m, top_entries, &mut bytes, Compression::Gzip).unwrap();
    let top = store.import(&bytes[..], Origin::default()).unwrap();

    let tree = store.render_tree(&top.key).unwrap();
    let files = fs::read_to_string(tree.dir.join("files")).unwrap();
    assert_eq!(store.verify_tree(&tree.id).unwrap(), vec![], "{files}");
    let hash = format!("sha512-{}", hex::encode(Sha512::digest(files.as_bytes())));
    assert_eq!(fs::read_to_string(tree.dir.join("hash")).unwrap(), hash);
    for expected in [
        "usr/bin/su\t4755 0:10 file 6 ",
        "usr/bin/su-link\t4755 0:10 file 6 ",
        "usr/bin\t750 2:12 dir\n",
        "etc\t711 1:11 dir\n",
        "etc/shared\t640 3:13 file 11 ",
        "etc/shared.lnk\t777 5:15 link shared\n",
        "run\t755 0:0 dir\n",
        "run/fifo\t620 6:16 node 0\n",
        "srv/a\\tb\t2755 7:17 file 17 ",
    ] {
        assert!(files.contains(expected), "{expected:?} not in\n{files}");
    }
    assert!(!files.contains("usr/bin/hidden"), "{files}");
    assert!(files.contains(" file 6 blake3:"), "{files}");

    // A tree listed by an older version (unnamed SHA-512 halves) verifies with its own
    // algorithm, and a change to a file is still caught.
    let rootfs = tree.dir.join("rootfs");
    let old_style: String = files.lines().map(|l| sha512_line(&rootfs, l)).collect();
    assert!(!old_style.contains("blake3:"), "{old_style}");
    fs::write(tree.dir.join("files"), &old_style).unwrap();
    assert_eq!(store.verify_tree(&tree.id).unwrap(), vec![], "{old_style}");
    fs::write(rootfs.join("etc/shared"), b"tampered!!!").unwrap();
    let problems = store.verify_tree(&tree.id).unwrap();
    // etc/hard is a hard link to etc/shared: both show the change.
    let paths: Vec<_> = problems.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["etc/hard", "etc/shared"], "{problems:?}");
    assert!(problems.iter().all(|m| m.problem.starts_with("changed")));
}

/// A listing line as older versions wrote it: a file's digest is the first 32 bytes of its
/// SHA-512, with no algorithm named.
fn sha512_line(rootfs: &std::path::Path, line: &str) -> String {
    let Some((head, digest)) = line.split_once(" blake3:") else {
        return format!("{line}\n");
    };
    assert_eq!(digest.len(), 64, "{line}");
    let path = line.split_once('\t').unwrap().0.replace("\\t", "\t");
    let data = fs::read(rootfs.join(path)).unwrap();
    format!("{head} {}\n", hex::encode(&Sha512::digest(&data)[..32]))
}
