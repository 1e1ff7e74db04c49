//! Set-up plans beyond one plain app: see the module line in `tests.rs`.

use super::*;

#[test]
fn private_users_pin_the_namespace_and_idmap_the_lower_layer() {
    let mut c = simple();
    c.args.private_users = Some(UidRange {
        shift: 1 << 20,
        count: 65536,
    });
    let calls = run(&c, &mut RecordingSys::default());
    let userns = pos(&calls, "userns 1048576:65536");
    let pin = pos(&calls, &format!("bind /proc/userns {S1}/rkt/userns"));
    let idmapped = format!("{POD}/overlay/deps-sha512-aa/idmapped/web");
    let map = pos(
        &calls,
        &format!("bind-idmapped /d/cas/tree/deps-sha512-aa/rootfs {idmapped} /proc/userns"),
    );
    let overlay = calls
        .iter()
        .position(|l| {
            l.starts_with("mount overlay") && l.contains(&format!("lowerdir={idmapped},"))
        })
        .unwrap_or_else(|| panic!("no overlay on the id-mapped lower:\n{}", calls.join("\n")));
    let chown = pos(
        &calls,
        &format!("chown-host {POD}/overlay/deps-sha512-aa/upper/web 1048576:1048576"),
    );
    assert!(userns < pin && pin < map && map < overlay && chown < overlay);
    // The upper layer stays a plain directory of the pod.
    assert!(calls[overlay].contains(&format!("upperdir={POD}/overlay/deps-sha512-aa/upper/web")));

    // --no-overlay: refused, naming both flags.
    c.use_overlay = false;
    let err = prepare_pod(&c, &mut RecordingSys::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("--private-users") && msg.contains("--no-overlay"),
        "{msg}"
    );
}

#[test]
fn without_private_users_nothing_is_id_mapped() {
    let calls = run(&simple(), &mut RecordingSys::default());
    assert!(
        !calls
            .iter()
            .any(|l| l.starts_with("userns") || l.starts_with("bind-idmapped")),
        "{calls:?}"
    );
}

#[test]
fn oci_layers_stack_below_the_image_tree() {
    let mut c = simple();
    c.apps[0].lower_layers = vec![
        PathBuf::from("/d/cas/tree/layer-sha256-bb/rootfs"),
        PathBuf::from("/d/cas/tree/layer-sha256-cc/rootfs"),
    ];
    let calls = run(&c, &mut RecordingSys::default());
    pos(
        &calls,
        &format!(
            "mount overlay overlay {ROOT} - lowerdir=/d/cas/tree/deps-sha512-aa/rootfs:\
             /d/cas/tree/layer-sha256-bb/rootfs:/d/cas/tree/layer-sha256-cc/rootfs:\
             {S1}/usr/lib/rkt/app-skel,\
             upperdir={POD}/overlay/deps-sha512-aa/upper/web,workdir={POD}/overlay/deps-sha512-aa/work/web,volatile"
        ),
    );
}

#[test]
fn the_stage1_app_skeleton_is_the_bottom_layer_when_there_is_one() {
    let app_overlay = |calls: &[String]| {
        calls
            .iter()
            .find(|l| l.starts_with(&format!("mount overlay overlay {ROOT} ")))
            .cloned()
            .unwrap_or_else(|| panic!("no app overlay in:\n{}", calls.join("\n")))
    };
    // A stage1 root without a link farm: the skeleton comes from the store's tree.
    let mut c = simple();
    c.stage1_lower = Some(PathBuf::from("/d/cas/tree/deps-sha512-s1/rootfs"));
    let line = app_overlay(&run(&c, &mut RecordingSys::default()));
    let want = "lowerdir=/d/cas/tree/deps-sha512-aa/rootfs:\
                /d/cas/tree/deps-sha512-s1/rootfs/usr/lib/rkt/app-skel,upperdir=";
    assert!(line.contains(want), "{line}");
    // A stage1 image without one (not ours, or older): the image tree alone.
    let mut sys = RecordingSys {
        missing: vec![PathBuf::from(format!("{S1}/usr/lib/rkt/app-skel"))],
        ..RecordingSys::default()
    };
    let line = app_overlay(&run(&simple(), &mut sys));
    let want = "lowerdir=/d/cas/tree/deps-sha512-aa/rootfs,upperdir=";
    assert!(line.contains(want), "{line}");
}

