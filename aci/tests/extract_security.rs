//! Hostile-archive tests for `aci::extract` (security.md T1–T4) and metadata fidelity, on real
//! file systems in temporary directories.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aci::entry::{EntryHeader, EntryKind};
use aci::extract::{Applied, Existing, ExtractError, ExtractOptions, Extractor, SkipReason};

fn hdr(path: &str, kind: EntryKind, mode: u32) -> EntryHeader {
    EntryHeader {
        path: path.into(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_500_000_000,
        size: 0,
        xattrs: vec![],
    }
}

fn file(path: &str, mode: u32, data: &[u8]) -> EntryHeader {
    EntryHeader {
        size: data.len() as u64,
        ..hdr(path, EntryKind::File, mode)
    }
}

fn dir(path: &str, mode: u32) -> EntryHeader {
    hdr(path, EntryKind::Dir, mode)
}

fn symlink(path: &str, target: &str) -> EntryHeader {
    hdr(path, EntryKind::Symlink(target.into()), 0o777)
}

fn hardlink(path: &str, target: &str) -> EntryHeader {
    hdr(path, EntryKind::HardLink(target.into()), 0o644)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A temp dir holding `root/` (the extraction root) and `sentinel/` (must never change).
struct Scene {
    tmp: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("root")).unwrap();
        let s = tmp.path().join("sentinel");
        fs::create_dir_all(s.join("etc")).unwrap();
        fs::write(s.join("file"), b"sentinel").unwrap();
        fs::write(s.join("etc/passwd"), b"root:x:0:0").unwrap();
        fs::set_permissions(&s, fs::Permissions::from_mode(0o755)).unwrap();
        Scene { tmp }
    }
    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }
    fn sentinel(&self) -> PathBuf {
        self.tmp.path().join("sentinel")
    }
    fn ex(&self, on_existing: Existing) -> Extractor {
        let opts = ExtractOptions {
            on_existing,
            ..ExtractOptions::default()
        };
        Extractor::new(&self.root(), opts).unwrap()
    }
    /// Everything observable about the sentinel tree (and the temp dir's direct children).
    fn snapshot(&self) -> BTreeMap<PathBuf, (u32, u64, u64, i64, Vec<u8>)> {
        let mut out = BTreeMap::new();
        walk(&self.sentinel(), &mut out);
        for e in fs::read_dir(self.tmp.path()).unwrap() {
            let p = e.unwrap().path();
            if p != self.root() && p != self.sentinel() {
                walk(&p, &mut out);
            }
        }
        out
    }
}

fn walk(p: &Path, out: &mut BTreeMap<PathBuf, (u32, u64, u64, i64, Vec<u8>)>) {
    let m = fs::symlink_metadata(p).unwrap();
    let data = if m.is_file() {
        fs::read(p).unwrap()
    } else {
        vec![]
    };
    out.insert(
        p.to_path_buf(),
        (m.mode(), m.nlink(), m.uid() as u64, m.mtime(), data),
    );
    if m.is_dir() {
        for e in fs::read_dir(p).unwrap() {
            walk(&e.unwrap().path(), out);
        }
    }
}

fn put(ex: &mut Extractor, h: &EntryHeader, data: &[u8]) -> Result<Applied, ExtractError> {
    ex.apply(h, &mut &data[..])
}

#[test]
fn t1_symlink_escape_is_refused() {
    for target in ["/", "../..", "../sentinel", ".", "etc"] {
        let sc = Scene::new();
        let before = sc.snapshot();
        let mut ex = sc.ex(Existing::Error);
        put(&mut ex, &dir("etc", 0o755), b"").unwrap();
        put(&mut ex, &symlink("x", target), b"").unwrap();
        for path in ["x/etc/p", "x/file", "x/p"] {
            let err = put(&mut ex, &file(path, 0o644, b"pwned"), b"pwned").unwrap_err();
            assert!(
                matches!(err, ExtractError::ThroughSymlink { .. }),
                "{target} {path}: {err}"
            );
            assert!(
                err.to_string().contains(path),
                "error names the entry: {err}"
            );
        }
        let err = put(&mut ex, &dir("x/d", 0o777), b"").unwrap_err();
        assert!(matches!(err, ExtractError::ThroughSymlink { .. }), "{err}");
        ex.finish().unwrap();
        assert_eq!(
            before,
            sc.snapshot(),
            "outside the root changed (target {target})"
        );
        assert!(!Path::new("/etc/p").exists());
        assert!(!sc.root().join("etc/p").exists());
    }
}

#[test]
fn t1_symlinked_grandparent_is_refused() {
    let sc = Scene::new();
    let before = sc.snapshot();
    let mut ex = sc.ex(Existing::Error);
    put(&mut ex, &symlink("a", "../sentinel"), b"").unwrap();
    let err = put(&mut ex, &file("a/etc/new", 0o644, b"x"), b"x").unwrap_err();
    assert!(matches!(err, ExtractError::ThroughSymlink { .. }), "{err}");
    assert_eq!(before, sc.snapshot());
}

