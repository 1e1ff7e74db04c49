//! Our stage1 (annotated `rkt-rs.dev/stage1/rootfs=overlay-ro`) runs without a per-pod link farm:
//! its PID 1 binds the store's stage1 tree read-only on the pod's `stage1/rootfs`.
//! `enter`, `stop`, `status`, `gc` and `image gc` must all work with that layout, and
//! `--no-overlay` must keep the farm.

use std::path::{Path, PathBuf};
use std::time::Duration;

use functional_tests::ctx::mounts_under;
use functional_tests::{InspectImage, RktCtx};

const INIT: &str = "stage1/rootfs/usr/lib/rkt/stage1/init";

/// The host path of the pod's stage1 tree in the store.
fn stage1_tree(ctx: &RktCtx, pod_dir: &Path) -> PathBuf {
    let id = std::fs::read_to_string(pod_dir.join("stage1TreeStoreID")).unwrap();
    ctx.data_dir().join("cas/tree").join(id.trim())
}

/// `rkt run ARGS... IMAGE` (as [`RktCtx::run`]); its output and the pod's UUID.
fn run_saving_uuid(ctx: &RktCtx, args: &[&str], image: &Path) -> (functional_tests::Out, String) {
    let uuid_file = ctx.work().join("uuid");
    let mut all = vec![format!("--uuid-file-save={}", uuid_file.display())];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push(image.display().to_string());
    let out = ctx.run(&all);
    let uuid = std::fs::read_to_string(&uuid_file).unwrap_or_default();
    (out, uuid.trim().to_string())
}

#[test]
fn running_pod_has_no_link_farm_and_every_verb_works() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/nofarm")
        .args(&["--sleep=60", "--silent-sigterm", "--exit-code=6"])
        .build(&ctx.work());
    let pod = ctx.spawn(&[img]);
    let dir = ctx.pod_dir(&pod.uuid).expect("the pod dir");
    assert!(
        !dir.join(INIT).exists(),
        "no link farm on the host: {}",
        dir.display()
    );
    assert!(!dir.join("stage1/rootfs/usr").exists());
    // Binds of the store's tree: no overlay work dir.
    assert!(!dir.join("stage1/work").exists());
    assert!(
        dir.join("stage1/rootfs/opt/stage2/nofarm/manifest")
            .is_file()
    );
    // The pod's copies of the manifests are links to the store's: the app's (appsinfo and the
    // stage1 root's) and stage1's.
    use std::os::unix::fs::MetadataExt;
    let links = |rel: &str| std::fs::metadata(dir.join(rel)).unwrap().nlink();
    assert_eq!(links("appsinfo/nofarm/manifest"), 3);
    assert_eq!(links("stage1/manifest"), 2);
    // What stage1 writes shows on the host at the usual paths.
    assert!(dir.join("stage1/rootfs/rkt/appspec/nofarm.json").is_file());
    // PID 1's root: the store's tree bound read-only, no overlay; the host's old root, moved
    // to /oldroot by the pivot, is detached soon after.
    let mut root_line = String::new();
    let mut old_root_left = true;
    for _ in 0..100 {
        let pid = std::fs::read_to_string(dir.join("pid")).unwrap_or_default();
        let info =
            std::fs::read_to_string(format!("/proc/{}/mountinfo", pid.trim())).unwrap_or_default();
        let fields = |l: &&str| l.split(' ').nth(4).map(str::to_string);
        root_line = info
            .lines()
            .find(|l| fields(l).as_deref() == Some("/"))
            .unwrap_or_default()
            .to_string();
        old_root_left = info
            .lines()
            .any(|l| fields(&l).as_deref() == Some("/oldroot"));
        if !root_line.is_empty() && !old_root_left {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !old_root_left,
        "the host's old root is still in PID 1's namespace"
    );
    assert!(
        root_line.contains(" ro") && !root_line.contains(" - overlay "),
        "PID 1's root: {root_line}"
    );
    let tree = stage1_tree(&ctx, &dir);
    assert!(tree.join("rootfs/usr/lib/rkt/stage1/init").exists());
    assert!(
        mounts_under(&ctx.data_dir()).is_empty(),
        "stage0 mounts nothing on the host"
    );

    let out = ctx.rkt(&["enter", &pod.uuid, "/inspect", "--print-msg=inside"]);
    assert!(out.ok().contains("inside"), "{out:#?}");

    let gc = ctx.rkt(&["image", "gc"]);
    gc.ok();
    assert!(tree.is_dir(), "image gc keeps the tree of a running pod");

    ctx.rkt(&["stop", &pod.uuid]).ok();
    let uuid = pod.uuid.clone();
    pod.wait(Duration::from_secs(20)).code(6);
    let status = ctx.status(&uuid);
    assert_eq!(status.get("state").map(String::as_str), Some("exited"));
    assert_eq!(status.get("app-nofarm").map(String::as_str), Some("6"));
    assert_eq!(
        std::fs::read_to_string(dir.join("stage1/rootfs/rkt/status/nofarm")).unwrap(),
        "6"
    );

    ctx.rkt(&["image", "gc"]).ok();
    assert!(tree.is_dir(), "image gc keeps the tree of an exited pod");
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert!(ctx.pod_dir(&uuid).is_none(), "rkt gc removed the pod");
    ctx.rkt(&["image", "gc"]).ok();
    assert!(
        !tree.exists(),
        "image gc removes the tree once no pod uses it"
    );
}

#[test]
fn no_overlay_keeps_the_link_farm() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/farm")
        .args(&["--exit-code=4"])
        .build(&ctx.work());
    let (out, uuid) = run_saving_uuid(&ctx, &["--no-overlay"], &img);
    out.code(4);
    let dir = ctx.pod_dir(&uuid).unwrap();
    assert!(dir.join(INIT).exists(), "--no-overlay builds the farm");
    assert!(!dir.join("stage1/work").exists());
    assert_eq!(ctx.status(&uuid).get("app-farm").unwrap(), "4");
}

#[test]
fn gc_removes_an_exited_pod_whose_stage1_tree_is_gone() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/orphan").build(&ctx.work());
    let (out, uuid) = run_saving_uuid(&ctx, &[], &img);
    out.ok();
    let dir = ctx.pod_dir(&uuid).unwrap();
    let tree = stage1_tree(&ctx, &dir);
    std::fs::remove_dir_all(&tree).unwrap();
    let gc = ctx.rkt(&["gc", "--grace-period=0s"]);
    gc.ok();
    assert!(ctx.pod_dir(&uuid).is_none(), "{gc:#?}");
    // The tree was rendered again from the stored stage1 image, so stage1's gc ran and
    // released the pod's cgroups like any other pod's.
    assert!(tree.join("rendered").exists(), "{gc:#?}");
    functional_tests::assert_no_pod_cgroups(&uuid);
}
