//! Rendering trees over dependencies (by name and by image ID, with pathWhitelist) and
//! verifying a rendered tree against what was recorded.

mod store_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aci::archive::Compression;
use stage0::store::{Origin, Store};
use store_support::{aci, dep_by_id, dep_by_name, manifest};

const BASE_FILES: &[(&str, &[u8])] = &[
    ("etc/base", b"from base\n"),
    ("etc/shared", b"base version\n"),
    ("bin/x", b"binary\n"),
];

fn store_with_base() -> (tempfile::TempDir, Store, aci::types::ImageId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let m = manifest("example.com/base", Some("1"), &[], &[]);
    let (bytes, id) = aci(&m, BASE_FILES, Compression::Gzip);
    store.import(&bytes[..], Origin::default()).unwrap();
    // A newer base of another version must not be picked for a `version: 1` dependency.
    let m2 = manifest("example.com/base", Some("2"), &[], &[]);
    let (bytes2, _) = aci(&m2, &[("etc/base", b"wrong base\n")], Compression::None);
    store.import(&bytes2[..], Origin::default()).unwrap();
    (dir, store, id)
}

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap()
}

#[test]
fn renders_a_dependency_by_name_with_the_upper_image_winning() {
    let (_dir, store, base_id) = store_with_base();
    let m = manifest(
        "example.com/top",
        None,
        &[dep_by_name("example.com/base", "1")],
        &[],
    );
    let files: &[(&str, &[u8])] = &[("etc/top", b"top\n"), ("etc/shared", b"top version\n")];
    let (bytes, top_id) = aci(&m, files, Compression::Xz);
    let top = store.import(&bytes[..], Origin::default()).unwrap();

    let tree = store.render_tree(&top.key).unwrap();
    assert_eq!(
        tree.images,
        vec![
            base_id.key().as_str().to_string(),
            top_id.key().as_str().to_string()
        ]
    );
    let rootfs = tree.rootfs();
    assert_eq!(read(&rootfs, "etc/base"), "from base\n");
    assert_eq!(read(&rootfs, "etc/top"), "top\n");
    assert_eq!(read(&rootfs, "etc/shared"), "top version\n");
    assert_eq!(read(&rootfs, "bin/x"), "binary\n");
    assert!(tree.dir.join("rendered").exists());
    assert_eq!(fs::read_to_string(tree.dir.join("image")).unwrap(), top.key);
    // Rendering again finds the same tree.
    assert_eq!(store.render_tree(&top.key).unwrap(), tree);
    assert_eq!(
        store.trees().unwrap(),
        vec![(tree.id.clone(), top.key.clone())]
    );
    assert!(store.tree_size(&tree.id) > 0);
}

#[test]
fn renders_a_dependency_by_id_through_the_path_whitelist() {
    let (_dir, store, base_id) = store_with_base();
    let m = manifest(
        "example.com/slim",
        None,
        &[dep_by_id("example.com/base", &base_id)],
        &["/etc/base", "/etc/slim"],
    );
    let files: &[(&str, &[u8])] = &[("etc/slim", b"slim\n"), ("etc/dropped", b"no\n")];
    let (bytes, _) = aci(&m, files, Compression::Bzip2);
    let slim = store.import(&bytes[..], Origin::default()).unwrap();
    let tree = store.render_tree(&slim.key).unwrap();
    let rootfs = tree.rootfs();
    assert_eq!(read(&rootfs, "etc/base"), "from base\n");
    assert_eq!(read(&rootfs, "etc/slim"), "slim\n");
    for gone in ["bin/x", "etc/shared", "etc/dropped"] {
        assert!(!rootfs.join(gone).exists(), "{gone} is not whitelisted");
    }
    assert!(
        rootfs.join("bin").is_dir(),
        "directories are never filtered"
    );
}

#[test]
fn a_missing_dependency_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let m = manifest(
        "example.com/orphan",
        None,
        &[dep_by_name("example.com/gone", "1")],
        &[],
    );
    let (bytes, _) = aci(&m, &[("a", b"a")], Compression::None);
    let info = store.import(&bytes[..], Origin::default()).unwrap();
    let err = store.render_tree(&info.key).unwrap_err().to_string();
    assert!(err.contains("example.com/gone"), "{err}");
    assert!(store.trees().unwrap().is_empty());
}

#[test]
fn verify_reports_every_kind_of_change() {
    let (_dir, store, base_id) = store_with_base();
    let key = base_id.key().as_str().to_string();
    let tree = store.render_tree(&key).unwrap();
    assert_eq!(store.verify_tree(&tree.id).unwrap(), vec![]);
    let rootfs = tree.rootfs();

    let mut bytes = fs::read(rootfs.join("etc/base")).unwrap();
    bytes[0] ^= 1;
    fs::write(rootfs.join("etc/base"), bytes).unwrap();
    fs::set_permissions(rootfs.join("bin/x"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(rootfs.join("etc/added"), b"new").unwrap();
    fs::remove_file(rootfs.join("etc/shared")).unwrap();

    let found: Vec<(String, String)> = store
        .verify_tree(&tree.id)
        .unwrap()
        .into_iter()
        .map(|m| (m.path, m.problem.split(':').next().unwrap().to_string()))
        .collect();
    let expect = |p: &str, what: &str| (p.to_string(), what.to_string());
    assert_eq!(found.len(), 4, "{found:?}");
    for item in [
        expect("etc/base", "changed"),
        expect("bin/x", "changed"),
        expect("etc/added", "added"),
        expect("etc/shared", "missing"),
    ] {
        assert!(found.contains(&item), "{item:?} not in {found:?}");
    }
}

#[test]
fn a_render_that_fails_partway_leaves_no_tree() {
    let (dir, store, base_id) = store_with_base();
    let key = base_id.key().as_str().to_string();
    // Cut the stored (gzip) blob short: rendering starts, then the stream ends early.
    let blob = store.blob_path(&key);
    let len = fs::metadata(&blob).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    assert!(store.render_tree(&key).is_err());
    let trees = dir.path().join("cas/tree");
    assert_eq!(
        fs::read_dir(&trees).unwrap().count(),
        0,
        "the half-written tree is removed at once"
    );
}
