use super::super::args::{Command, parse};
use super::*;

fn image(name: &str, app: Option<serde_json::Value>) -> ImageManifest {
    let mut m = serde_json::json!({
        "acKind": "ImageManifest", "acVersion": "0.8.11", "name": name,
        "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}],
        "annotations": [{"name": "example.com/img", "value": "1"}]
    });
    if let Some(app) = app {
        m["app"] = app;
    }
    ImageManifest::from_slice(m.to_string().as_bytes()).unwrap()
}

fn std_app() -> serde_json::Value {
    serde_json::json!({
        "exec": ["/bin/app", "--image-arg"], "user": "0", "group": "0",
        "workingDirectory": "/img",
        "environment": [
            {"name": "IMG", "value": "image"}, {"name": "HOST", "value": "image"},
            {"name": "FILE", "value": "image"}, {"name": "SET", "value": "image"},
            {"name": "APP", "value": "image"}
        ],
        "isolators": [
            {"name": "resource/memory", "value": {"limit": "1G"}},
            {"name": "os/linux/cpu-shares", "value": 10}
        ]
    })
}

fn id(n: u8) -> ImageId {
    ImageId::new(format!("sha512-{}", format!("{n:02x}").repeat(64))).unwrap()
}

fn generate(cmdline: &str, images: &[&ImageManifest], env: &EnvLayers) -> Result<PodManifest> {
    let argv: Vec<String> = cmdline.split_whitespace().map(String::from).collect();
    let args = parse(Command::Run, &argv).unwrap();
    let inputs: Vec<AppInput> = args
        .apps
        .iter()
        .zip(images)
        .enumerate()
        .map(|(i, (a, m))| AppInput {
            flags: &a.flags,
            image: m,
            id: id(i as u8),
        })
        .collect();
    pod_manifest(&inputs, &args.pod, env, (7, 8))
}

fn env_of(app: &App) -> Vec<(String, String)> {
    app.environment
        .iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}

#[test]
fn env_precedence() {
    let img = image("example.com/web", Some(std_app()));
    let layers = EnvLayers {
        inherited: vec![
            ("HOST".into(), "host".into()),
            ("ONLYHOST".into(), "host".into()),
        ],
        files: vec![
            ("FILE".into(), "file".into()),
            ("SET".into(), "file".into()),
        ],
        set_env: vec![("SET".into(), "set".into()), ("APP".into(), "set".into())],
    };
    let pm = generate("a --environment=APP=app", &[&img], &layers).unwrap();
    let env = env_of(pm.apps[0].app.as_ref().unwrap());
    let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("ONLYHOST"), Some("host"));
    assert_eq!(get("HOST"), Some("image"), "image beats inherited");
    assert_eq!(get("IMG"), Some("image"));
    assert_eq!(get("FILE"), Some("file"), "env file beats image");
    assert_eq!(get("SET"), Some("set"), "--set-env beats env file");
    assert_eq!(get("APP"), Some("app"), "--environment beats --set-env");
    assert_eq!(env.len(), 6, "each name once: {env:?}");
}

#[test]
fn exec_and_args_like_rkt() {
    let img = image("example.com/web", Some(std_app()));
    let exec = |cmd: &str| {
        generate(cmd, &[&img], &EnvLayers::default()).unwrap().apps[0]
            .app
            .clone()
            .unwrap()
            .exec
    };
    assert_eq!(exec("a"), ["/bin/app", "--image-arg"]);
    assert_eq!(exec("a -- x y"), ["/bin/app", "--image-arg", "x", "y"]);
    assert_eq!(exec("a --exec=/bin/other"), ["/bin/other"]);
    assert_eq!(exec("a --exec=/bin/other -- x"), ["/bin/other", "x"]);
}

