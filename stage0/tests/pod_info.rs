//! Reading a pod back: manifest, images in use, pid/ppid, exit codes, times, the JSON form,
//! uuid files and the list.

mod pod_support;

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use pod_support::*;
use stage0::pod::{AppState, Pod, PodError, PodState, read_uuid_file, write_uuid_file};

fn set_mtime(path: &std::path::Path, secs: u64) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn manifest_round_trips_and_images_in_use_covers_live_folders() {
    let d = data();
    let running_img = "sha512-cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    let p1 = prepared(&d.pods, IMAGE_B);
    assert_eq!(p1.manifest().unwrap(), manifest(IMAGE_B, false));
    let mut p2 = prepared(&d.pods, running_img);
    p2.to_run().unwrap();
    let eg = exited_garbage(&d.pods);
    // Never-run garbage and a preparing pod without a manifest do not count.
    let mut g = prepared(
        &d.pods,
        "sha512-dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
    );
    g.to_garbage().unwrap();
    let mut preparing = Pod::create_embryo(&d.pods).unwrap();
    preparing.to_prepare().unwrap();

    let used = d.pods.images_in_use().unwrap();
    let mut a_users = used[IMAGE_A].clone();
    a_users.sort();
    let mut want = vec![p1.uuid(), p2.uuid(), eg.uuid()];
    want.sort();
    assert_eq!(a_users, want);
    assert_eq!(used[running_img], vec![p2.uuid()]);
    assert_eq!(used.len(), 3, "{used:?}");
}

#[test]
fn a_full_length_image_id_is_keyed_by_its_store_key() {
    let d = data();
    let full = format!("{IMAGE_B}{}", "e".repeat(64));
    let p = prepared(&d.pods, &full);
    let used = d.pods.images_in_use().unwrap();
    assert_eq!(used[IMAGE_B], vec![p.uuid()]);
}

#[test]
fn pid_file_wins_and_ppid_resolves_to_its_single_child() {
    let d = data();
    let mut pod = prepared(&d.pods, IMAGE_B);
    pod.to_run().unwrap();
    assert_eq!(pod.pid_file().unwrap(), None);
    // Running but no pid yet: a bounded wait, then a timeout naming the pod.
    match pod.pid(Duration::from_millis(250)) {
        Err(e @ PodError::PidTimeout { .. }) => {
            assert!(e.to_string().contains(&pod.uuid().to_string()))
        }
        other => panic!("{other:?}"),
    }

    // ppid: a shell whose one child is the pod's pid 1.
    let mut parent = Command::new("sh")
        .args(["-c", "sleep 1000; exit 0"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::fs::write(pod.path().join("ppid"), format!("{}\n", parent.id())).unwrap();
    let child = pod.pid(Duration::from_secs(5));
    let comm = child
        .as_ref()
        .ok()
        .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok());
    assert_eq!(pod.pid_file().unwrap(), Some(parent.id() as i32));
    if let Ok(c) = &child {
        let _ = Command::new("kill").arg(c.to_string()).status();
    }
    let _ = parent.kill();
    let _ = parent.wait();
    let child = child.unwrap();
    assert_ne!(child, parent.id() as i32);
    assert_eq!(comm.as_deref().map(str::trim), Some("sleep"));

    std::fs::write(pod.path().join("pid"), "4242").unwrap();
    assert_eq!(pod.pid(Duration::ZERO).unwrap(), 4242);
    assert_eq!(pod.pid_file().unwrap(), Some(4242));
}

#[test]
fn waiting_for_a_pid_stops_when_the_pod_is_not_running() {
    let d = data();
    let mut pod = exited(&d.pods);
    assert!(matches!(
        pod.pid(Duration::from_secs(10)),
        Err(PodError::NotRunning {
            state: PodState::Exited,
            ..
        })
    ));
}

#[test]
fn exit_codes_come_from_the_stage1_status_dir() {
    let d = data();
    let pod = exited(&d.pods);
    write(pod.path().join("stage1/rootfs/rkt/status/a1"), "3\n");
    write(pod.path().join("stage1/rootfs/rkt/status/a1-created"), "");
    assert_eq!(pod.app_exit_code("a1").unwrap(), Some(3));
    assert_eq!(pod.app_exit_code("a2").unwrap(), None);
    let codes = pod.app_exit_codes().unwrap();
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        vec![("a1".to_string(), 3)]
    );

    write(pod.path().join("stage1/rootfs/rkt/status/a2"), "garbage");
    assert!(matches!(
        pod.app_exit_code("a2"),
        Err(PodError::BadNumber { .. })
    ));
}

