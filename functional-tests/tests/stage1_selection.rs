//! Which stage1 a pod gets: the one embedded in `rkt` when no flag is given, the image named
//! by `--stage1-path` otherwise.

use std::path::Path;
use std::process::Command;

use functional_tests::{InspectImage, RktCtx, env_path};

fn stage1_name(ctx: &RktCtx, uuid_file: &Path) -> String {
    let uuid = std::fs::read_to_string(uuid_file).unwrap();
    let dir = ctx.pod_dir(uuid.trim()).expect("the pod dir");
    let manifest = std::fs::read(dir.join("stage1/manifest")).expect("the pod's stage1 manifest");
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    m["name"].as_str().unwrap_or_default().to_string()
}

/// The store key of an ACI file, hashed by the aci crate's reader.
fn key_of(aci: &Path) -> String {
    let f = std::fs::File::open(aci).unwrap();
    let info = aci::archive::image_id_and_manifest(f, &Default::default()).unwrap();
    info.image_id.key().to_string()
}

#[test]
fn default_is_the_embedded_stage1() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/default-s1").build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    ctx.run(&[save.as_str(), img.to_str().unwrap()]).ok();
    assert_eq!(stage1_name(&ctx, &uuid_file), "rkt-rs.dev/stage1-default");
    // The embedded image went into the store under the ID rkt/build.rs computed.
    let key = key_of(&env_path("RKT_STAGE1_ACI"));
    let list = ctx.rkt(&["image", "list", "--full", "--no-legend"]);
    assert!(
        list.ok().contains(&key),
        "stage1 {key} in the store: {list:#?}"
    );
}

#[test]
fn stage1_path_flag() {
    let ctx = RktCtx::new();
    let variant = ctx.work().join("variant-stage1.aci");
    let made = Command::new(env!("CARGO_BIN_EXE_mkimage"))
        .args(["stage1", "--name", "rkt-rs.dev/stage1-variant", "--bin"])
        .arg(env_path("RKT_STAGE1_BIN"))
        .arg("--out")
        .arg(&variant)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let img = InspectImage::new("rkt-rs.dev/ft/path-s1").build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    let flag = format!("--stage1-path={}", variant.display());
    ctx.run(&[save.as_str(), flag.as_str(), img.to_str().unwrap()])
        .ok();
    assert_eq!(stage1_name(&ctx, &uuid_file), "rkt-rs.dev/stage1-variant");
}

#[test]
fn missing_stage1_path_fails() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/no-s1").build(&ctx.work());
    let flag = format!("--stage1-path={}", ctx.work().join("nope.aci").display());
    let out = ctx.run(&[flag.as_str(), img.to_str().unwrap()]);
    out.code(254);
    assert!(
        out.stderr.contains("nope.aci"),
        "the error names the path: {out:#?}"
    );
}
