//! An image configuration mapped to an appc image manifest, as rkt's docker2aci did:
//! `exec` = Entrypoint + Cmd, Env, WorkingDir, User (`name`, `uid`, `uid:gid`, `name:group`),
//! ExposedPorts as ports named `<port>-<proto>`, Volumes as mount points `volume-<path>`, and
//! annotations `appc.io/docker/{registryurl,repository,tag,imageid,entrypoint,cmd}` plus one
//! `appc.io/docker/label/<key>` per image label. Our own annotations list the layers:
//! [`LAYERS_ANNOTATION`] (diff IDs, bottom first) and [`BLOBS_ANNOTATION`] (their blobs).

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use rustix::fs::OFlags;
use serde_json::{Value, json};

use super::OciError;
use super::unpack::open_beneath;

pub const LAYERS_ANNOTATION: &str = "rkt-rs.dev/oci/layers";
pub const BLOBS_ANNOTATION: &str = "rkt-rs.dev/oci/blobs";
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Naming and provenance of a converted image.
#[derive(Debug, Clone, Default)]
pub struct Naming {
    /// The appc name (sanitized by [`ac_identifier`]).
    pub name: String,
    /// The `version` label (the tag).
    pub version: String,
    pub registry: Option<String>,
    pub repository: Option<String>,
    pub config_digest: String,
}

/// Lowercase, and every character appc does not allow in an identifier becomes `-`.
pub fn ac_identifier(s: &str) -> String {
    let out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' | '/' => c,
            _ => '-',
        })
        .collect();
    let out = out
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if out.is_empty() { "image".into() } else { out }
}

fn ac_name(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_ascii_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches('-').to_string()
}