#[test]
fn t2_bad_names_are_refused() {
    let sc = Scene::new();
    let mut ex = sc.ex(Existing::Error);
    for name in ["..", "../x", "/etc/x", "a/../../b", "a/..", "nul\0byte"] {
        let err = put(&mut ex, &file(name, 0o644, b""), b"").unwrap_err();
        assert!(
            matches!(err, ExtractError::InvalidPath { .. }),
            "{name:?}: {err}"
        );
    }
    let err = put(&mut ex, &file(".", 0o644, b""), b"").unwrap_err();
    assert!(matches!(err, ExtractError::RootNotDir { .. }), "{err}");
    assert_eq!(fs::read_dir(sc.root()).unwrap().count(), 0);
}

#[test]
fn t3_hard_link_escape_is_refused() {
    let sc = Scene::new();
    let before = sc.snapshot();
    let passwd_links = fs::metadata("/etc/passwd").map(|m| m.nlink()).ok();
    let mut ex = sc.ex(Existing::Error);
    put(&mut ex, &symlink("etcl", "/etc"), b"").unwrap();
    put(&mut ex, &symlink("s", "../sentinel"), b"").unwrap();
    put(&mut ex, &dir("d", 0o755), b"").unwrap();
    let cases = [
        ("l1", "../../etc/passwd"),
        ("l2", "/etc/passwd"),
        ("l3", "etcl/passwd"),
        ("l4", "s/file"),
        ("l5", "missing"),
        ("l6", "d"),
        ("l7", "."),
        ("d/l8", "../sentinel/file"),
    ];
    for (path, target) in cases {
        let err = put(&mut ex, &hardlink(path, target), b"").unwrap_err();
        assert!(
            matches!(err, ExtractError::HardLink { .. }),
            "{path} -> {target}: {err}"
        );
        assert!(err.to_string().contains(path), "{err}");
        assert!(fs::symlink_metadata(sc.root().join(path)).is_err());
    }
    ex.finish().unwrap();
    assert_eq!(before, sc.snapshot());
    assert_eq!(
        passwd_links,
        fs::metadata("/etc/passwd").map(|m| m.nlink()).ok()
    );
}

#[test]
fn hard_link_inside_works_and_links_symlinks_themselves() {
    let sc = Scene::new();
    let mut ex = sc.ex(Existing::Error);
    put(&mut ex, &file("a", 0o644, b"data"), b"data").unwrap();
    put(&mut ex, &hardlink("b", "a"), b"").unwrap();
    put(&mut ex, &symlink("s", "/etc/passwd"), b"").unwrap();
    put(&mut ex, &hardlink("s2", "s"), b"").unwrap();
    let stats = ex.finish().unwrap();
    assert_eq!(stats.hard_links, 2);
    assert_eq!(fs::metadata(sc.root().join("b")).unwrap().nlink(), 2);
    assert_eq!(fs::read(sc.root().join("b")).unwrap(), b"data");
    let s2 = fs::symlink_metadata(sc.root().join("s2")).unwrap();
    assert!(s2.file_type().is_symlink());
}

#[test]
fn t4_file_over_symlink_never_writes_through() {
    for on_existing in [Existing::Error, Existing::Skip] {
        let sc = Scene::new();
        let before = sc.snapshot();
        let mut ex = sc.ex(on_existing);
        put(&mut ex, &symlink("f", "../sentinel/file"), b"").unwrap();
        put(&mut ex, &symlink("d", "../sentinel"), b"").unwrap();
        let r1 = put(&mut ex, &file("f", 0o4777, b"pwned"), b"pwned");
        let r2 = put(&mut ex, &dir("d", 0o777), b"");
        match on_existing {
            Existing::Error => {
                assert!(matches!(r1, Err(ExtractError::Duplicate { .. })), "{r1:?}");
                assert!(matches!(r2, Err(ExtractError::Duplicate { .. })), "{r2:?}");
            }
            Existing::Skip => {
                assert_eq!(r1.unwrap(), Applied::Skipped(SkipReason::Duplicate));
                assert_eq!(r2.unwrap(), Applied::Skipped(SkipReason::Duplicate));
            }
        }
        ex.finish().unwrap();
        assert_eq!(before, sc.snapshot());
    }
}

