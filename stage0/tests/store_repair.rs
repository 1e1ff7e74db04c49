//! What `Store::open` repairs after a crash: stray temp files, a blob without info, info
//! without a blob, a tree without its `rendered` marker.

mod store_support;

use std::fs;

use stage0::store::{Origin, Store};
use store_support::{info_path, manifest_path, simple};

#[test]
fn stray_temp_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let tmp = store.cas_dir().join("tmp/import-12345-0-0");
    fs::write(&tmp, b"half an image").unwrap();
    Store::open(dir.path()).unwrap();
    assert!(!tmp.exists());
}

#[test]
fn a_blob_without_info_gets_its_info_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (bytes, id) = simple("example.com/lost-info", Some("3"), "x");
    let info = store.import(&bytes[..], Origin::default()).unwrap();
    fs::remove_file(info_path(&store, &info.key)).unwrap();
    fs::remove_file(manifest_path(&store, &info.key)).unwrap();

    let store = Store::open(dir.path()).unwrap();
    let back = store.info(&info.key).unwrap().expect("info rebuilt");
    assert_eq!(back.id, id.as_str());
    assert_eq!(back.name, "example.com/lost-info");
    assert_eq!(back.labels.get("version").map(String::as_str), Some("3"));
    assert_eq!(back.size, bytes.len() as u64);
    assert_eq!(
        store.manifest(&info.key).unwrap().name.as_str(),
        "example.com/lost-info"
    );
}

#[test]
fn a_blob_that_is_not_its_key_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (bytes, _) = simple("example.com/liar", None, "x");
    let info = store.import(&bytes[..], Origin::default()).unwrap();
    fs::remove_file(info_path(&store, &info.key)).unwrap();
    let (other, _) = simple("example.com/liar", None, "y");
    fs::write(store.blob_path(&info.key), other).unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert!(store.info(&info.key).unwrap().is_none());
    assert!(!store.blob_path(&info.key).exists());
}

#[test]
fn info_without_a_blob_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (bytes, _) = simple("example.com/lost-blob", None, "x");
    let info = store.import(&bytes[..], Origin::default()).unwrap();
    fs::remove_file(store.blob_path(&info.key)).unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(!info_path(&store, &info.key).exists());
}

#[test]
fn a_tree_without_rendered_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (bytes, _) = simple("example.com/half-tree", None, "x");
    let info = store.import(&bytes[..], Origin::default()).unwrap();
    let tree = store.render_tree(&info.key).unwrap();
    let complete = store.render_tree(&info.key).unwrap();
    assert_eq!(tree, complete);
    fs::remove_file(tree.dir.join("rendered")).unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert!(!tree.dir.exists());
    assert!(store.trees().unwrap().is_empty());
    // The image itself is untouched and renders again.
    let again = store.render_tree(&info.key).unwrap();
    assert_eq!(again.id, tree.id);
    assert!(again.dir.join("rendered").exists());
}

#[test]
fn a_corrupt_info_file_is_rebuilt_instead_of_breaking_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (bytes, _) = simple("example.com/garbled", None, "x");
    let info = store.import(&bytes[..], Origin::default()).unwrap();
    let (other, _) = simple("example.com/fine", None, "y");
    let fine = store.import(&other[..], Origin::default()).unwrap();
    fs::write(info_path(&store, &info.key), b"{\"key\": tru").unwrap();
    // Read from disk it is an error naming the file (this store still has what it wrote)...
    let err = store.info_fresh(&info.key).unwrap_err().to_string();
    assert!(err.contains(&format!("{}.json", info.key)), "{err}");
    assert!(store.info(&fine.key).unwrap().is_some());
    // ...and reopening rebuilds its info from the blob.
    let store = Store::open(dir.path()).unwrap();
    let back = store.info(&info.key).unwrap().expect("rebuilt");
    assert_eq!(back.name, "example.com/garbled");
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn imports_survive_concurrent_opens() {
    // Every `Store::open` removes the temp files it can lock; an import's own temp file must
    // never be one of them (it was, in the instant between its creation and its lock).
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cleaner = {
        let stop = stop.clone();
        let path = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut opens = 0u32;
            let tmp = Store::open(&path).unwrap().cas_dir().join("tmp");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // What `Store::open` does to temp files, in a tight loop to widen the race.
                for entry in fs::read_dir(&tmp).unwrap().flatten() {
                    let Ok(f) = fs::File::open(entry.path()) else {
                        continue;
                    };
                    if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                        .is_ok()
                    {
                        let _ = fs::remove_file(entry.path());
                    }
                }
                opens += 1;
            }
            Store::open(&path).unwrap();
            opens
        })
    };
    for i in 0..300 {
        let (bytes, _) = simple("example.com/race", Some(&i.to_string()), "x");
        store
            .import(&bytes[..], Origin::default())
            .unwrap_or_else(|e| panic!("import {i} with a cleaner running: {e}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(cleaner.join().unwrap() > 0);
}
