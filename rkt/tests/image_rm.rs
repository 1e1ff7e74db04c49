//! `rkt image rm`: by ID prefix and by name, and refused for images a pod uses.

mod image_support;

use image_support::{Rkt, simple};

#[test]
fn removes_by_prefix_and_by_name() {
    let rkt = Rkt::new();
    let a = rkt.import(&simple("example.com/a", None, "a"));
    let b = rkt.import(&simple("example.com/b", Some("1.0"), "b"));
    let keep = rkt.import(&simple("example.com/keep", None, "k"));
    let prefix = &a.key[..7 + 20];
    let out = rkt.ok(&["image", "rm", prefix, "example.com/b:1.0"]);
    assert!(
        out.contains(&format!(
            "successfully removed aci for image: \"{}\"",
            a.key
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "successfully removed aci for image: \"{}\"",
            b.key
        )),
        "{out}"
    );
    let left = rkt.keys();
    assert_eq!(left, std::slice::from_ref(&keep.key));
    assert!(!rkt.store().blob_path(&a.key).exists());
}

#[test]
fn name_picks_the_newest_and_unknown_images_fail() {
    let rkt = Rkt::new();
    let old = rkt.import(&simple("example.com/app", Some("1"), "old"));
    std::thread::sleep(std::time::Duration::from_millis(10));
    let new = rkt.import(&simple("example.com/app", Some("2"), "new"));
    rkt.ok(&["image", "rm", "example.com/app"]);
    let left = rkt.keys();
    assert_eq!(left, std::slice::from_ref(&old.key));
    assert_ne!(old.key, new.key);

    let out = rkt.fails(&["image", "rm", "example.com/nothing", &old.key]);
    assert!(out.contains("example.com/nothing"), "{out}");
    assert!(out.contains("1 image(s) cannot be removed"), "{out}");
    // The other argument was still removed.
    assert!(rkt.store().list().unwrap().is_empty());
}

#[test]
fn an_image_used_by_a_prepared_pod_is_refused() {
    let rkt = Rkt::new();
    let used = rkt.import(&simple("example.com/used", None, "u"));
    let uuid = "6f1c2a4e-8d3b-4a7e-9c51-2b0e7d9f3a11";
    rkt.pod("prepared", uuid, &[&used.id]);
    let out = rkt.fails(&["image", "rm", &used.key]);
    assert!(out.contains(uuid), "names the pod: {out}");
    assert!(rkt.store().info(&used.key).unwrap().is_some());

    // Once the pod has exited it no longer holds the image.
    let pods = rkt.data().join("pods");
    std::fs::create_dir_all(pods.join("exited-garbage")).unwrap();
    std::fs::rename(
        pods.join("prepared").join(uuid),
        pods.join("exited-garbage").join(uuid),
    )
    .unwrap();
    rkt.ok(&["image", "rm", &used.key]);
    assert!(rkt.store().info(&used.key).unwrap().is_none());
}