#[test]
fn t4_preexisting_symlinks_are_not_followed() {
    // Nodes left by someone else (not this extractor): EEXIST paths, never followed.
    let sc = Scene::new();
    std::os::unix::fs::symlink("../sentinel/file", sc.root().join("f")).unwrap();
    std::os::unix::fs::symlink("../sentinel", sc.root().join("d")).unwrap();
    let before = sc.snapshot();
    for on_existing in [Existing::Error, Existing::Skip] {
        let mut ex = sc.ex(on_existing);
        let entries = [
            file("f", 0o777, b"pwned"),
            dir("d", 0o777),
            symlink("f", "/"),
            hdr("d", EntryKind::Fifo, 0o666),
            hardlink("f", "f"),
        ];
        for h in &entries {
            let r = put(&mut ex, h, b"pwned");
            match on_existing {
                Existing::Error => assert!(
                    matches!(r, Err(ExtractError::Exists { .. })),
                    "{h:?}: {r:?}"
                ),
                Existing::Skip => assert_eq!(r.unwrap(), Applied::Skipped(SkipReason::Existing)),
            }
        }
        ex.finish().unwrap();
    }
    assert_eq!(before, sc.snapshot());
    assert!(
        fs::symlink_metadata(sc.root().join("d"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn duplicates_follow_on_existing() {
    let sc = Scene::new();
    let mut ex = sc.ex(Existing::Error);
    put(&mut ex, &file("a", 0o644, b"one"), b"one").unwrap();
    let err = put(&mut ex, &file("./a", 0o644, b"two"), b"two").unwrap_err();
    assert!(matches!(err, ExtractError::Duplicate { .. }), "{err}");
    put(&mut ex, &dir("d", 0o755), b"").unwrap();
    assert!(matches!(
        put(&mut ex, &dir("d/", 0o700), b""),
        Err(ExtractError::Duplicate { .. })
    ));
    ex.finish().unwrap();
    assert_eq!(fs::read(sc.root().join("a")).unwrap(), b"one");
    assert_eq!(
        fs::metadata(sc.root().join("d")).unwrap().mode() & 0o7777,
        0o755
    );
}

#[test]
fn modes_ownership_and_times_are_exact() {
    if !is_root() {
        eprintln!("skipped: needs root for chown");
        return;
    }
    let sc = Scene::new();
    let mut ex = sc.ex(Existing::Error);
    put(&mut ex, &dir(".", 0o751), b"").unwrap();
    let mut h = file("bin/suid", 0o6755, b"\x7fELF");
    h.uid = 1234;
    h.gid = 5678;
    h.mtime = 1_000_000;
    put(&mut ex, &h, b"\x7fELF").unwrap();
    let mut d = dir("bin", 0o2775);
    d.uid = 42;
    d.mtime = 2_000_000;
    put(&mut ex, &d, b"").unwrap();
    put(&mut ex, &dir("tmp", 0o1777), b"").unwrap();
    put(&mut ex, &file("tmp/x", 0o600, b""), b"").unwrap();
    let mut l = symlink("bin/link", "suid");
    l.uid = 7;
    l.mtime = 3_000_000;
    put(&mut ex, &l, b"").unwrap();
    put(&mut ex, &hdr("fifo", EntryKind::Fifo, 0o640), b"").unwrap();
    let stats = ex.finish().unwrap();
    assert_eq!(
        (stats.files, stats.dirs, stats.symlinks, stats.fifos),
        (2, 3, 1, 1)
    );
    let r = sc.root();
    let m = fs::metadata(r.join("bin/suid")).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
        (0o6755, 1234, 5678, 1_000_000)
    );
    let m = fs::metadata(r.join("bin")).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.mtime()),
        (0o2775, 42, 2_000_000)
    );
    assert_eq!(fs::metadata(r.join("tmp")).unwrap().mode() & 0o7777, 0o1777);
    assert_eq!(fs::metadata(&r).unwrap().mode() & 0o7777, 0o751);
    let m = fs::symlink_metadata(r.join("bin/link")).unwrap();
    assert_eq!((m.uid(), m.mtime()), (7, 3_000_000));
    let m = fs::symlink_metadata(r.join("fifo")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
}

#[test]
fn directory_mtime_survives_children() {
    let sc = Scene::new();
    let mut ex = sc.ex(Existing::Error);
    let mut d = dir("d", 0o555);
    d.mtime = 1234;
    put(&mut ex, &d, b"").unwrap();
    put(&mut ex, &file("d/f", 0o644, b"x"), b"x").unwrap();
    put(&mut ex, &dir("d/e", 0o755), b"").unwrap();
    ex.finish().unwrap();
    let m = fs::metadata(sc.root().join("d")).unwrap();
    assert_eq!((m.mtime(), m.mode() & 0o7777), (1234, 0o555));
}

#[test]
fn xattrs_are_kept() {
    let sc = Scene::new();
    let mut ex = sc.ex(Existing::Error);
    let mut h = file("x", 0o644, b"abc");
    h.xattrs = vec![(b"user.test".to_vec(), b"value".to_vec())];
    put(&mut ex, &h, b"abc").unwrap();
    let mut d = dir("dx", 0o755);
    d.xattrs = h.xattrs.clone();
    put(&mut ex, &d, b"").unwrap();
    let stats = ex.finish().unwrap();
    if stats.xattrs_skipped > 0 {
        eprintln!("skipped: the temp file system has no user xattr support");
        return;
    }
    for p in ["x", "dx"] {
        let mut buf = [0u8; 64];
        let n =
            rustix::fs::getxattr(sc.root().join(p).as_path(), "user.test", &mut buf[..]).unwrap();
        assert_eq!(&buf[..n], b"value");
    }
}

#[test]
fn devices_are_skipped_unless_allowed() {
    let sc = Scene::new();
    let null = hdr(
        "dev/null",
        EntryKind::CharDevice { major: 1, minor: 3 },
        0o666,
    );
    let loop0 = hdr(
        "dev/loop0",
        EntryKind::BlockDevice { major: 7, minor: 0 },
        0o660,
    );
    let mut ex = sc.ex(Existing::Error);
    assert_eq!(
        put(&mut ex, &null, b"").unwrap(),
        Applied::Skipped(SkipReason::Device)
    );
    assert_eq!(
        put(&mut ex, &loop0, b"").unwrap(),
        Applied::Skipped(SkipReason::Device)
    );
    let stats = ex.finish().unwrap();
    assert_eq!((stats.devices_skipped, stats.devices), (2, 0));
    assert!(fs::symlink_metadata(sc.root().join("dev/null")).is_err());

    if !is_root() {
        eprintln!("skipped: creating device nodes needs root");
        return;
    }
    let opts = ExtractOptions {
        allow_devices: true,
        ..ExtractOptions::default()
    };
    let mut ex = Extractor::new(&sc.root(), opts).unwrap();
    match put(&mut ex, &null, b"") {
        Ok(a) => assert_eq!(a, Applied::Written),
        Err(ExtractError::Io { source, .. }) if source.raw_os_error() == Some(libc_eperm()) => {
            eprintln!("skipped: mknod not permitted here");
            return;
        }
        Err(e) => panic!("{e}"),
    }
    ex.finish().unwrap();
    let m = fs::symlink_metadata(sc.root().join("dev/null")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &m.file_type()
    ));
    assert_eq!(
        (m.rdev(), m.mode() & 0o7777),
        (rustix::fs::makedev(1, 3), 0o666)
    );
}

fn libc_eperm() -> i32 {
    rustix::io::Errno::PERM.raw_os_error()
}

#[test]
fn missing_parents_are_created_and_reported() {
    let sc = Scene::new();
    let mut ex = sc.ex(Existing::Error);
    put(&mut ex, &file("a/b/c", 0o644, b"x"), b"x").unwrap();
    put(&mut ex, &file("a/b/d", 0o644, b"y"), b"y").unwrap();
    let stats = ex.finish().unwrap();
    assert_eq!(
        stats.implicit_dirs,
        vec![PathBuf::from("a"), PathBuf::from("a/b")]
    );
    assert_eq!(
        fs::metadata(sc.root().join("a/b")).unwrap().mode() & 0o7777,
        0o755
    );
    assert_eq!(fs::read(sc.root().join("a/b/d")).unwrap(), b"y");
}

#[test]
fn data_size_is_exact() {
    let sc = Scene::new();
    let mut ex = sc.ex(Existing::Error);
    let h = EntryHeader {
        size: 10,
        ..hdr("short", EntryKind::File, 0o644)
    };
    let err = put(&mut ex, &h, b"12345").unwrap_err();
    assert!(
        matches!(
            err,
            ExtractError::ShortData {
                expected: 10,
                got: 5,
                ..
            }
        ),
        "{err}"
    );
    // Extra bytes beyond `size` are left unread.
    let h = EntryHeader {
        size: 3,
        ..hdr("long", EntryKind::File, 0o644)
    };
    let mut data: &[u8] = b"abcdef";
    ex.apply(&h, &mut data).unwrap();
    assert_eq!(data, b"def");
    let big = vec![7u8; 1 << 20];
    put(&mut ex, &file("big", 0o644, &big), &big).unwrap();
    let stats = ex.finish().unwrap();
    assert_eq!(fs::read(sc.root().join("big")).unwrap(), big);
    assert_eq!(stats.bytes, 3 + (1 << 20));
}

#[test]
fn root_must_exist() {
    let sc = Scene::new();
    let err = Extractor::new(&sc.root().join("nope"), ExtractOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, ExtractError::OpenRoot { .. }));
    let f = sc.sentinel().join("file");
    assert!(matches!(
        Extractor::new(&f, ExtractOptions::default()),
        Err(ExtractError::OpenRoot { .. })
    ));
}
