//! Writing ACIs: every EntryHeader field survives a round trip, output is deterministic, and
//! appc's own validator (`actool validate`) accepts what we write.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use aci::archive::{
    ArchiveError, Compression, ReadOptions, read_archive, write_aci, write_aci_entries,
};
use aci::entry::{EntryHeader, EntryKind};

const MANIFEST: &[u8] = br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}"#;

type Entries = Vec<(EntryHeader, Vec<u8>)>;

fn eh(path: &str, kind: EntryKind, mode: u32) -> EntryHeader {
    EntryHeader {
        path: PathBuf::from(path),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        size: 0,
        xattrs: vec![],
    }
}

fn read_back(bytes: &[u8]) -> Entries {
    let mut out = Vec::new();
    read_archive(bytes, &ReadOptions::default(), |h, data| {
        let mut v = Vec::new();
        data.read_to_end(&mut v).map_err(ArchiveError::Io)?;
        out.push((h.clone(), v));
        Ok::<(), ArchiveError>(())
    })
    .unwrap();
    out
}

fn every_kind() -> Entries {
    let long_dir = "d".repeat(150);
    let long_file = format!("{long_dir}/{}", "f".repeat(130));
    let mut root = eh("", EntryKind::Dir, 0o750);
    root.uid = 7;
    let mut setuid = eh("bin/su", EntryKind::File, 0o4755);
    setuid.uid = 1000;
    setuid.gid = 2000;
    setuid.size = 5;
    setuid.xattrs = vec![
        (
            b"security.capability".to_vec(),
            vec![1, 0, 0, 2, b'\n', 0, 0xff],
        ),
        (b"user.note".to_vec(), b"hi there".to_vec()),
    ];
    let mut big = eh(&long_file, EntryKind::File, 0o600);
    big.uid = 3_000_000; // over the 7 octal digits of ustar
    big.gid = 4_000_000_000;
    big.mtime = 20_000_000_000; // over 11 octal digits
    big.size = 3;
    let long_target = format!("../{}", "t/".repeat(80));
    vec![
        (root, vec![]),
        (eh("bin", EntryKind::Dir, 0o2755), vec![]),
        (setuid, b"\x7fELF!".to_vec()),
        (
            eh("bin/su-link", EntryKind::HardLink("bin/su".into()), 0o4755),
            vec![],
        ),
        (
            eh("bin/sh", EntryKind::Symlink("/bin/busybox".into()), 0o777),
            vec![],
        ),
        (
            eh("bin/far", EntryKind::Symlink(long_target.into()), 0o777),
            vec![],
        ),
        (eh("dev", EntryKind::Dir, 0o1777), vec![]),
        (
            eh(
                "dev/null",
                EntryKind::CharDevice { major: 1, minor: 3 },
                0o666,
            ),
            vec![],
        ),
        (
            eh(
                "dev/sda",
                EntryKind::BlockDevice { major: 8, minor: 0 },
                0o660,
            ),
            vec![],
        ),
        (eh("dev/pipe", EntryKind::Fifo, 0o600), vec![]),
        (eh(&long_dir, EntryKind::Dir, 0o755), vec![]),
        (big, b"abc".to_vec()),
    ]
}

#[test]
fn round_trip_keeps_every_field() {
    for c in [
        Compression::None,
        Compression::Gzip,
        Compression::Bzip2,
        Compression::Xz,
    ] {
        let mut out = Vec::new();
        let id = write_aci_entries(MANIFEST, every_kind(), &mut out, c).unwrap();
        let back = read_back(&out);
        assert_eq!(back, every_kind(), "{c}");
        let info = aci::archive::image_id_and_manifest(&out[..], &ReadOptions::default()).unwrap();
        assert_eq!(info.image_id, id);
        assert_eq!(info.manifest, MANIFEST);
    }
}

