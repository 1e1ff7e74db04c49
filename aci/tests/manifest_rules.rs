//! Every image and pod manifest rule, checked through the public reading API: each refused
//! manifest must fail at the expected field path.

use aci::manifest::{EventHandlerName, ImageManifest, ManifestError, PodManifest, VolumeKind};
use serde_json::{Value, json};

const ID: &str = "sha512-8d3fffddf79e9a232ffd19f9ccaa4d6b37a6a243dbe0f23137b108a043d9da13121a9b505c804956b22e93c7f93969f4a7ba8ddea45bf4aab0bebc8f814e0990";

fn image(extra: Value) -> Value {
    let mut m =
        json!({"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/app"});
    merge(&mut m, extra);
    m
}

fn app(extra: Value) -> Value {
    let mut a = json!({"exec": ["/bin/app"], "user": "0", "group": "0"});
    merge(&mut a, extra);
    image(json!({ "app": a }))
}

fn pod(extra: Value) -> Value {
    let mut m = json!({"acKind": "PodManifest", "acVersion": "0.8.11",
                       "apps": [{"name": "a", "image": {"id": ID}}]});
    merge(&mut m, extra);
    m
}

fn merge(into: &mut Value, extra: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, extra) {
        a.extend(b);
    }
}

fn img_err(v: Value) -> ManifestError {
    ImageManifest::from_slice(v.to_string().as_bytes()).unwrap_err()
}
fn pod_err(v: Value) -> ManifestError {
    PodManifest::from_slice(v.to_string().as_bytes()).unwrap_err()
}

#[test]
fn minimal_image_and_helpers() {
    let m = ImageManifest::from_slice(app(json!({})).to_string().as_bytes()).unwrap();
    let a = m.app().unwrap();
    assert_eq!(a.exec, ["/bin/app"]);
    assert_eq!(a.working_directory(), "/");
    assert!(m.labels.get("version").is_none());
}