#[test]
fn with_overlay_exit_codes_are_read_from_the_upper_dir() {
    let d = data();
    let pod = exited(&d.pods);
    let id = "deps-sha512-0123";
    write(pod.path().join("overlay-prepared"), "");
    write(pod.path().join("stage1TreeStoreID"), id);
    write(
        pod.path().join(format!("overlay/{id}/upper/rkt/status/a2")),
        "7",
    );
    assert_eq!(pod.stage1_rootfs().unwrap(), format!("overlay/{id}/upper"));
    assert_eq!(pod.app_exit_code("a2").unwrap(), Some(7));

    write(pod.path().join("stage1TreeStoreID"), "../../etc");
    assert!(matches!(
        pod.app_exit_code("a2"),
        Err(PodError::BadTreeId { .. })
    ));
}

#[test]
fn times_come_from_file_mtimes() {
    let d = data();
    let mut pod = prepared(&d.pods, IMAGE_B);
    set_mtime(&pod.path().join("pod-created"), 1_000_000);
    assert_eq!(
        pod.created().unwrap(),
        Some(UNIX_EPOCH + Duration::from_secs(1_000_000))
    );
    assert_eq!(pod.started().unwrap(), None, "not started while prepared");
    pod.to_run().unwrap();
    write(pod.path().join("ppid"), "1");
    set_mtime(&pod.path().join("ppid"), 2_000_000);
    assert_eq!(
        pod.started().unwrap(),
        Some(UNIX_EPOCH + Duration::from_secs(2_000_000))
    );
    assert_eq!(pod.gc_marked().unwrap(), None);
    // Without pod-created (rkt < 1.20) the manifest's mtime is the creation time.
    std::fs::remove_file(pod.path().join("pod-created")).unwrap();
    set_mtime(&pod.path().join("pod"), 500);
    assert_eq!(
        pod.created().unwrap(),
        Some(UNIX_EPOCH + Duration::from_secs(500))
    );
}

#[test]
fn json_of_an_exited_immutable_pod() {
    let d = data();
    let mut pod = exited(&d.pods);
    set_mtime(&pod.path().join("pod-created"), 1_000_000);
    write(pod.path().join("pid"), "99");
    set_mtime(&pod.path().join("pid"), 1_000_010);
    write(pod.path().join("stage1/rootfs/rkt/status/a1"), "0");
    pod.refresh().unwrap();
    let info = pod.info().unwrap();
    assert_eq!(info.state, PodState::Exited);
    assert_eq!(info.pid, Some(99));
    let v = serde_json::to_value(&info.json).unwrap();
    assert_eq!(v["name"], pod.uuid().to_string());
    assert_eq!(v["state"], "exited");
    assert_eq!(v["app_names"], serde_json::json!(["a1", "a2"]));
    assert_eq!(v["created_at"], 1_000_000);
    assert_eq!(v["started_at"], 1_000_010);
    assert!(v.get("networks").is_none(), "rkt omits empty networks");
    assert_eq!(v["user_annotations"], serde_json::json!({"note": "hi"}));
    let a1 = &v["apps"][0];
    assert_eq!(a1["name"], "a1");
    assert_eq!(a1["state"], "exited");
    assert_eq!(a1["exit_code"], 0);
    assert_eq!(a1["image_id"], IMAGE_A);
    assert_eq!(a1["created_at"], 1_000_000_000_000_000i64);
    assert_eq!(a1["started_at"], 1_000_010_000_000_000i64);
    assert!(a1.get("finished_at").is_none(), "not marked by gc yet");
    assert_eq!(a1["user_labels"], serde_json::json!({"tier": "web"}));
    assert_eq!(
        a1["mounts"],
        serde_json::json!([{"name": "data", "container_path": "/data",
                            "host_path": "/srv/data", "read_only": true}])
    );
    let a2 = &v["apps"][1];
    assert_eq!(a2["state"], "exited");
    assert!(a2.get("exit_code").is_none());
    assert!(a2.get("mounts").is_none());
}