#[test]
fn rootfs_entry_is_added_when_missing() {
    let mut out = Vec::new();
    let mut f = eh("a", EntryKind::File, 0o644);
    f.size = 1;
    write_aci_entries(
        MANIFEST,
        vec![(f.clone(), b"x".to_vec())],
        &mut out,
        Compression::None,
    )
    .unwrap();
    let back = read_back(&out);
    assert_eq!(back[0].0.path, PathBuf::new());
    assert_eq!(back[0].0.kind, EntryKind::Dir);
    assert_eq!(back[1], (f, b"x".to_vec()));
}

#[test]
fn writer_refuses_bad_input() {
    let bad = |entries: Entries| {
        write_aci_entries(MANIFEST, entries, Vec::new(), Compression::None).unwrap_err()
    };
    let mut short = eh("a", EntryKind::File, 0o644);
    short.size = 10;
    assert!(matches!(
        bad(vec![(short, b"x".to_vec())]),
        ArchiveError::BadInput { .. }
    ));
    let up = eh("../a", EntryKind::Dir, 0o755);
    assert!(matches!(
        bad(vec![(up, vec![])]),
        ArchiveError::BadInput { .. }
    ));
    let abs = eh("/a", EntryKind::Dir, 0o755);
    assert!(matches!(
        bad(vec![(abs, vec![])]),
        ArchiveError::BadInput { .. }
    ));
    let dup = vec![
        (eh("a", EntryKind::Dir, 0o755), vec![]),
        (eh("a", EntryKind::Dir, 0o755), vec![]),
    ];
    assert!(matches!(bad(dup), ArchiveError::BadInput { .. }));
    let out_link = eh("l", EntryKind::HardLink("../etc".into()), 0o644);
    assert!(matches!(
        bad(vec![(out_link, vec![])]),
        ArchiveError::BadInput { .. }
    ));
}

/// Set a node's mtime without following a symlink.
fn set_mtime(path: &Path, secs: i64) {
    let t = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &t,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// True when the file system takes `user.` xattrs (tmpfs before 6.6 does not).
fn try_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()).is_ok()
}

/// Build a tree with every node type; `reverse` creates the files in the opposite order.
fn make_tree(root: &Path, reverse: bool) -> bool {
    let names = ["a", "b", "c"];
    let order: Vec<_> = if reverse {
        names.iter().rev().collect()
    } else {
        names.iter().collect()
    };
    fs::create_dir_all(root.join("etc/deep")).unwrap();
    for n in order {
        fs::write(root.join("etc").join(n), format!("file {n}\n")).unwrap();
    }
    fs::write(root.join("etc/deep/x"), vec![9u8; 100_000]).unwrap();
    fs::hard_link(root.join("etc/a"), root.join("etc/a-hard")).unwrap();
    symlink("../etc/a", root.join("etc/sym")).unwrap();
    fs::set_permissions(root.join("etc/b"), fs::Permissions::from_mode(0o4751)).unwrap();
    std::os::unix::fs::lchown(root.join("etc/c"), Some(1234), Some(5678)).unwrap();
    let fifo = root.join("etc/fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        0o600.into(),
        0,
    )
    .unwrap();
    let dev = root.join("etc/null");
    let dev_ok = rustix::fs::mknodat(
        rustix::fs::CWD,
        &dev,
        rustix::fs::FileType::CharacterDevice,
        0o666.into(),
        rustix::fs::makedev(1, 3),
    )
    .is_ok();
    let xattr_ok = try_xattr(&root.join("etc/b"), "user.z", b"2\n")
        && try_xattr(&root.join("etc/b"), "user.a", b"1");
    let all: Vec<PathBuf> = walk(root);
    for p in all {
        set_mtime(&p, 1_500_000_000);
    }
    let _ = dev_ok;
    xattr_ok
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                out.push(e.unwrap().path());
            }
        }
        i += 1;
    }
    out
}

