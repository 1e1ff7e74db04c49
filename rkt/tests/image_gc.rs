//! `rkt image gc`: unreferenced trees and images past the grace period go, pod-used ones stay.

mod image_support;

use std::fs;

use image_support::{Rkt, simple};

#[test]
fn zero_grace_removes_unused_images_and_trees_but_keeps_what_pods_use() {
    let rkt = Rkt::new();
    let unused = rkt.import(&simple("example.com/unused", None, "x"));
    let used = rkt.import(&simple("example.com/used", None, "y"));
    let stage1 = rkt.import(&simple("example.com/stage1", None, "z"));
    let store = rkt.store();
    let unused_tree = store.render_tree(&unused.key).unwrap();
    let used_tree = store.render_tree(&used.key).unwrap();
    let stage1_tree = store.render_tree(&stage1.key).unwrap();

    let pod = rkt.pod("run", "0b6a9e1c-3f2d-4c8b-a7e5-1d9f0c2b4a66", &[&used.id]);
    fs::create_dir_all(pod.join("appsinfo/app0")).unwrap();
    fs::write(pod.join("appsinfo/app0/treeStoreID"), &used_tree.id).unwrap();
    fs::write(pod.join("stage1TreeStoreID"), &stage1_tree.id).unwrap();

    let out = rkt.ok(&["image", "gc", "--grace-period=0s"]);
    assert!(out.contains(&unused_tree.id), "{out}");
    assert!(out.contains(&format!(
        "successfully removed aci for image: \"{}\"",
        unused.key
    )));
    assert!(!unused_tree.dir.exists());
    assert!(used_tree.dir.join("rendered").exists());
    assert!(stage1_tree.dir.join("rendered").exists());
    let left = rkt.keys();
    let mut want = vec![used.key.clone(), stage1.key.clone()];
    want.sort();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(
        left_sorted, want,
        "the stage1 image counts as used through its tree"
    );

    // The pod is gone: everything goes.
    fs::remove_dir_all(&pod).unwrap();
    rkt.ok(&["image", "gc", "--grace-period=0s"]);
    assert!(rkt.store().list().unwrap().is_empty());
    assert!(rkt.store().trees().unwrap().is_empty());
}

#[test]
fn default_grace_keeps_recent_images_but_drops_their_unused_trees() {
    let rkt = Rkt::new();
    let img = rkt.import(&simple("example.com/recent", None, "r"));
    let tree = rkt.store().render_tree(&img.key).unwrap();
    rkt.ok(&["image", "gc"]);
    assert!(rkt.store().info(&img.key).unwrap().is_some());
    assert!(
        !tree.dir.exists(),
        "trees no pod references go regardless of the grace"
    );
    rkt.ok(&["image", "gc", "--grace-period=1h30m"]);
    assert!(rkt.store().info(&img.key).unwrap().is_some());
}

#[test]
fn a_bad_grace_period_fails() {
    let rkt = Rkt::new();
    let out = rkt.fails(&["image", "gc", "--grace-period=soon"]);
    assert!(out.contains("soon"), "{out}");
}