#[test]
fn overrides_and_runtime_fields() {
    let img = image("example.com/my_web.app", Some(std_app()));
    let pm = generate(
        "a --user=u --group=g --supplementary-gids=4,5 --working-dir=/w --readonly-rootfs \
         --mount=volume=data,target=/d --annotation=example.com/x=y --user-annotation=ua=1 \
         --user-label=ul=2 --memory=64M --volume=data,kind=empty --port=http:80",
        &[&img],
        &EnvLayers::default(),
    )
    .unwrap();
    let ra = &pm.apps[0];
    assert_eq!(ra.name.as_str(), "my-web-app");
    assert_eq!(
        ra.image.name.as_ref().unwrap().as_str(),
        "example.com/my_web.app"
    );
    assert_eq!(ra.image.id, id(0));
    assert_eq!(ra.image.labels.get("os"), Some("linux"));
    assert!(ra.read_only_root_fs);
    assert_eq!(ra.mounts[0].volume.as_str(), "data");
    assert_eq!(ra.mounts[0].path, "/d");
    assert_eq!(ra.annotations.get("example.com/x"), Some("y"));
    assert_eq!(ra.annotations.get("example.com/img"), Some("1"));
    let app = ra.app.as_ref().unwrap();
    assert_eq!(app.user, "u");
    assert_eq!(app.group, "g");
    assert_eq!(app.supplementary_gids, [4, 5]);
    assert_eq!(app.working_directory.as_deref(), Some("/w"));
    assert_eq!(app.user_annotations["ua"], "1");
    assert_eq!(app.user_labels["ul"], "2");
    let mem: Vec<_> = app
        .isolators
        .iter()
        .filter(|i| i.name.as_str() == "resource/memory")
        .collect();
    assert_eq!(
        mem.len(),
        1,
        "the flag replaces the image's memory isolator"
    );
    assert_eq!(mem[0].value["limit"], "64M");
    assert!(
        app.isolators
            .iter()
            .any(|i| i.name.as_str() == "os/linux/cpu-shares")
    );
    assert_eq!(pm.volumes[0].name.as_str(), "data");
    assert_eq!(pm.ports[0].host_port, 80);
    // What is written reads back the same.
    let bytes = pm.to_vec().unwrap();
    assert_eq!(PodManifest::from_slice(&bytes).unwrap(), pm);
}

#[test]
fn flags_without_override_keep_the_image_values() {
    let img = image("example.com/web", Some(std_app()));
    let pm = generate("a", &[&img], &EnvLayers::default()).unwrap();
    let app = pm.apps[0].app.as_ref().unwrap();
    assert_eq!(app.user, "0");
    assert_eq!(app.working_directory.as_deref(), Some("/img"));
    assert_eq!(app.isolators.len(), 2);
    assert!(!pm.apps[0].read_only_root_fs);
}

#[test]
fn app_names() {
    let a = image("example.com/web", Some(std_app()));
    let b = image("other.org/web", Some(std_app()));
    let e = generate("x y", &[&a, &b], &EnvLayers::default()).unwrap_err();
    assert!(matches!(e, ManifestGenError::DuplicateApp { .. }), "{e}");
    assert!(e.to_string().contains("--name"), "{e}");
    let pm = generate("x y --name=web2", &[&a, &b], &EnvLayers::default()).unwrap();
    assert_eq!(pm.apps[1].name.as_str(), "web2");
}

#[test]
fn image_without_app() {
    let img = image("example.com/data", None);
    let e = generate("a", &[&img], &EnvLayers::default()).unwrap_err();
    assert!(matches!(e, ManifestGenError::NoApp { .. }), "{e}");
    let pm = generate("a --exec=/bin/true -- x", &[&img], &EnvLayers::default()).unwrap();
    let app = pm.apps[0].app.as_ref().unwrap();
    assert_eq!(app.exec, ["/bin/true", "x"]);
    assert_eq!((app.user.as_str(), app.group.as_str()), ("7", "8"));
}

#[test]
fn env_files() {
    let parsed = parse_env_file("# c\n\nA=1\n  B=x=y\nnoequals\n=bad\nC=\n");
    assert_eq!(
        parsed,
        vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "x=y".to_string()),
            ("C".to_string(), String::new())
        ]
    );
}