/// The manifest JSON for an image with `config`, whose layer trees are `trees` (top first).
pub fn manifest(
    config: &ImageConfiguration,
    naming: &Naming,
    layers: &[(String, String)],
    trees: &[PathBuf],
) -> Result<Vec<u8>, OciError> {
    let mut annotations = vec![
        ann(
            LAYERS_ANNOTATION,
            layers
                .iter()
                .map(|l| l.0.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ann(
            BLOBS_ANNOTATION,
            layers
                .iter()
                .map(|l| l.1.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ann("appc.io/docker/imageid", naming.config_digest.clone()),
        ann("appc.io/docker/tag", naming.version.clone()),
    ];
    if let Some(r) = &naming.registry {
        annotations.push(ann("appc.io/docker/registryurl", r.clone()));
    }
    if let Some(r) = &naming.repository {
        annotations.push(ann("appc.io/docker/repository", r.clone()));
    }
    let mut app = None;
    if let Some(c) = config.config() {
        let entrypoint = c.entrypoint().clone().unwrap_or_default();
        let cmd = c.cmd().clone().unwrap_or_default();
        annotations.push(ann(
            "appc.io/docker/entrypoint",
            json!(entrypoint).to_string(),
        ));
        annotations.push(ann("appc.io/docker/cmd", json!(cmd).to_string()));
        let mut labels: Vec<_> = c.labels().clone().unwrap_or_default().into_iter().collect();
        labels.sort();
        for (k, v) in labels {
            annotations.push(ann(
                &format!("appc.io/docker/label/{}", ac_identifier(&k)),
                v,
            ));
        }
        let env: Vec<(String, String)> = c
            .env()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect();
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
        let mut exec: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if let Some(first) = exec.first_mut()
            && !first.starts_with('/')
            && let Some(found) = find_in_path(trees, path, first)
        {
            *first = found;
        }
        let (user, group) = user_group(c.user().as_deref().unwrap_or(""), trees);
        let ports: Vec<Value> = c
            .exposed_ports()
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| port(p))
            .collect();
        let mounts: Vec<Value> = c
            .volumes()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|v| json!({"name": format!("volume-{}", ac_name(v)).trim_end_matches('-'), "path": v}))
            .collect();
        let mut a = json!({
            "exec": exec,
            "user": user,
            "group": group,
            "environment": env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "mountPoints": mounts,
            "ports": ports,
        });
        if let Some(wd) = c.working_dir().as_deref().filter(|w| !w.is_empty()) {
            a["workingDirectory"] = json!(wd);
        }
        app = Some(a);
    }
    let mut m = json!({
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": naming.name,
        "labels": [
            {"name": "version", "value": naming.version},
            {"name": "os", "value": "linux"},
            {"name": "arch", "value": "amd64"},
        ],
        "annotations": annotations,
    });
    if let Some(a) = app {
        m["app"] = a;
    }
    let bytes = serde_json::to_vec(&m).map_err(|e| OciError::Config(e.to_string()))?;
    // Validate through the appc types, and store their canonical form.
    let parsed = aci::manifest::ImageManifest::from_slice(&bytes)
        .map_err(|e| OciError::Config(format!("the derived appc manifest is invalid: {e}")))?;
    parsed.to_vec().map_err(|e| OciError::Config(e.to_string()))
}

fn ann(name: &str, value: String) -> Value {
    json!({"name": name, "value": value})
}

/// `80/tcp` → a port named `80-tcp`.
fn port(spec: &str) -> Option<Value> {
    let (num, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let n: u16 = num.parse().ok()?;
    let proto = proto.to_ascii_lowercase();
    Some(json!({"name": format!("{n}-{proto}"), "protocol": proto, "port": n}))
}

/// Open the topmost version of `rel` among the layer trees (top first); None when absent or
/// whited out.
fn open_layered(trees: &[PathBuf], rel: &Path, flags: OFlags) -> Option<std::fs::File> {
    use std::os::unix::fs::FileTypeExt;
    for t in trees {
        if let Ok(fd) = open_beneath(t, rel, OFlags::PATH) {
            let meta = std::fs::File::from(fd).metadata().ok()?;
            if meta.file_type().is_char_device() && meta.len() == 0 {
                return None;
            }
            return open_beneath(t, rel, flags).ok().map(std::fs::File::from);
        }
    }
    None
}

fn find_in_path(trees: &[PathBuf], path: &str, name: &str) -> Option<String> {
    if name.contains('/') {
        return None;
    }
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let full = format!("{}/{name}", dir.trim_end_matches('/'));
        let rel = Path::new(full.trim_start_matches('/'));
        if open_layered(trees, rel, OFlags::PATH).is_some() {
            return Some(full);
        }
    }
    None
}

/// Docker's `User` as appc's user and group. A name without a group gets its primary group
/// from the image's `/etc/passwd`; anything unresolvable falls back to 0.
fn user_group(user: &str, trees: &[PathBuf]) -> (String, String) {
    if user.is_empty() {
        return ("0".into(), "0".into());
    }
    if let Some((u, g)) = user.split_once(':') {
        return (u.to_string(), g.to_string());
    }
    if user.parse::<u32>().is_ok() {
        return (user.to_string(), "0".into());
    }
    let gid = open_layered(trees, Path::new("etc/passwd"), OFlags::RDONLY)
        .and_then(|mut f| {
            let mut s = String::new();
            f.by_ref().take(1 << 20).read_to_string(&mut s).ok()?;
            s.lines().find_map(|l| {
                let fields: Vec<&str> = l.split(':').collect();
                (fields.len() > 3 && fields[0] == user).then(|| fields[3].to_string())
            })
        })
        .unwrap_or_else(|| "0".into());
    (user.to_string(), gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> ImageConfiguration {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn maps_docker_config_like_docker2aci() {
        let c = config(
            r#"{"architecture":"amd64","os":"linux",
               "config":{"User":"1000:1001","Env":["PATH=/bin","A=b=c"],
               "Entrypoint":["/bin/app"],"Cmd":["--x"],"WorkingDir":"/srv",
               "ExposedPorts":{"80/tcp":{},"53/udp":{}},"Volumes":{"/data/db":{}},
               "Labels":{"Maintainer":"me"}},
               "rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        let naming = Naming {
            name: ac_identifier("127.0.0.1:5000/a/b"),
            version: "v1".into(),
            registry: Some("127.0.0.1:5000".into()),
            repository: Some("a/b".into()),
            config_digest: "sha256:00".into(),
        };
        let bytes = manifest(
            &c,
            &naming,
            &[("sha256:aa".into(), "sha256:bb".into())],
            &[],
        )
        .unwrap();
        let m = aci::manifest::ImageManifest::from_slice(&bytes).unwrap();
        assert_eq!(m.name.as_str(), "127.0.0.1-5000/a/b");
        let app = m.app.clone().unwrap();
        assert_eq!(app.exec, vec!["/bin/app", "--x"]);
        assert_eq!((app.user.as_str(), app.group.as_str()), ("1000", "1001"));
        assert_eq!(app.working_directory.as_deref(), Some("/srv"));
        let ports: Vec<_> = app
            .ports
            .iter()
            .map(|p| (p.name.as_str().to_string(), p.port))
            .collect();
        assert!(ports.contains(&("80-tcp".into(), 80)));
        assert!(ports.contains(&("53-udp".into(), 53)));
        assert_eq!(app.mount_points[0].name.as_str(), "volume-data-db");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("appc.io/docker/label/maintainer"));
        assert!(text.contains("A"), "{text}");
        assert!(text.contains(r#""sha256:aa""#));
    }

    #[test]
    fn user_forms() {
        assert_eq!(user_group("", &[]), ("0".into(), "0".into()));
        assert_eq!(user_group("5", &[]), ("5".into(), "0".into()));
        assert_eq!(user_group("a:b", &[]), ("a".into(), "b".into()));
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "svc:x:7:9::/:/bin/sh\n").unwrap();
        assert_eq!(
            user_group("svc", &[d.path().to_path_buf()]),
            ("svc".into(), "9".into())
        );
    }
}