#[test]
fn disk_tree_is_written_deterministically_and_faithfully() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let xattrs = make_tree(&one, false);
    make_tree(&two, true);
    for c in [Compression::None, Compression::Gzip] {
        let (mut a, mut b, mut again) = (Vec::new(), Vec::new(), Vec::new());
        let id_a = write_aci(MANIFEST, &one, &mut a, c).unwrap();
        let id_b = write_aci(MANIFEST, &two, &mut b, c).unwrap();
        write_aci(MANIFEST, &one, &mut again, c).unwrap();
        assert_eq!(a, again, "{c}: two writes of one tree differ");
        assert_eq!(a, b, "{c}: the same tree built in another order differs");
        assert_eq!(id_a, id_b);
    }
    let mut out = Vec::new();
    write_aci(MANIFEST, &one, &mut out, Compression::Gzip).unwrap();
    let back = read_back(&out);
    let paths: Vec<_> = back
        .iter()
        .map(|(h, _)| h.path.to_str().unwrap().to_string())
        .collect();
    let has_dev = paths.iter().any(|p| p == "etc/null");
    let mut want = vec![
        "",
        "etc",
        "etc/a",
        "etc/a-hard",
        "etc/b",
        "etc/c",
        "etc/deep",
        "etc/deep/x",
    ];
    want.extend(["etc/fifo"]);
    if has_dev {
        want.push("etc/null");
    }
    want.push("etc/sym");
    assert_eq!(paths, want);
    let get = |p: &str| back.iter().find(|(h, _)| h.path == Path::new(p)).unwrap();
    assert_eq!(
        get("etc/a-hard").0.kind,
        EntryKind::HardLink("etc/a".into())
    );
    assert_eq!(get("etc/sym").0.kind, EntryKind::Symlink("../etc/a".into()));
    assert_eq!(get("etc/b").0.mode, 0o4751);
    assert_eq!((get("etc/c").0.uid, get("etc/c").0.gid), (1234, 5678));
    assert_eq!(get("etc/fifo").0.kind, EntryKind::Fifo);
    assert_eq!(get("etc/deep/x").1, vec![9u8; 100_000]);
    assert_eq!(get("etc/a").1, b"file a\n");
    assert!(back.iter().all(|(h, _)| h.mtime == 1_500_000_000));
    if has_dev {
        assert_eq!(
            get("etc/null").0.kind,
            EntryKind::CharDevice { major: 1, minor: 3 }
        );
    }
    if xattrs {
        let want = vec![
            (b"user.a".to_vec(), b"1".to_vec()),
            (b"user.z".to_vec(), b"2\n".to_vec()),
        ];
        assert_eq!(get("etc/b").0.xattrs, want);
    } else {
        eprintln!("skipped xattr check: needs user xattrs on the temp file system");
    }
}

#[test]
fn actool_validates_what_we_write() {
    let actool = Path::new("/usr/bin/actool");
    if !actool.exists() {
        eprintln!("skipped: needs /usr/bin/actool (Debian package appc-spec)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    make_tree(&root, false);
    let long = root.join("x".repeat(120)).join("y".repeat(120));
    fs::create_dir_all(&long).unwrap();
    fs::write(long.join("z"), b"deep").unwrap();
    let validate = |manifest: &[u8], c: Compression, name: &str| {
        let file = tmp.path().join(name);
        write_aci(manifest, &root, fs::File::create(&file).unwrap(), c).unwrap();
        let out = Command::new(actool)
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for c in [
        Compression::None,
        Compression::Gzip,
        Compression::Bzip2,
        Compression::Xz,
    ] {
        let (ok, err) = validate(MANIFEST, c, "good.aci");
        assert!(ok, "actool rejected our {c} ACI: {err}");
    }
    let broken =
        br#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Not An AC Identifier!"}"#;
    let (ok, _) = validate(broken, Compression::Gzip, "bad.aci");
    assert!(!ok, "actool accepted an ACI with an invalid image name");
}
