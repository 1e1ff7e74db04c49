//! `rkt export`: an exited app's root as an ACI, merged from the overlay lower and upper dirs
//! (whiteouts and opaque dirs honoured) or taken from the copied rootfs; and its refusals.

mod pod_support;
mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use aci::archive::{EntryKind, ReadOptions, read_archive};
use pod_support::{IMAGE_A, IMAGE_B, World, write};

const TREE: &str = "deps-sha512-0123456789abcdef";

/// Path → (kind, content) of every rootfs entry, and the manifest.
fn read_back(aci: &Path) -> (BTreeMap<String, (EntryKind, String)>, serde_json::Value) {
    let mut entries = BTreeMap::new();
    let info = read_archive(
        File::open(aci).unwrap(),
        &ReadOptions::default(),
        |h, data| {
            let mut s = String::new();
            if h.kind == EntryKind::File {
                data.read_to_string(&mut s).unwrap();
            }
            entries.insert(h.path.display().to_string(), (h.kind.clone(), s));
            Ok::<(), aci::archive::ArchiveError>(())
        },
    )
    .unwrap();
    (entries, serde_json::from_slice(&info.manifest).unwrap())
}

fn mknod_whiteout(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let st = std::process::Command::new("mknod")
        .arg(path)
        .args(["c", "0", "0"])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn overlay_pod_exports_lower_merged_with_upper() {
    let w = World::new();
    let pod = w.exited(&[("web", IMAGE_A, "example.com/web", Some("1.0"))], &[0]);
    let dir = pod.path();
    std::fs::write(dir.join("overlay-prepared"), "").unwrap();
    write(&dir.join("appsinfo/web/treeStoreID"), TREE);
    let lower = w.env.data_dir().join("cas/tree").join(TREE).join("rootfs");
    write(&lower.join("etc/keep"), "lower");
    write(&lower.join("etc/gone"), "deleted by the app");
    write(&lower.join("etc/changed"), "old");
    write(&lower.join("opaque/lowfile"), "hidden");
    write(&lower.join("gonedir/inner"), "hidden too");
    std::fs::create_dir_all(lower.join("var/lib/x")).unwrap();
    std::fs::create_dir_all(lower.join("bin")).unwrap();
    std::os::unix::fs::symlink("busybox", lower.join("bin/sh")).unwrap();

    let upper = dir.join("overlay").join(TREE).join("upper/web");
    write(&upper.join("etc/changed"), "new");
    write(&upper.join("etc/added"), "added");
    mknod_whiteout(&upper.join("etc/gone"));
    mknod_whiteout(&upper.join("gonedir"));
    write(&upper.join("opaque/upfile"), "visible");
    rustix::fs::setxattr(
        upper.join("opaque").as_path(),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();

    let out = w.env.work().join("web.aci");
    w.env
        .rkt(&["export", &pod.uuid().to_string(), out.to_str().unwrap()])
        .ok();
    let (entries, manifest) = read_back(&out);
    let paths: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "",
            "bin",
            "bin/sh",
            "etc",
            "etc/added",
            "etc/changed",
            "etc/keep",
            "opaque",
            "opaque/upfile",
            "var",
            "var/lib",
            "var/lib/x"
        ]
    );
    assert_eq!(entries["etc/changed"].1, "new");
    assert_eq!(entries["etc/keep"].1, "lower");
    assert_eq!(entries["bin/sh"].0, EntryKind::Symlink("busybox".into()));
    assert_eq!(manifest["name"], "example.com/web");
    // The app as the pod ran it, not the image's original.
    assert_eq!(
        manifest["app"]["exec"],
        serde_json::json!(["/bin/app", "web"])
    );

    // No silent overwrite; --overwrite replaces.
    let again = w
        .env
        .rkt(&["export", &pod.uuid().to_string(), out.to_str().unwrap()]);
    assert!(again.failed().contains("--overwrite"), "{again:?}");
    w.env
        .rkt(&[
            "export",
            "--overwrite",
            &pod.uuid().to_string(),
            out.to_str().unwrap(),
        ])
        .ok();
}

#[test]
fn copied_rootfs_is_exported_as_is() {
    let w = World::new();
    let pod = w.exited(
        &[
            ("web", IMAGE_A, "example.com/web", None),
            ("db", IMAGE_B, "example.com/db", None),
        ],
        &[0, 0],
    );
    let root = pod.path().join("stage1/rootfs/opt/stage2/db/rootfs");
    write(&root.join("data/file"), "db data");
    let out = w.env.work().join("db.aci");
    let o = out.to_str().unwrap();
    let several = w.env.rkt(&["export", &pod.uuid().to_string(), o]);
    assert!(
        several.failed().contains("several apps (web, db)"),
        "{several:?}"
    );
    w.env
        .rkt(&["export", "--app=db", &pod.uuid().to_string(), o])
        .ok();
    let (entries, manifest) = read_back(&out);
    assert_eq!(
        entries.keys().map(String::as_str).collect::<Vec<_>>(),
        ["", "data", "data/file"]
    );
    assert_eq!(entries["data/file"].1, "db data");
    assert_eq!(manifest["name"], "example.com/db");
}

#[test]
fn refuses_pods_that_did_not_exit_and_bad_names() {
    let w = World::new();
    let (running, _h) = w.running(&[("web", IMAGE_A, "example.com/web", None)]);
    let out = w.env.work().join("x.aci");
    let r = w
        .env
        .rkt(&["export", &running.uuid().to_string(), out.to_str().unwrap()]);
    assert!(
        r.failed().contains("only exited pods can be exported"),
        "{r:?}"
    );
    let exited = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    let bad = w.env.work().join("x.tar");
    let r = w
        .env
        .rkt(&["export", &exited.uuid().to_string(), bad.to_str().unwrap()]);
    assert!(r.failed().contains("must end in .aci"), "{r:?}");
    assert!(!out.exists() && !bad.exists());
}
