use std::path::{Path, PathBuf};

use aci::archive::{Compression, EntryHeader, EntryKind, write_aci_entries};

use super::*;
use crate::insecure::Insecure;
use crate::trust::Keystore;

struct Env {
    dir: tempfile::TempDir,
    fetcher: Fetcher,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let ks = Keystore::new(dir.path().join("sys"), dir.path().join("local"));
        let mut fetcher = Fetcher::new(store, ks);
        fetcher.insecure = InsecureOptions::none().with(Insecure::Image);
        fetcher.render = false;
        Env { dir, fetcher }
    }

    /// Write an image with `labels` (and a `size`-byte file) and return its path.
    fn image(&self, file: &str, name: &str, labels: &[(&str, &str)], size: usize) -> PathBuf {
        self.image_with(file, name, labels, size, "")
    }

    fn image_with(
        &self,
        file: &str,
        name: &str,
        labels: &[(&str, &str)],
        size: usize,
        extra: &str,
    ) -> PathBuf {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!(r#"{{"name":"{k}","value":"{v}"}}"#))
            .collect();
        let manifest = format!(
            r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"{name}","labels":[{}]{extra}}}"#,
            labels.join(",")
        );
        let header = EntryHeader {
            path: "data".into(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: size as u64,
            xattrs: Vec::new(),
        };
        let path = self.dir.path().join(file);
        let out = std::fs::File::create(&path).unwrap();
        write_aci_entries(
            manifest.as_bytes(),
            [(header, vec![0u8; size])],
            out,
            Compression::Gzip,
        )
        .unwrap();
        path
    }

    fn fetch(&self, p: &Path) -> Result<ImageInfo, FetchError> {
        self.fetcher.fetch(p.to_str().unwrap())
    }
}

#[test]
fn a_bomb_stops_at_the_limit_and_leaves_nothing() {
    let mut env = Env::new();
    let p = env.image("big.aci", "example.com/big", &[], 1 << 20);
    env.fetcher.max_uncompressed_size = 64 * 1024;
    let err = env.fetch(&p).unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 65536, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("big.aci") && msg.contains("--max-image-size"),
        "{msg}"
    );
    assert!(env.fetcher.store.list().unwrap().is_empty());
    let tmp = env.fetcher.store.cas_dir().join("tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
    env.fetcher.max_uncompressed_size = DEFAULT_MAX_UNCOMPRESSED_SIZE;
    env.fetch(&p).unwrap();
}

#[test]
fn names_match_os_arch_only_when_the_image_declares_them() {
    let env = Env::new();
    let (os, arch) = host_os_arch();
    let any = env.image("any.aci", "example.com/any", &[("version", "1")], 1);
    let host = env.image(
        "host.aci",
        "example.com/host",
        &[("os", os), ("arch", arch)],
        1,
    );
    let other = env.image(
        "o.aci",
        "example.com/other",
        &[("os", "freebsd"), ("arch", "amd64")],
        1,
    );
    let bad = env.image("bad.aci", "example.com/bad", &[("os", "plan9")], 1);
    assert!(matches!(env.fetch(&bad), Err(FetchError::Store { .. })));
    for p in [&any, &host, &other] {
        env.fetch(p).unwrap();
    }
    let find = |s: &str| find_name(&env.fetcher.store, &AppReference::parse(s).unwrap()).unwrap();
    assert!(find("example.com/any").is_some());
    assert!(find("example.com/any:1").is_some());
    assert!(find("example.com/any:2").is_none());
    assert!(find("example.com/host").is_some());
    assert!(find("example.com/host,os=freebsd").is_none());
    assert!(find("example.com/other").is_none());
    assert!(find("example.com/other,os=freebsd,arch=amd64").is_some());
}

#[test]
fn dependencies_by_id_resolve_in_the_store() {
    let env = Env::new();
    let base = env.image("base.aci", "example.com/base", &[], 1);
    let base_info = env.fetch(&base).unwrap();
    let dep = format!(
        r#","dependencies":[{{"imageName":"example.com/base","imageID":"{}"}}]"#,
        base_info.id
    );
    let app = env.image_with("app.aci", "example.com/app", &[], 1, &dep);
    env.fetch(&app).unwrap();
    let missing = r#","dependencies":[{"imageName":"example.com/gone"}]"#;
    let app2 = env.image_with("app2.aci", "example.com/app2", &[], 1, missing);
    match env.fetch(&app2).unwrap_err() {
        FetchError::Dependency { dependency, .. } => assert_eq!(dependency, "example.com/gone"),
        other => panic!("{other}"),
    }
    assert_eq!(env.fetcher.store.list().unwrap().len(), 2);
}

#[test]
fn render_on_fetch_makes_a_tree() {
    let mut env = Env::new();
    env.fetcher.render = true;
    let p = env.image("a.aci", "example.com/a", &[], 3);
    let info = env.fetch(&p).unwrap();
    let trees = env.fetcher.store.trees().unwrap();
    assert_eq!(trees.len(), 1, "{trees:?}");
    assert_eq!(trees[0].1, info.key);
}

#[test]
fn remote_references_and_signature_free_hashes() {
    let env = Env::new();
    // Docker images are unsigned: refused before any network access without
    // --insecure-options=image.
    let mut strict = env.fetcher.clone();
    strict.insecure = crate::insecure::InsecureOptions::none();
    let e = strict.fetch("docker://busybox").unwrap_err();
    assert!(e.to_string().contains("--insecure-options=image"), "{e}");
    // Plain HTTP is refused before any connection.
    let e = env
        .fetcher
        .fetch("http://example.invalid/a.aci")
        .unwrap_err();
    assert!(e.to_string().contains("--insecure-options=http"), "{e}");
    let p = env.image("a.aci", "example.com/a", &[], 3);
    let info = env.fetch(&p).unwrap();
    let by_id = env.fetcher.fetch(&info.key[..20]).unwrap();
    assert_eq!(by_id.key, info.key);
    let origin = info.origin.aci_url.unwrap();
    assert!(
        origin.starts_with("file:///") && origin.ends_with("a.aci"),
        "{origin}"
    );
}