#[test]
fn json_of_a_running_pod_has_networks_and_mutable_app_states() {
    let d = data();
    let mut pod = Pod::create_embryo(&d.pods).unwrap();
    pod.to_prepare().unwrap();
    pod.write_manifest(&manifest(IMAGE_B, true)).unwrap();
    pod.mark_created().unwrap();
    pod.to_run().unwrap();
    write(
        pod.path().join("net-info.json"),
        r#"[{"netName":"default","netConf":"net/99-default.conf","pluginPath":"stage1/rootfs/usr/lib/rkt/plugins/net/ptp","ifName":"eth0","ip":"172.16.28.5","args":"","mask":"255.255.255.0"}]"#,
    );
    let status = pod.path().join("stage1/rootfs/rkt/status");
    write(status.join("a1-created"), "");
    write(status.join("a1-started"), "");
    write(status.join("a2-created"), "");
    let info = pod.info().unwrap();
    assert_eq!(info.state, PodState::Running);
    assert_eq!(info.networks.len(), 1);
    assert_eq!(info.networks[0].ip.as_deref(), Some("172.16.28.5"));
    assert_eq!(info.json.apps[0].state, AppState::Running);
    assert_eq!(info.json.apps[1].state, AppState::Created);
    let v = serde_json::to_value(&info.json).unwrap();
    assert_eq!(v["networks"][0]["netName"], "default");
    assert_eq!(v["networks"][0]["ifName"], "eth0");
    assert!(v["apps"][0]["started_at"].is_i64());
}

#[test]
fn uuid_files_round_trip_and_resolve() {
    let d = data();
    let pod = exited(&d.pods);
    let f = d.tmp.path().join("uuid");
    write_uuid_file(&f, &pod.uuid()).unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), pod.uuid().to_string());
    let text = read_uuid_file(&f).unwrap();
    assert_eq!(Pod::open(&d.pods, &text).unwrap().uuid(), pod.uuid());

    std::fs::write(&f, "  not a uuid\n").unwrap();
    assert!(matches!(
        read_uuid_file(&f),
        Err(PodError::BadUuidFile { .. })
    ));
    assert!(matches!(
        read_uuid_file(&d.tmp.path().join("missing")),
        Err(PodError::Io { .. })
    ));
}

#[test]
fn list_reports_every_pod_with_its_state() {
    let d = data();
    let ex = exited(&d.pods);
    let prep = prepared(&d.pods, IMAGE_B);
    let embryo = Pod::create_embryo(&d.pods).unwrap();
    let mut preparing = Pod::create_embryo(&d.pods).unwrap();
    preparing.to_prepare().unwrap();
    let list = d.pods.list().unwrap();
    assert_eq!(list.len(), 4);
    let mut seen = Vec::new();
    for entry in list {
        let info = entry.unwrap();
        seen.push((info.uuid, info.state));
        if info.state == PodState::Preparing {
            assert!(
                info.app_names.is_empty(),
                "no manifest expected while preparing"
            );
        }
    }
    for want in [
        (ex.uuid(), PodState::Exited),
        (prep.uuid(), PodState::Prepared),
        (embryo.uuid(), PodState::Embryo),
        (preparing.uuid(), PodState::Preparing),
    ] {
        assert!(seen.contains(&want), "{want:?} not in {seen:?}");
    }
    let mut sorted = seen.clone();
    sorted.sort_by_key(|(u, _)| *u);
    assert_eq!(seen, sorted, "UUID order");
}