#[test]
fn stage1_root_is_the_store_tree_bound_read_only_without_a_link_farm() {
    let mut c = simple();
    c.stage1_lower = Some(PathBuf::from("/d/cas/tree/deps-sha512-s1/rootfs"));
    let calls = run(&c, &mut RecordingSys::default());
    assert_eq!(calls[0], "rprivate /");
    // No overlay, no upper or work dir: nothing is created on the host's disk for it but
    // `rkt`, bound writable over the tree's `/rkt`; the app mount points stage0 made are
    // bound read-only over the tree's `/opt/stage2`.
    assert_eq!(calls[1], format!("mkdir-host {S1}/rkt 755 0:0"));
    assert_eq!(
        calls[2],
        format!("bind /d/cas/tree/deps-sha512-s1/rootfs {S1} ro")
    );
    assert_eq!(calls[3], format!("bind {S1}/opt/stage2 {S1}/opt/stage2 ro"));
    assert_eq!(calls[4], format!("bind {S1}/rkt {S1}/rkt"));
    assert!(
        !calls
            .iter()
            .any(|l| l.starts_with(&format!("mount overlay overlay {S1} ")))
    );
    // The generated /etc files go to the stage1 root's own tmpfs, mounted before them.
    let starting = |prefix: String| {
        calls
            .iter()
            .position(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{}", calls.join("\n")))
    };
    let tmp = starting(format!("mount tmpfs tmpfs {S1}/tmp "));
    assert!(tmp < starting(format!("write {S1}/tmp/etc/web/hostname ")));
    assert!(!calls.contains(&format!("bind {S1} {S1}")));
}

#[test]
fn later_apps_hide_with_binds_of_the_first_empty_tmpfs() {
    let mut c = simple();
    let mut db = c.apps[0].clone();
    let db_root = PathBuf::from(S1).join("opt/stage2/db/rootfs");
    db.root_on_host = db_root.clone();
    c.apps.push(db);
    let calls = run(&c, &mut RecordingSys::default());
    let empties = calls
        .iter()
        .filter(|c| c.contains("mode=0,size=4k"))
        .count();
    assert_eq!(empties, 1, "{calls:#?}");
    for d in ["proc/acpi", "sys/fs", "sys/firmware"] {
        let line = format!("bind {ROOT}/proc/acpi {}/{d} ro", db_root.display());
        pos(&calls, &line);
    }
    // Each app still gets its own /proc, /sys and /dev.
    pos(
        &calls,
        &format!(
            "mount proc proc {}/proc nosuid,nodev,noexec ",
            db_root.display()
        ),
    );
    pos(
        &calls,
        &format!(
            "mount sysfs sysfs {}/sys ro,nosuid,nodev,noexec ",
            db_root.display()
        ),
    );
}

#[test]
fn mounts_first_then_the_network_dependent_etc_files_volumes_and_read_only_root() {
    // What PID 1 does while the host side adds the networks: no resolv.conf, no volume.
    let mut c = ctx(
        pod(
            r#"{"name":"data","kind":"empty"}"#,
            r#"{"volume":"data","path":"/data"}"#,
        ),
        image(""),
    );
    c.apps[0].read_only_rootfs = true;
    let mut sys = RecordingSys::default();
    mount_pod(&c, &mut sys).unwrap();
    let early = sys.calls.clone();
    pos(
        &early,
        &format!("mount proc proc {ROOT}/proc nosuid,nodev,noexec "),
    );
    // Of /etc, only what the network cannot change: hosts (kept here: the image has one)
    // and hostname.
    pos(
        &early,
        &format!("bind {S1}/tmp/etc/web/hostname {ROOT}/etc/hostname"),
    );
    assert!(
        !early
            .iter()
            .any(|l| l.contains("resolv.conf") || l.contains("/data") || l.starts_with("ro ")),
        "{early:#?}"
    );
    // The CNI DNS arrives; the rest follows in the usual order.
    c.args.net_resolv_conf = Some("nameserver 10.1.0.1\n".into());
    let mut sys = RecordingSys::default();
    finish_pod(&c, &mut sys).unwrap();
    let late = sys.calls;
    let dir = format!("{S1}/tmp/etc/web");
    let resolv = pos(
        &late,
        &format!("write {dir}/resolv.conf nameserver 10.1.0.1\\n"),
    );
    let bind = pos(
        &late,
        &format!("bind {dir}/resolv.conf {ROOT}/etc/resolv.conf"),
    );
    let volume = late
        .iter()
        .position(|l| l.contains(&format!("{ROOT}/data")))
        .unwrap_or_else(|| panic!("no volume mount in {late:#?}"));
    assert!(resolv < bind && bind < volume, "{late:#?}");
    assert_eq!(late.last().unwrap(), &format!("ro {ROOT}"));
    assert_eq!(
        early.len() + late.len(),
        run(&c, &mut RecordingSys::default()).len()
    );
}
