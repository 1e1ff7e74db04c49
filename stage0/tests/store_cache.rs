//! One command reads each image's info and manifest once (the store's per-process cache), sees
//! its own writes, reads under an image's lock from disk, and creates the store layout only
//! when it is missing.

mod store_support;

use std::collections::BTreeMap;
use std::fs;

use stage0::store::{Origin, Store};
use store_support::{info_path, manifest_path, simple};

#[test]
fn info_and_manifest_are_read_once_per_store() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = simple("example.com/once", Some("1"), "x");
    let key = Store::open(dir.path())
        .unwrap()
        .import(&bytes[..], Origin::default())
        .unwrap()
        .key;

    let store = Store::open(dir.path()).unwrap();
    let found = store
        .find_by_name("example.com/once", &BTreeMap::new())
        .unwrap()
        .expect("found by name");
    assert_eq!(
        store.manifest(&key).unwrap().name.as_str(),
        "example.com/once"
    );
    // Gone from disk: this store answers from what it read (the files never changed under a
    // key, and the info is re-read where it matters, under the image's lock).
    fs::remove_file(manifest_path(&store, &key)).unwrap();
    fs::write(info_path(&store, &key), b"not json").unwrap();
    assert_eq!(
        store.manifest(&key).unwrap().name.as_str(),
        "example.com/once"
    );
    assert!(!store.manifest_bytes(&key).unwrap().is_empty());
    assert_eq!(store.info(&key).unwrap(), Some(found.clone()));
    assert_eq!(store.list().unwrap(), vec![found]);
    // A clone shares the cache; a store opened afresh reads the disk.
    assert!(store.clone().manifest(&key).is_ok());
    assert!(
        store.info_fresh(&key).is_err(),
        "the corrupt info is read from disk"
    );
    let fresh = tempfile::tempdir().unwrap();
    assert!(Store::open(fresh.path()).unwrap().manifest(&key).is_err());
}

#[test]
fn the_cache_follows_this_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(store.list().unwrap().is_empty());
    // Imported after the listing was cached: listed all the same.
    let (a, _) = simple("example.com/a", None, "a");
    let a = store.import(&a[..], Origin::default()).unwrap();
    let (b, _) = simple("example.com/b", None, "b");
    let b = store.import(&b[..], Origin::default()).unwrap();
    let keys = |s: &Store| {
        s.list()
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&store), vec![a.key.clone(), b.key.clone()]);

    store.remove(&a.key).unwrap();
    assert_eq!(keys(&store), vec![b.key.clone()]);
    assert_eq!(store.info(&a.key).unwrap(), None);
    assert!(
        store.manifest(&a.key).is_err(),
        "a removed image's manifest is gone"
    );

    // An update by another process is seen by a read under the lock (touch re-reads there).
    let mut changed = store.info(&b.key).unwrap().unwrap();
    let write = |info: &stage0::store::ImageInfo| {
        fs::write(info_path(&store, &b.key), serde_json::to_vec(info).unwrap()).unwrap()
    };
    changed.last_used = 0;
    write(&changed);
    assert_eq!(store.info_fresh(&b.key).unwrap(), Some(changed.clone()));
    changed.origin.etag = Some("\"v2\"".to_string());
    write(&changed);
    store.touch(&b.key).unwrap();
    let after = Store::open(dir.path())
        .unwrap()
        .info(&b.key)
        .unwrap()
        .unwrap();
    assert_eq!(
        after.origin.etag.as_deref(),
        Some("\"v2\""),
        "not lost by touch"
    );
    assert!(after.last_used > 0);
    assert_eq!(store.info(&b.key).unwrap(), Some(after));
}

#[test]
fn open_creates_the_layout_only_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap();
    for d in [
        "cas/blob/sha512",
        "cas/imageManifest/sha512",
        "cas/info",
        "cas/tree",
        "cas/tmp",
        "locks/image",
        "locks/tree",
    ] {
        assert!(data.join(d).is_dir(), "{d} created");
    }
    let (bytes, _) = simple("example.com/layout", None, "x");
    let info = store.import(&bytes[..], Origin::default()).unwrap();
    // A store whose temp dir was removed gets it back, and keeps its images.
    fs::remove_dir_all(data.join("cas/tmp")).unwrap();
    let store = Store::open(&data).unwrap();
    assert!(data.join("cas/tmp").is_dir());
    assert_eq!(store.info(&info.key).unwrap(), Some(info));
}
