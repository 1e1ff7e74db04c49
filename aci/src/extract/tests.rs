//! Unit tests that need the extractor's internals: the component-by-component fallback used
//! when `openat2` is missing must enforce the same rules.

use super::*;
use std::fs;
use std::os::unix::fs::MetadataExt;

fn hdr(path: &str, kind: EntryKind, size: u64) -> EntryHeader {
    EntryHeader {
        path: path.into(),
        kind,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 10,
        size,
        xattrs: vec![],
    }
}

fn fallback(root: &Path) -> Extractor {
    let mut ex = Extractor::new(root, ExtractOptions::default()).unwrap();
    ex.res.use_openat2 = false;
    ex
}

#[test]
fn fallback_refuses_symlinked_parents() {
    for target in ["/", "../..", ".", "sub"] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        let mut ex = fallback(&root);
        ex.apply(
            &hdr("x", EntryKind::Symlink(target.into()), 0),
            &mut &b""[..],
        )
        .unwrap();
        let err = ex
            .apply(&hdr("x/etc/p", EntryKind::File, 1), &mut &b"p"[..])
            .unwrap_err();
        assert!(
            matches!(err, ExtractError::ThroughSymlink { .. }),
            "{target}: {err}"
        );
        let err = ex
            .apply(&hdr("x/p", EntryKind::File, 1), &mut &b"p"[..])
            .unwrap_err();
        assert!(
            matches!(err, ExtractError::ThroughSymlink { .. }),
            "{target}: {err}"
        );
        assert!(!root.join("sub/p").exists());
        assert!(!ex.res.use_openat2);
    }
}

#[test]
fn fallback_refuses_hard_links_through_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(tmp.path().join("outside"), b"x").unwrap();
    let mut ex = fallback(&root);
    ex.apply(
        &hdr("up", EntryKind::Symlink("..".into()), 0),
        &mut &b""[..],
    )
    .unwrap();
    let err = ex
        .apply(
            &hdr("l", EntryKind::HardLink("up/outside".into()), 0),
            &mut &b""[..],
        )
        .unwrap_err();
    assert!(matches!(err, ExtractError::HardLink { .. }), "{err}");
    assert_eq!(fs::metadata(tmp.path().join("outside")).unwrap().nlink(), 1);
}

#[test]
fn both_resolvers_create_parents_and_finish_dirs() {
    for force_fallback in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let mut ex = Extractor::new(tmp.path(), ExtractOptions::default()).unwrap();
        ex.res.use_openat2 = !force_fallback;
        ex.apply(&hdr("a/b/c", EntryKind::File, 2), &mut &b"hi"[..])
            .unwrap();
        let mut d = hdr("a/b", EntryKind::Dir, 0);
        d.mode = 0o710;
        ex.apply(&d, &mut &b""[..]).unwrap();
        ex.apply(
            &hdr("a/b/e", EntryKind::HardLink("a/b/c".into()), 0),
            &mut &b""[..],
        )
        .unwrap();
        let stats = ex.finish().unwrap();
        assert_eq!(stats.implicit_dirs.len(), 2);
        let m = fs::metadata(tmp.path().join("a/b")).unwrap();
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o710, 10));
        assert_eq!(fs::read(tmp.path().join("a/b/e")).unwrap(), b"hi");
    }
}

#[test]
fn parent_cache_is_reused_and_keyed_by_path() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ex = Extractor::new(tmp.path(), ExtractOptions::default()).unwrap();
    ex.apply(&hdr("d/1", EntryKind::File, 0), &mut &b""[..])
        .unwrap();
    ex.apply(&hdr("d/2", EntryKind::File, 0), &mut &b""[..])
        .unwrap();
    ex.apply(&hdr("e/1", EntryKind::File, 0), &mut &b""[..])
        .unwrap();
    ex.apply(&hdr("d/3", EntryKind::File, 0), &mut &b""[..])
        .unwrap();
    ex.finish().unwrap();
    for p in ["d/1", "d/2", "d/3", "e/1"] {
        assert!(tmp.path().join(p).is_file(), "{p}");
    }
    assert!(!tmp.path().join("e/3").exists());
}
