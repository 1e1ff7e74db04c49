//! OCI and Docker images from local sources (`oci:`, `oci-archive:`, `docker-archive:`), run
//! natively: layers stacked as overlayfs lower dirs, whiteouts applied, layers shared.

mod oci_support;

use functional_tests::RktCtx;
use oci_support::*;

fn check_probe(out: &functional_tests::Out) {
    out.ok();
    assert_eq!(
        out.get("UID"),
        "1234",
        "User \"app\" from the config: {}",
        out.stdout
    );
    assert_eq!(
        out.get("GID"),
        "4321",
        "app's primary group from /etc/passwd"
    );
    assert_eq!(out.get("OCI_VAR"), "from-config");
    assert_eq!(out.get("CWD"), "/a");
    assert_eq!(
        out.get("EXISTS /a/gone"),
        "no",
        "the whiteout hides the base layer's file"
    );
    assert_eq!(out.get("EXISTS /a/keep"), "yes");
    assert_eq!(
        out.get("LS /b"),
        "new",
        "the opaque dir hides the base layer's entries"
    );
    let reads = functional_tests::all_kv(&out.stdout, "READ");
    assert_eq!(
        reads,
        vec!["kept", "kept"],
        "hard link across layers and symlink"
    );
}

#[test]
fn oci_layout_runs_with_layers_stacked() {
    let ctx = RktCtx::new();
    let (base, change) = (base_layer(), change_layer());
    let dir = ctx.work().join("layout");
    write_layout(
        &dir,
        &[&base, &change],
        &config(&[&base, &change], &probe_cmd()),
        "v1",
    );
    let image = format!("oci:{}:v1", dir.display());
    check_probe(&ctx.run(&[image.as_str()]));
    // Stored once: two blobs, two layer trees; a second run fetches nothing new.
    assert_eq!(layer_blobs(&ctx.data_dir()), 2);
    assert_eq!(layer_trees(&ctx.data_dir()), 2);
    let out = ctx.run(&[
        image.as_str(),
        "--exec=/bin/inspect",
        "--",
        "--print-msg=overridden",
    ]);
    out.ok();
    assert!(out.stdout.contains("overridden"), "{}", out.stdout);
    assert_eq!(layer_blobs(&ctx.data_dir()), 2);

    // The derived appc manifest, in the store like any image.
    let list = ctx.rkt(&["image", "list", "--no-legend", "--fields=id,name"]);
    let line = list
        .ok()
        .lines()
        .find(|l| l.contains("oci/layout"))
        .expect("listed")
        .to_string();
    let id = line.split_whitespace().next().unwrap().to_string();
    let m = ctx.rkt(&["image", "cat-manifest", &id]);
    let text = m.ok();
    for want in [
        "appc.io/docker/entrypoint",
        "\"8080-tcp\"",
        "volume-data",
        "appc.io/docker/label/org.example.team",
        "rkt-rs.dev/oci/layers",
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
    // Export squashes the layers into one ACI with the whiteouts applied.
    let aci = ctx.work().join("exported.aci");
    ctx.rkt(&["image", "export", &id, aci.to_str().unwrap()])
        .ok();
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&aci)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        names.contains("rootfs/a/keep") && names.contains("rootfs/b/new"),
        "{names}"
    );
    assert!(
        !names.contains("rootfs/a/gone") && !names.contains("rootfs/b/old1"),
        "{names}"
    );
    assert!(!names.contains(".wh."), "{names}");
}

#[test]
fn zstd_layers_run() {
    let ctx = RktCtx::new();
    let (base, change) = (base_layer(), change_layer());
    let dir = ctx.work().join("layout");
    write_layout_as(
        &dir,
        &[&base, &change],
        &config(&[&base, &change], &probe_cmd()),
        "zst",
        Compress::Zstd,
    );
    let manifest = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .find(|t| t.contains("image.manifest.v1+json"))
        .expect("a manifest blob");
    assert_eq!(
        manifest
            .matches("application/vnd.oci.image.layer.v1.tar+zstd")
            .count(),
        2,
        "{manifest}"
    );
    // Both layers, zstd-compressed, stacked: the base layer's files and the upper layer's
    // whiteout, opaque dir and links are all seen by the app.
    check_probe(&ctx.run(&[format!("oci:{}:zst", dir.display()).as_str()]));
    assert_eq!(layer_blobs(&ctx.data_dir()), 2);
    assert_eq!(layer_trees(&ctx.data_dir()), 2);
}

