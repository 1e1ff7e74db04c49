//! Layer store and unpacking: whiteouts, opaque dirs, hard links across layers, hostile tars,
//! digest checks, sharing.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
    Sym(&'a str, &'a str),
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_mtime(1);
        h.set_uid(0);
        h.set_gid(0);
        let (path, data): (&str, &[u8]) = match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                (p, b"")
            }
            E::File(p, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                (p, d)
            }
            E::Link(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_link_name(t).unwrap();
                (p, b"")
            }
            E::Sym(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name(t).unwrap();
                (p, b"")
            }
        };
        h.set_size(data.len() as u64);
        // set_path refuses `..`; hostile names are written raw.
        let name = path.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    layers: Layers,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let layers = Layers::new(&store).unwrap();
    Env {
        _dir: dir,
        store,
        layers,
    }
}

/// Store and render a layer; returns its diff ID.
fn add(env: &Env, tar: &[u8], lowers: &[std::path::PathBuf]) -> Result<String, OciError> {
    let blob = gzip(tar);
    let digest = env
        .layers
        .put_blob(Some(&sha(&blob)), &blob[..], 1 << 30, "test")?;
    let diff = sha(tar);
    env.layers.render(&diff, &digest, lowers, 1 << 30)?;
    Ok(diff)
}

fn is_whiteout(p: &Path) -> bool {
    let m = std::fs::symlink_metadata(p).unwrap();
    m.file_type().is_char_device() && m.rdev() == 0
}

#[test]
fn whiteouts_opaque_dirs_and_links_across_layers() {
    let env = env();
    let base = tar_of(&[
        E::Dir("a"),
        E::File("a/x", b"x"),
        E::File("a/y", b"shared"),
        E::Dir("b"),
        E::File("b/old", b"o"),
        E::Sym("s", "a/y"),
    ]);
    let d1 = add(&env, &base, &[]).unwrap();
    let r1 = env.layers.rootfs(&d1);
    let top = tar_of(&[
        E::File("a/.wh.x", b""),
        E::File("b/.wh..wh..opq", b""),
        E::File("b/new", b"n"),
        E::Link("h", "a/y"),
        E::File(".wh.f", b""),
        E::File("f", b"same layer wins"),
    ]);
    let d2 = add(&env, &top, std::slice::from_ref(&r1)).unwrap();
    let r2 = env.layers.rootfs(&d2);
    assert!(is_whiteout(&r2.join("a/x")));
    assert!(!r2.join(".wh.f").exists() && !r2.join("a/.wh.x").exists());
    assert_eq!(std::fs::read(r2.join("f")).unwrap(), b"same layer wins");
    assert_eq!(std::fs::read(r2.join("h")).unwrap(), b"shared");
    assert_eq!(std::fs::read(r2.join("b/new")).unwrap(), b"n");
    if rustix::process::geteuid().is_root() {
        let mut v = [0u8; 4];
        let n = rustix::fs::getxattr(r2.join("b"), "trusted.overlay.opaque", &mut v).unwrap();
        assert_eq!(&v[..n], b"y");
    }
    // The lower layer is untouched, its symlink kept as a symlink.
    assert_eq!(std::fs::read(r1.join("a/x")).unwrap(), b"x");
    assert!(
        std::fs::symlink_metadata(r1.join("s"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn hostile_layers_are_refused_and_leave_nothing() {
    let env = env();
    for (name, tar) in [
        ("dotdot", tar_of(&[E::File("../evil", b"x")])),
        (
            "through symlink",
            tar_of(&[E::Sym("l", "/tmp"), E::File("l/evil", b"x")]),
        ),
        ("dangling hard link", tar_of(&[E::Link("h", "etc/shadow")])),
        (
            "whiteout through symlink",
            tar_of(&[E::Sym("l", "/etc"), E::File("l/.wh.passwd", b"")]),
        ),
    ] {
        let err = add(&env, &tar, &[]).expect_err(name);
        assert!(matches!(err, OciError::Layer { .. }), "{name}: {err}");
        assert!(
            !env.layers.tree_dir(&sha(&tar)).exists(),
            "{name}: tree left behind"
        );
    }
}

#[test]
fn digests_are_checked_before_anything_is_kept() {
    let env = env();
    let tar = tar_of(&[E::File("f", b"1")]);
    let blob = gzip(&tar);
    let wrong = sha(b"something else");
    let err = env
        .layers
        .put_blob(Some(&wrong), &blob[..], 1 << 30, "l")
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
    assert!(env.layers.blobs().unwrap().is_empty());
    // A blob whose content does not match the config's diff ID is not rendered.
    let digest = env.layers.put_blob(None, &blob[..], 1 << 30, "l").unwrap();
    let err = env
        .layers
        .render(&wrong, &digest, &[], 1 << 30)
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
    assert!(!env.layers.is_rendered(&wrong));
    // Size limits hold.
    let err = env.layers.put_blob(None, &blob[..], 3, "l").unwrap_err();
    assert!(matches!(err, OciError::TooLarge { .. }), "{err}");
}

fn layout(dir: &Path, layers: &[Vec<u8>], config_extra: serde_json::Value) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = sha(data);
        std::fs::write(blobs.join(&d[7..]), data).unwrap();
        d
    };
    let mut descs = Vec::new();
    let mut diffs = Vec::new();
    for l in layers {
        let gz = gzip(l);
        descs.push(
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": put(&gz), "size": gz.len()}),
        );
        diffs.push(sha(l));
    }
    let mut config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diffs}, "config": config_extra});
    config["config"]["Env"] = serde_json::json!(["PATH=/bin"]);
    let cfg = serde_json::to_vec(&config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(&cfg), "size": cfg.len()},
        "layers": descs})).unwrap();
    let md = put(&manifest);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
        "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
        .unwrap(),
    )
    .unwrap();
}