#[test]
fn image_top_level_rules() {
    assert_eq!(
        img_err(image(json!({"acKind": "PodManifest"}))).path(),
        "acKind"
    );
    assert_eq!(img_err(image(json!({"acKind": "Thing"}))).path(), "acKind");
    assert_eq!(
        img_err(image(json!({"acVersion": "0.0.0"}))).path(),
        "acVersion"
    );
    assert_eq!(
        img_err(image(json!({"acVersion": "eight"}))).path(),
        "acVersion"
    );
    assert_eq!(
        img_err(image(json!({"name": "Example.com/App"}))).path(),
        "name"
    );
    assert!(matches!(
        img_err(json!({"acKind": "ImageManifest", "acVersion": "0.8.11"})),
        ManifestError::Decode { .. }
    ));
    assert!(matches!(
        ImageManifest::from_slice(b"{not json"),
        Err(ManifestError::Json { .. })
    ));
    assert!(ImageManifest::from_slice(b"[]").is_err());
    let e = img_err(image(
        json!({"labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "x86_64"}]}),
    ));
    assert_eq!(e.path(), "labels[1].value");
    let e = img_err(image(
        json!({"annotations": [{"name": "homepage", "value": "example.com"}]}),
    ));
    assert_eq!(e.path(), "annotations[0].value");
    let e = img_err(image(json!({"pathWhitelist": ["/etc/a", "usr/bin"]})));
    assert_eq!(e.path(), "pathWhitelist[1]");
}

#[test]
fn dependency_rules() {
    let ok = image(
        json!({"dependencies": [{"imageName": "example.com/base", "imageID": ID, "size": 12,
                                             "labels": [{"name": "os", "value": "linux"}]}]}),
    );
    let m = ImageManifest::from_slice(ok.to_string().as_bytes()).unwrap();
    assert_eq!(m.dependencies[0].size, Some(12));
    assert_eq!(m.dependencies[0].image_id.as_ref().unwrap().as_str(), ID);
    let e = img_err(image(
        json!({"dependencies": [{"imageName": "b", "imageID": "sha512-..."}]}),
    ));
    assert_eq!(e.path(), "dependencies[0].imageID");
    let e = img_err(image(
        json!({"dependencies": [{"imageName": "b", "labels": [{"name": "os", "value": "beos"}]}]}),
    ));
    assert_eq!(e.path(), "dependencies[0].labels[0].value");
    assert_eq!(
        img_err(image(json!({"dependencies": [{"imageID": ID}]}))).path(),
        "dependencies[0]"
    );
}

#[test]
fn app_rules() {
    let cases = [
        (json!({"user": ""}), "app.user"),
        (json!({"group": ""}), "app.group"),
        (
            json!({"workingDirectory": "relative"}),
            "app.workingDirectory",
        ),
        (
            json!({"environment": [{"name": "A", "value": ""}, {"name": "B", "value": ""}, {"name": "1X", "value": ""}]}),
            "app.environment[2].name",
        ),
        (
            json!({"environment": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}),
            "app.environment[1].name",
        ),
        (
            json!({"eventHandlers": [{"name": "pre-start", "exec": ["/a"]}, {"name": "pre-start", "exec": ["/b"]}]}),
            "app.eventHandlers[1].name",
        ),
        (
            json!({"eventHandlers": [{"name": "on-crash", "exec": ["/a"]}]}),
            "app.eventHandlers[0].name",
        ),
        (
            json!({"mountPoints": [{"name": "Data", "path": "/d"}]}),
            "app.mountPoints[0].name",
        ),
        (
            json!({"mountPoints": [{"name": "data", "path": ""}]}),
            "app.mountPoints[0].path",
        ),
        (
            json!({"ports": [{"name": "p", "protocol": "tcp", "port": 0}]}),
            "app.ports[0].port",
        ),
        (
            json!({"ports": [{"name": "p", "protocol": "tcp", "port": 70000}]}),
            "app.ports[0].port",
        ),
        (
            json!({"ports": [{"name": "p", "protocol": "tcp", "port": 65535, "count": 2}]}),
            "app.ports[0].count",
        ),
        (
            json!({"supplementaryGIDs": [-1]}),
            "app.supplementaryGIDs[0]",
        ),
        (
            json!({"isolators": [{"name": "Bad Name", "value": 1}]}),
            "app.isolators[0].name",
        ),
        (
            json!({"isolators": [{"name": "resource/cpu"}]}),
            "app.isolators[0]",
        ),
    ];
    for (extra, path) in cases {
        assert_eq!(img_err(app(extra.clone())).path(), path, "{extra}");
    }
    let e = img_err(image(json!({"app": {"exec": ["/a"], "group": "0"}})));
    assert_eq!(e.path(), "app");
}

#[test]
fn app_fields_read() {
    let m = ImageManifest::from_slice(
        app(json!({
            "supplementaryGids": [5, 6],
            "workingDirectory": "",
            "environment": [{"name": "a.b-c_D", "value": "$HOME"}],
            "eventHandlers": [{"name": "post-stop", "exec": ["/x"]}],
            "ports": [{"name": "p", "protocol": "udp", "port": 65535, "count": 0}],
            "userLabels": {"Key": "Value"},
        }))
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let a = m.app().unwrap();
    assert_eq!(a.supplementary_gids, [5, 6]);
    assert_eq!(a.working_directory, None);
    assert_eq!(a.env("a.b-c_D"), Some("$HOME"));
    assert!(a.event_handler(EventHandlerName::PostStop).is_some());
    assert!(a.event_handler(EventHandlerName::PreStart).is_none());
    assert_eq!(a.ports[0].count, 1, "count 0 means 1, as in Go");
    assert_eq!(a.user_labels["Key"], "Value");
}

#[test]
fn keys_are_case_insensitive_except_in_free_form_maps() {
    let raw = r#"{"ACKind": "ImageManifest", "ACVersion": "0.8.11", "Name": "a",
        "APP": {"Exec": ["/a"], "User": "0", "GROUP": "0", "SupplementaryGids": [1],
                "UserAnnotations": {"MiXed": "KeepMe"},
                "Isolators": [{"Name": "resource/cpu", "Value": {"Limit": "1"}}]},
        "Unknown": {"anything": true}}"#;
    let m = ImageManifest::from_slice(raw.as_bytes()).unwrap();
    let a = m.app().unwrap();
    assert_eq!(a.supplementary_gids, [1]);
    assert_eq!(a.user_annotations["MiXed"], "KeepMe");
    assert_eq!(a.isolators[0].value, json!({"Limit": "1"}));
    let dup = r#"{"acKind": "ImageManifest", "ACKIND": "ImageManifest", "acVersion": "0.8.11", "name": "a"}"#;
    assert!(matches!(
        ImageManifest::from_slice(dup.as_bytes()),
        Err(ManifestError::DuplicateKey { .. })
    ));
    // null is "not given", as in Go.
    let m = ImageManifest::from_slice(
        image(json!({"labels": null, "app": null}))
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert!(m.app.is_none() && m.labels.is_empty());
}

#[test]
fn pod_rules() {
    let two = |a: Value, b: Value| pod(json!({"apps": [a, b]}));
    let app = |n: &str| json!({"name": n, "image": {"id": ID}});
    assert_eq!(pod_err(two(app("a"), app("a"))).path(), "apps[1].name");
    assert_eq!(
        pod_err(pod(
            json!({"apps": [{"name": "a", "image": {"name": "x"}}]})
        ))
        .path(),
        "apps[0].image"
    );
    assert_eq!(
        pod_err(pod(json!({"apps": [{"name": "a_b", "image": {"id": ID}}]}))).path(),
        "apps[0].name"
    );
    assert_eq!(
        pod_err(pod(json!({"acKind": "ImageManifest"}))).path(),
        "acKind"
    );
    let bad_app =
        json!({"name": "a", "image": {"id": ID}, "app": {"exec": [], "user": "", "group": "0"}});
    assert_eq!(
        pod_err(pod(json!({"apps": [bad_app]}))).path(),
        "apps[0].app.user"
    );
    let bad_mount = json!({"name": "a", "image": {"id": ID},
        "mounts": [{"volume": "v", "path": "/v", "appVolume": {"name": "v", "kind": "host"}}]});
    assert_eq!(
        pod_err(pod(json!({"apps": [bad_mount]}))).path(),
        "apps[0].mounts[0].appVolume.source"
    );
    let bad_labels =
        json!({"name": "a", "image": {"id": ID, "labels": [{"name": "name", "value": "x"}]}});
    assert_eq!(
        pod_err(pod(json!({"apps": [bad_labels]}))).path(),
        "apps[0].image.labels[0].name"
    );
    let vol = |v: Value| pod(json!({ "volumes": [{"name": "ok", "kind": "empty"}, v] }));
    let cases = [
        (json!({"name": "ok", "kind": "empty"}), "volumes[1].name"),
        (json!({"name": "h", "kind": "host"}), "volumes[1].source"),
        (
            json!({"name": "h", "kind": "host", "source": "rel"}),
            "volumes[1].source",
        ),
        (
            json!({"name": "h", "kind": "host", "source": "/a", "gid": 1}),
            "volumes[1].gid",
        ),
        (
            json!({"name": "e", "kind": "empty", "source": "/a"}),
            "volumes[1].source",
        ),
        (
            json!({"name": "e", "kind": "empty", "recursive": true}),
            "volumes[1].recursive",
        ),
        (
            json!({"name": "e", "kind": "empty", "mode": "rwx"}),
            "volumes[1].mode",
        ),
        (json!({"name": "e", "kind": "tmpfs"}), "volumes[1].kind"),
    ];
    for (v, path) in cases {
        assert_eq!(pod_err(vol(v.clone())).path(), path, "{v}");
    }
    let ports = |p: Value| pod(json!({ "ports": p }));
    assert_eq!(
        pod_err(ports(
            json!([{"name": "p", "hostPort": 80}, {"name": "p", "hostPort": 81}])
        ))
        .path(),
        "ports[1].name"
    );
    assert_eq!(
        pod_err(ports(
            json!([{"name": "p", "hostPort": 80, "hostIP": "::1"}])
        ))
        .path(),
        "ports[0].hostIP"
    );
    let pp = json!([{"name": "p", "hostPort": 80, "podPort": {"name": "p", "port": 65000, "count": 600}}]);
    assert_eq!(pod_err(ports(pp)).path(), "ports[0].podPort.count");
    assert_eq!(
        pod_err(pod(json!({"isolators": [{"name": "x", "value": null}]}))).path(),
        "isolators[0]"
    );
}

#[test]
fn pod_fields_read() {
    let p = PodManifest::from_slice(
        pod(json!({
            "apps": [{"name": "a", "image": {"id": ID}, "readonlyRootFs": true,
                      "mounts": [{"volume": "v", "path": "/v"}]}],
            "volumes": [{"name": "v", "kind": "empty"}, {"name": "h", "kind": "host", "source": "/srv"}],
            "ports": [{"name": "http", "hostPort": 8080, "hostIP": "127.0.0.1"}],
        }))
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let a = p.app("a").unwrap();
    assert!(a.read_only_root_fs);
    assert!(p.app("b").is_none());
    let v = p.volume("v").unwrap();
    assert_eq!(
        (v.kind, v.mode(), v.uid(), v.gid()),
        (VolumeKind::Empty, "0755", 0, 0)
    );
    assert!(p.volume("h").unwrap().recursive());
    assert_eq!(p.ports[0].host_ip, Some(std::net::Ipv4Addr::LOCALHOST));
}

#[test]
fn writing_refuses_invalid_and_is_canonical() {
    let mut m = ImageManifest::from_slice(
        app(json!({"ports": [{"name": "p", "protocol": "tcp", "port": 1}]}))
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let text = String::from_utf8(m.to_vec().unwrap()).unwrap();
    assert!(
        text.starts_with(
            r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app","app":{"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#""ports":[{"name":"p","protocol":"tcp","port":1}]"#),
        "{text}"
    );
    m.path_whitelist.push("relative".into());
    assert_eq!(m.to_vec().unwrap_err().path(), "pathWhitelist[0]");
    let p = PodManifest::new();
    let text = p.to_string_pretty().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"acVersion": "0.8.11", "acKind": "PodManifest", "apps": []})
    );
}
