//! `rkt image export/extract/render/cat-manifest/verify`.

mod image_support;

use std::fs;
use std::path::Path;
use std::process::Command;

use image_support::{Rkt, aci, manifest, simple};
use serde_json::{Value, json};
use sha2::{Digest, Sha512};

/// A base image and an image depending on it by name; returns (base key, top key).
fn base_and_top(rkt: &Rkt) -> (String, String) {
    let base = rkt.import(&aci(
        &manifest("example.com/base", Some("1"), &[]),
        &[("etc/base", b"base\n"), ("etc/shared", b"from base\n")],
    ));
    let dep =
        json!({"imageName": "example.com/base", "labels": [{"name": "version", "value": "1"}]});
    let top = rkt.import(&aci(
        &manifest("example.com/top", Some("2"), &[dep]),
        &[("etc/top", b"top\n"), ("etc/shared", b"from top\n")],
    ));
    (base.key, top.key)
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

#[test]
fn export_writes_the_uncompressed_image() {
    let rkt = Rkt::new();
    let info = rkt.import(&simple("example.com/exp", Some("1"), "payload"));
    let out = rkt.scratch("out.aci");
    let out_s = out.to_str().unwrap();
    rkt.ok(&["image", "export", "example.com/exp:1", out_s]);
    let bytes = fs::read(&out).unwrap();
    let id = format!("sha512-{}", hex(&Sha512::digest(&bytes)));
    assert_eq!(id, info.id, "the output's SHA-512 is the image ID");
    assert_eq!(&bytes[257..262], b"ustar", "uncompressed");

    let msg = rkt.fails(&["image", "export", &info.key, out_s]);
    assert!(msg.contains("--overwrite"), "{msg}");
    fs::write(&out, b"junk").unwrap();
    rkt.ok(&["image", "export", "--overwrite", &info.key, out_s]);
    assert_eq!(fs::read(&out).unwrap(), bytes);

    let actool = Path::new("/usr/bin/actool");
    if actool.exists() {
        let v = Command::new(actool)
            .arg("validate")
            .arg(&out)
            .output()
            .unwrap();
        assert!(v.status.success(), "actool: {}", image_support::text(&v));
    } else {
        eprintln!("skipped actool check: needs /usr/bin/actool (appc-spec)");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn extract_writes_only_the_image_itself() {
    let rkt = Rkt::new();
    let (_, top) = base_and_top(&rkt);
    let dir = rkt.scratch("extracted");
    let d = dir.to_str().unwrap();
    rkt.ok(&["image", "extract", &top, d]);
    let m: Value = serde_json::from_slice(&fs::read(dir.join("manifest")).unwrap()).unwrap();
    assert_eq!(m["name"], "example.com/top");
    assert_eq!(read(&dir.join("rootfs/etc/top")), "top\n");
    assert_eq!(read(&dir.join("rootfs/etc/shared")), "from top\n");
    assert!(
        !dir.join("rootfs/etc/base").exists(),
        "no dependency content"
    );

    let msg = rkt.fails(&["image", "extract", &top, d]);
    assert!(msg.contains("--overwrite"), "{msg}");
    rkt.ok(&["image", "extract", "--rootfs-only", "--overwrite", &top, d]);
    assert_eq!(read(&dir.join("etc/top")), "top\n");
    assert!(!dir.join("manifest").exists() && !dir.join("rootfs").exists());

    // An existing empty directory is fine without --overwrite.
    let empty = rkt.scratch("empty");
    fs::create_dir(&empty).unwrap();
    rkt.ok(&[
        "image",
        "extract",
        "--rootfs-only",
        &top,
        empty.to_str().unwrap(),
    ]);
    assert_eq!(read(&empty.join("etc/top")), "top\n");
}

#[test]
fn render_flattens_dependencies() {
    let rkt = Rkt::new();
    let (_, top) = base_and_top(&rkt);
    let dir = rkt.scratch("rendered");
    let d = dir.to_str().unwrap();
    rkt.ok(&["image", "render", "example.com/top", d]);
    assert!(dir.join("manifest").exists());
    assert_eq!(read(&dir.join("rootfs/etc/base")), "base\n");
    assert_eq!(read(&dir.join("rootfs/etc/top")), "top\n");
    assert_eq!(read(&dir.join("rootfs/etc/shared")), "from top\n");

    rkt.fails(&["image", "render", "--rootfs-only", &top, d]);
    rkt.ok(&["image", "render", "--rootfs-only", "--overwrite", &top, d]);
    assert_eq!(read(&dir.join("etc/base")), "base\n");
    assert!(!dir.join("manifest").exists());
}

#[test]
fn cat_manifest_parses_back() {
    let rkt = Rkt::new();
    let (base, _) = base_and_top(&rkt);
    let pretty = rkt.ok(&["image", "cat-manifest", &base]);
    assert!(pretty.lines().count() > 3, "pretty by default: {pretty}");
    let compact = rkt.ok(&["image", "cat-manifest", "--pretty-print=false", &base]);
    assert_eq!(compact.trim().lines().count(), 1);
    for text in [&pretty, &compact] {
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["name"], "example.com/base");
        assert_eq!(v["acKind"], "ImageManifest");
    }
    let msg = rkt.fails(&["image", "cat-manifest", "sha512-0123abc"]);
    assert!(msg.contains("sha512-0123abc"), "{msg}");
}

#[test]
fn verify_reports_a_changed_file() {
    let rkt = Rkt::new();
    let (_, top) = base_and_top(&rkt);
    let out = rkt.ok(&["image", "verify", &top]);
    assert_eq!(out.trim(), format!("image {top}: OK"));

    let tree = rkt.store().render_tree(&top).unwrap();
    let file = tree.rootfs().join("etc/base");
    let mut bytes = fs::read(&file).unwrap();
    bytes[0] ^= 0x20;
    fs::write(&file, bytes).unwrap();
    let out = rkt.fails(&["image", "verify", &top]);
    assert!(out.contains("etc/base: changed"), "{out}");
    assert!(!out.contains("etc/top"), "only the changed file: {out}");
}

#[test]
fn verify_reports_a_flipped_bit_in_a_stored_blob() {
    let rkt = Rkt::new();
    let (_, top) = base_and_top(&rkt);
    rkt.ok(&["image", "verify", &top]);
    let blob = rkt.store().blob_path(&top);
    let mut bytes = fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&blob, bytes).unwrap();
    let out = rkt.fails(&["image", "verify", &top]);
    assert!(out.contains(&top), "names the image: {out}");
    assert!(
        out.contains("blob"),
        "says the stored blob is damaged: {out}"
    );
}
