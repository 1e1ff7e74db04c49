use std::path::PathBuf;

use aci::archive::{Compression, EntryHeader, EntryKind, write_aci_entries};

use super::*;
use crate::store::Store;
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
        fetcher.render = false;
        Env { dir, fetcher }
    }

    fn images_dir(&self) -> PathBuf {
        self.dir.path().join("stage1-images")
    }

    fn req<'a>(&self, flag: Option<&'a Stage1Flag>, config: &'a Stage1Config) -> Stage1Request<'a> {
        Stage1Request {
            flag,
            config,
            embedded: None,
            images_dir: self.images_dir(),
            exe_dir: None,
        }
    }
}

/// A stage1 ACI (uncompressed) named `name`; `run` annotation only when `valid`.
fn stage1_aci(name: &str, version: &str, valid: bool) -> Vec<u8> {
    let mut annotations = vec![serde_json::json!(
        {"name": "coreos.com/rkt/stage1/interface-version", "value": "6"})];
    if valid {
        annotations.push(serde_json::json!(
            {"name": "coreos.com/rkt/stage1/run", "value": "/init"}));
    }
    let (os, arch) = aci::discovery::host_os_arch();
    let m = serde_json::json!({
        "acKind": "ImageManifest", "acVersion": "0.8.11", "name": name,
        "labels": [{"name": "os", "value": os}, {"name": "arch", "value": arch},
                   {"name": "version", "value": version}],
        "annotations": annotations
    });
    let header = EntryHeader {
        path: PathBuf::from("init"),
        kind: EntryKind::File,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 2,
        xattrs: Vec::new(),
    };
    let mut out = Vec::new();
    write_aci_entries(
        m.to_string().as_bytes(),
        [(header, b"#!".to_vec())],
        &mut out,
        Compression::None,
    )
    .unwrap();
    out
}

#[test]
fn embedded_is_imported_once_then_found_by_id_without_reading_it() {
    let env = Env::new();
    let bytes: &'static [u8] =
        Box::leak(stage1_aci("example.com/s1", "1", true).into_boxed_slice());
    // First use: imported (its ID is not in the store yet).
    let key = {
        let store = &env.fetcher.store;
        let staged = store.stage(bytes).unwrap();
        staged.image_id().key().to_string()
    };
    let id: &'static str = Box::leak(key.clone().into_boxed_str());
    let config = Stage1Config::default();
    let mut req = env.req(None, &config);
    req.embedded = Some(Stage1Source::Embedded { bytes, id });
    let info = select_stage1(&env.fetcher, &req).unwrap();
    assert_eq!(info.key, key);
    // Later uses never read the bytes: garbage with the same ID still finds the stored image.
    req.embedded = Some(Stage1Source::Embedded {
        bytes: b"not an image",
        id,
    });
    assert_eq!(select_stage1(&env.fetcher, &req).unwrap().key, key);
}

#[test]
fn flags_select_by_path_hash_name_and_dir() {
    let mut env = Env::new();
    env.fetcher.insecure = env.fetcher.insecure.with(crate::insecure::Insecure::Image);
    let path = env.dir.path().join("s1.aci");
    std::fs::write(&path, stage1_aci("example.com/s1", "1", true)).unwrap();
    let config = Stage1Config::default();
    let by_path = Stage1Flag::Path(path.clone());
    let info = select_stage1(&env.fetcher, &env.req(Some(&by_path), &config)).unwrap();
    let by_hash = Stage1Flag::Hash(info.key[..20].to_string());
    assert_eq!(
        select_stage1(&env.fetcher, &env.req(Some(&by_hash), &config))
            .unwrap()
            .key,
        info.key
    );
    let by_name = Stage1Flag::Name("example.com/s1:1".into());
    assert_eq!(
        select_stage1(&env.fetcher, &env.req(Some(&by_name), &config))
            .unwrap()
            .key,
        info.key
    );
    let url = Stage1Flag::Url(format!("file://{}", path.display()));
    assert!(select_stage1(&env.fetcher, &env.req(Some(&url), &config)).is_ok());
    // From the images dir: unsigned is fine there even without insecure options.
    env.fetcher.insecure = crate::insecure::InsecureOptions::none();
    std::fs::create_dir_all(env.images_dir()).unwrap();
    std::fs::write(
        env.images_dir().join("other.aci"),
        stage1_aci("example.com/s2", "1", true),
    )
    .unwrap();
    let dir = Stage1Flag::FromDir("other.aci".into());
    let info = select_stage1(&env.fetcher, &env.req(Some(&dir), &config)).unwrap();
    assert_eq!(info.name, "example.com/s2");
    for bad in ["../other.aci", "", "a/b"] {
        let f = Stage1Flag::FromDir(bad.into());
        assert!(select_stage1(&env.fetcher, &env.req(Some(&f), &config)).is_err());
    }
    // --stage1-path verifies signatures like any image file.
    let unsigned = select_stage1(&env.fetcher, &env.req(Some(&by_path), &config));
    assert!(unsigned.is_err());
}

#[test]
fn config_then_default_file_then_error() {
    let env = Env::new();
    std::fs::create_dir_all(env.images_dir()).unwrap();
    let config = Stage1Config::default();
    let err = select_stage1(&env.fetcher, &env.req(None, &config)).unwrap_err();
    assert!(err.to_string().contains("--stage1-path"), "{err}");
    std::fs::write(
        env.images_dir().join(DEFAULT_STAGE1_FILE),
        stage1_aci("example.com/default", "1", true),
    )
    .unwrap();
    let info = select_stage1(&env.fetcher, &env.req(None, &config)).unwrap();
    assert_eq!(info.name, "example.com/default");
    // stage1.d: a location file, then name + version found in the store.
    let loc = env.dir.path().join("conf.aci");
    std::fs::write(&loc, stage1_aci("example.com/conf", "2", true)).unwrap();
    let by_location = Stage1Config {
        location: Some(loc.display().to_string()),
        ..Stage1Config::default()
    };
    let info = select_stage1(&env.fetcher, &env.req(None, &by_location)).unwrap();
    assert_eq!(info.name, "example.com/conf");
    let by_name = Stage1Config {
        name: Some("example.com/conf".into()),
        version: Some("2".into()),
        location: None,
    };
    let found = select_stage1(&env.fetcher, &env.req(None, &by_name)).unwrap();
    assert_eq!(found.key, info.key);
    // A name not in the store and no location: on to the default.
    let missing = Stage1Config {
        name: Some("example.com/conf".into()),
        version: Some("9".into()),
        location: None,
    };
    let fallback = select_stage1(&env.fetcher, &env.req(None, &missing)).unwrap();
    assert_eq!(fallback.name, "example.com/default");
}

#[test]
fn non_stage1_images_are_refused() {
    let mut env = Env::new();
    env.fetcher.insecure = env.fetcher.insecure.with(crate::insecure::Insecure::Image);
    let path = env.dir.path().join("app.aci");
    std::fs::write(&path, stage1_aci("example.com/app", "1", false)).unwrap();
    let config = Stage1Config::default();
    let flag = Stage1Flag::Path(path);
    let err = select_stage1(&env.fetcher, &env.req(Some(&flag), &config)).unwrap_err();
    assert!(
        err.to_string().contains("coreos.com/rkt/stage1/run"),
        "{err}"
    );
}
