//! Importing images into the store and finding them again by ID prefix and by name.

mod store_support;

use std::collections::BTreeMap;
use std::fs;

use aci::archive::Compression;
use sha2::{Digest, Sha512};
use stage0::store::{Origin, Store, StoreError};
use store_support::{aci, manifest, simple};

const FILES: &[(&str, &[u8])] = &[
    ("bin/tool", b"#!/bin/sh\necho hi\n"),
    ("etc/conf", b"x=1\n"),
];

#[test]
fn every_compression_gives_the_key_of_the_decompressed_tar() {
    let m = manifest("example.com/comp", Some("1"), &[], &[]);
    let (plain, plain_id) = aci(&m, FILES, Compression::None);
    // The key is computed here independently: half a SHA-512 of the tar bytes.
    let expected_key = format!("sha512-{}", &hex(&Sha512::digest(&plain))[..64]);
    assert_eq!(plain_id.key().as_str(), expected_key);
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Xz,
        Compression::Bzip2,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (bytes, id) = aci(&m, FILES, compression);
        assert_eq!(id, plain_id, "{compression}: same tar, same ID");
        let info = store.import(&bytes[..], Origin::default()).unwrap();
        assert_eq!(info.key, expected_key, "{compression}");
        assert_eq!(info.id, plain_id.as_str());
        assert_eq!(info.name, "example.com/comp");
        assert_eq!(info.labels.get("version").map(String::as_str), Some("1"));
        assert_eq!(info.size, bytes.len() as u64);
        // The blob is stored as fetched, compressed.
        assert_eq!(fs::read(store.blob_path(&info.key)).unwrap(), bytes);
        assert_eq!(store.manifest_bytes(&info.key).unwrap(), m);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn reimport_keeps_one_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (bytes, _) = simple("example.com/again", None, "same");
    let first = store.import(&bytes[..], Origin::default()).unwrap();
    let (gz, _) = aci(
        &manifest("example.com/again", None, &[], &[]),
        &[("etc/content", b"same")],
        Compression::Gzip,
    );
    let second = store.import(&gz[..], Origin::default()).unwrap();
    assert_eq!(first.key, second.key);
    assert_eq!(
        first.import_time, second.import_time,
        "the first import is kept"
    );
    assert_eq!(store.list().unwrap().len(), 1);
    let shard = store.blob_path(&first.key).parent().unwrap().to_path_buf();
    assert_eq!(fs::read_dir(shard).unwrap().count(), 1);
    assert_eq!(
        fs::read_dir(store.cas_dir().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn a_bad_archive_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (bytes, _) = aci(
        &manifest("example.com/cut", None, &[], &[]),
        FILES,
        Compression::Gzip,
    );
    assert!(
        store
            .import(&bytes[..bytes.len() / 2], Origin::default())
            .is_err()
    );
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(store.cas_dir().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn find_by_id_takes_prefixes_and_reports_ambiguity() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // 17 images: two of them must share their first hex digit.
    let mut keys = Vec::new();
    for n in 0..17 {
        let (bytes, id) = simple("example.com/many", None, &n.to_string());
        store.import(&bytes[..], Origin::default()).unwrap();
        keys.push((id.key().as_str().to_string(), id));
    }
    let (key, id) = &keys[0];
    assert_eq!(store.find_by_id(id.as_str()).unwrap().key, *key, "full ID");
    assert_eq!(store.find_by_id(key).unwrap().key, *key, "key");
    let unique = (8..key.len())
        .map(|n| &key[..n])
        .find(|p| keys.iter().filter(|(k, _)| k.starts_with(p)).count() == 1)
        .unwrap();
    assert_eq!(
        store.find_by_id(unique).unwrap().key,
        *key,
        "shortest unique prefix"
    );

    let shared = keys
        .iter()
        .map(|(k, _)| &k[..8])
        .find(|p| keys.iter().filter(|(k, _)| k.starts_with(p)).count() > 1)
        .unwrap();
    match store.find_by_id(shared) {
        Err(StoreError::Ambiguous { matches, .. }) => assert!(matches.contains(", ")),
        other => panic!("expected ambiguity for {shared}, got {other:?}"),
    }
    let absent = (0..16)
        .map(|d| format!("sha512-{d:x}"))
        .find(|p| !keys.iter().any(|(k, _)| k.starts_with(p.as_str())));
    if let Some(absent) = absent {
        assert!(matches!(
            store.find_by_id(&absent),
            Err(StoreError::NotFound(_))
        ));
    }
    assert!(matches!(
        store.find_by_id("sha512-XYZ"),
        Err(StoreError::NotFound(_))
    ));
    // A full ID agreeing only in its first half (the key) is another image.
    let flipped = format!(
        "{key}{}",
        if id.as_str().ends_with('0') { "1" } else { "0" }.repeat(64)
    );
    assert_ne!(flipped, id.as_str());
    assert!(matches!(
        store.find_by_id(&flipped),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn find_by_name_matches_labels_and_prefers_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (v1, id1) = simple("example.com/app", Some("1.0"), "one");
    let (v2, id2) = simple("example.com/app", Some("2.0"), "two");
    let (other, _) = simple("example.com/other", Some("1.0"), "other");
    for bytes in [&v1, &v2, &other] {
        store.import(&bytes[..], Origin::default()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let find = |l| {
        store
            .find_by_name("example.com/app", &l)
            .unwrap()
            .map(|i| i.key)
    };
    assert_eq!(
        find(labels(&[("version", "1.0")])),
        Some(id1.key().as_str().into())
    );
    assert_eq!(
        find(labels(&[])),
        Some(id2.key().as_str().into()),
        "newest import"
    );
    assert_eq!(
        find(labels(&[("version", "2.0"), ("os", "linux")])),
        Some(id2.key().as_str().into())
    );
    assert_eq!(find(labels(&[("version", "3.0")])), None);
    assert_eq!(find(labels(&[("os", "freebsd")])), None);
    assert_eq!(
        store
            .find_by_name("example.com/none", &labels(&[]))
            .unwrap(),
        None
    );
}