#[test]
fn unsigned_images_need_insecure_image() {
    let ctx = RktCtx::new();
    let base = base_layer();
    let dir = ctx.work().join("layout");
    write_layout(&dir, &[&base], &config(&[&base], &["--print-msg=x"]), "v1");
    let out = ctx.rkt(&["run", "--net=none", &format!("oci:{}", dir.display())]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("--insecure-options=image"),
        "{}",
        out.stderr
    );
    assert_eq!(layer_blobs(&ctx.data_dir()), 0, "nothing fetched");
}

#[test]
fn docker_archive_and_shared_base_layer() {
    let ctx = RktCtx::new();
    let (base, change) = (base_layer(), change_layer());
    let tarball = ctx.work().join("saved.tar");
    write_docker_archive(
        &tarball,
        &[&base, &change],
        &config(&[&base, &change], &probe_cmd()),
        "example.com/team/app:2.0",
    );
    check_probe(&ctx.run(&[format!("docker-archive:{}", tarball.display()).as_str()]));
    assert_eq!(layer_trees(&ctx.data_dir()), 2);

    // A second image on the same base: only its own layer is stored and rendered.
    let other = Layer::new().file("other", b"o").tar();
    let dir = ctx.work().join("other");
    write_layout(
        &dir,
        &[&base, &other],
        &config(
            &[&base, &other],
            &["--read-file=/other", "--exists=/a/gone"],
        ),
        "latest",
    );
    let out = ctx.run(&[format!("oci:{}", dir.display()).as_str()]);
    out.ok();
    assert_eq!(out.get("READ"), "o");
    assert_eq!(
        out.get("EXISTS /a/gone"),
        "yes",
        "no whiteout in this image"
    );
    assert_eq!(
        layer_trees(&ctx.data_dir()),
        3,
        "the base layer is rendered once for both"
    );

    // rm drops the blobs only this image used; gc drops unused trees.
    let list = ctx.rkt(&["image", "list", "--no-legend", "--fields=id,name"]);
    let id = list
        .ok()
        .lines()
        .find(|l| l.contains("oci/other"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let before = layer_blobs(&ctx.data_dir());
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    ctx.rkt(&["image", "rm", &id]).ok();
    assert!(
        layer_blobs(&ctx.data_dir()) < before,
        "the other image's blobs are gone"
    );
    ctx.rkt(&["image", "gc", "--grace-period=0s"]).ok();
    assert_eq!(layer_blobs(&ctx.data_dir()), 0);
}

#[test]
fn oci_archive_and_tampered_blobs() {
    let ctx = RktCtx::new();
    let base = base_layer();
    let dir = ctx.work().join("layout");
    write_layout(
        &dir,
        &[&base],
        &config(&[&base], &["--print-msg=archived"]),
        "v1",
    );
    let archive = ctx.work().join("layout.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let out = ctx.run(&[format!("oci-archive:{}:v1", archive.display()).as_str()]);
    out.ok();
    assert!(out.stdout.contains("archived"), "{}", out.stdout);

    // Corrupt the layer blob in the layout: refused, nothing stored for it.
    let ctx2 = RktCtx::new();
    let blobs = dir.join("blobs/sha256");
    let layer = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&layer).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    let out = ctx2.run(&[format!("oci:{}:v1", dir.display()).as_str()]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("digest mismatch"), "{}", out.stderr);
    assert_eq!(layer_blobs(&ctx2.data_dir()), 0);
    assert_eq!(layer_trees(&ctx2.data_dir()), 0);
}