fn fetcher(store: &Store) -> crate::fetch::Fetcher {
    let ks = crate::trust::Keystore::new(
        store.cas_dir().join("../ks1"),
        store.cas_dir().join("../ks2"),
    );
    let mut f = crate::fetch::Fetcher::new(store.clone(), ks);
    f.insecure = crate::insecure::InsecureOptions::none().with(Insecure::Image);
    f
}

#[test]
fn images_share_layers_and_name_them_in_the_manifest() {
    let env = env();
    let tmp = tempfile::tempdir().unwrap();
    let base = tar_of(&[E::Dir("bin"), E::File("bin/app", b"#!")]);
    let one = tar_of(&[E::File("one", b"1")]);
    let two = tar_of(&[E::File("two", b"2")]);
    layout(
        &tmp.path().join("a"),
        &[base.clone(), one],
        serde_json::json!({"Cmd": ["app", "x"]}),
    );
    layout(
        &tmp.path().join("b"),
        &[base, two],
        serde_json::json!({"Entrypoint": ["/bin/app"]}),
    );
    let f = fetcher(&env.store);
    let mut a = local::Layout::open(&tmp.path().join("a"), Some("v1")).unwrap();
    let pulled = a.pull().unwrap();
    let (info, s1) = import(&f, &mut a, pulled).unwrap();
    assert_eq!(
        (s1.blobs_fetched, s1.layers_rendered, s1.layers_reused),
        (2, 2, 0)
    );
    let mut b = local::Layout::open(&tmp.path().join("b"), None).unwrap();
    let pulled = b.pull().unwrap();
    let (_, s2) = import(&f, &mut b, pulled).unwrap();
    assert_eq!(
        (s2.blobs_fetched, s2.layers_rendered, s2.layers_reused),
        (1, 1, 1)
    );
    assert_eq!(env.layers.blobs().unwrap().len(), 3);
    let m = env.store.manifest(&info.key).unwrap();
    assert_eq!(
        m.app.as_ref().unwrap().exec,
        vec!["/bin/app", "x"],
        "relative exec resolved in the layers"
    );
    let stack = layer_stack(&env.store, &m, 1 << 30).unwrap().unwrap();
    assert_eq!(stack.len(), 2);
    assert!(stack[1].starts_with(layers::TREE_PREFIX));
    // Without --insecure-options=image: refused, and the message says how.
    let mut strict = f.clone();
    strict.insecure = crate::insecure::InsecureOptions::none();
    let src = OciSource::parse_local(&format!("oci:{}", tmp.path().join("a").display())).unwrap();
    let err = fetch(&strict, "oci:x", src).unwrap_err().to_string();
    assert!(err.contains("--insecure-options=image"), "{err}");
    // Removing one image keeps the shared base blob; removing both drops every blob.
    env.store.remove(&info.key).unwrap();
    assert_eq!(prune_layers(&env.store).unwrap().len(), 1);
    assert_eq!(env.layers.blobs().unwrap().len(), 2);
}

#[test]
fn the_size_limit_holds_for_the_whole_image_and_a_failed_import_leaves_nothing() {
    let env = env();
    let tmp = tempfile::tempdir().unwrap();
    // Two layers of 40 KiB each: each fits a 64 KiB limit alone, not together.
    let one = tar_of(&[E::File("one", &[1u8; 40 << 10])]);
    let two = tar_of(&[E::File("two", &[2u8; 40 << 10])]);
    layout(
        &tmp.path().join("a"),
        &[one.clone(), two],
        serde_json::json!({"Cmd": ["/one"]}),
    );
    let mut f = fetcher(&env.store);
    f.max_uncompressed_size = 64 << 10;
    let mut a = local::Layout::open(&tmp.path().join("a"), Some("v1")).unwrap();
    let pulled = a.pull().unwrap();
    let err = import(&f, &mut a, pulled).unwrap_err();
    assert!(
        matches!(err, OciError::ImageTooLarge { limit: 65536, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--max-image-size"), "{err}");
    assert!(env.layers.blobs().unwrap().is_empty(), "blobs left behind");
    assert!(
        !env.layers.is_rendered(&sha(&one)),
        "first layer's tree kept"
    );
    assert!(env.store.list().unwrap().is_empty());
    // Raised, the same image imports.
    f.max_uncompressed_size = 1 << 20;
    let mut a = local::Layout::open(&tmp.path().join("a"), Some("v1")).unwrap();
    let pulled = a.pull().unwrap();
    import(&f, &mut a, pulled).unwrap();
    assert_eq!(env.layers.blobs().unwrap().len(), 2);
}
