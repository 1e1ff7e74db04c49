//! The registered pods, keyed by token. What a pod is served is read from its directory once,
//! at registration; only `net-info.json` (written by stage1 after registration) is read per
//! request, to check the caller's address.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use aci::manifest::Uuid;
use serde_json::Value;

use super::{MetadataError, Result, TOKEN_FILE, io_err};
use crate::pod::{Pod, PodDir, Pods};

/// One app's served data.
#[derive(Debug, Clone)]
pub struct AppData {
    /// `appsinfo/<app>/manifest` as stored: the original image manifest.
    pub image_manifest: Vec<u8>,
    /// The pod manifest's `image.id` for the app, byte for byte.
    pub image_id: String,
    /// Image annotations merged with the pod app's (JSON).
    pub annotations: Vec<u8>,
}

/// One registered pod.
#[derive(Debug, Clone)]
pub struct PodData {
    pub uuid: Uuid,
    /// The `pod` file as stored: the reified manifest.
    pub manifest: Vec<u8>,
    /// The manifest's `annotations` value (`null` when absent).
    pub annotations: Vec<u8>,
    pub apps: BTreeMap<String, AppData>,
}

/// The registry: pods by token, and where to find them.
#[derive(Debug)]
pub struct Registry {
    pods: Pods,
    by_token: HashMap<String, PodData>,
}

fn pod_err(uuid: impl ToString, problem: impl Into<String>) -> MetadataError {
    MetadataError::Pod {
        uuid: uuid.to_string(),
        problem: problem.into(),
    }
}

impl Registry {
    pub fn new(data_dir: &Path) -> Result<Registry> {
        Ok(Registry {
            pods: Pods::new(data_dir)?,
            by_token: HashMap::new(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        self.pods.data_dir()
    }

    /// Registers (again) every pod in `run` that has a token; returns how many. A pod that
    /// cannot be read is skipped with a warning: it must not keep the others unserved.
    pub fn rescan(&mut self) -> Result<usize> {
        let mut n = 0;
        for uuid in self.pods.uuids(&[PodDir::Run])? {
            let has_token = self
                .pods
                .state_dir(PodDir::Run)
                .join(uuid.to_string())
                .join(TOKEN_FILE)
                .exists();
            if !has_token {
                continue;
            }
            match self.register(&uuid.to_string()) {
                Ok(()) => n += 1,
                Err(e) => tracing::warn!("metadata service: skipping pod {uuid}: {e}"),
            }
        }
        Ok(n)
    }

    /// Registers the pod `uuid` (found in this registry's data dir).
    pub fn register(&mut self, uuid: &str) -> Result<()> {
        let parsed: Uuid = uuid.parse().map_err(|_| pod_err(uuid, "not a pod UUID"))?;
        let pod = Pod::open_uuid(&self.pods, parsed).map_err(|_| {
            pod_err(
                uuid,
                format!(
                    "no such pod under {}: the metadata service must use the same --dir as rkt",
                    self.pods.data_dir().display()
                ),
            )
        })?;
        let dir = pod.path();
        let token = read_token(&dir)?;
        let data = load_pod(&dir, parsed)?;
        self.by_token.retain(|_, p| p.uuid != parsed);
        self.by_token.insert(token, data);
        tracing::info!("metadata service: registered pod {parsed}");
        Ok(())
    }

    /// Forgets the pod `uuid`; true when it was registered.
    pub fn deregister(&mut self, uuid: &str) -> bool {
        let before = self.by_token.len();
        self.by_token.retain(|_, p| p.uuid.to_string() != uuid);
        before != self.by_token.len()
    }

    /// The pod a request with `token` from `peer` may read. `None` for an unknown token, or a
    /// peer that is not one of the pod's addresses when the pod has a network of its own.
    pub fn lookup(&self, token: &str, peer: Option<IpAddr>) -> Option<&PodData> {
        let data = self.by_token.get(token)?;
        let addrs = self.pod_addresses(data.uuid);
        match peer {
            Some(ip) if !addrs.is_empty() && !addrs.contains(&ip) => None,
            _ => Some(data),
        }
    }

    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    /// The pod's addresses from `net-info.json`; empty without one (`--net=host`).
    fn pod_addresses(&self, uuid: Uuid) -> Vec<IpAddr> {
        let Ok(pod) = Pod::open_uuid(&self.pods, uuid) else {
            return Vec::new();
        };
        let Ok(bytes) = std::fs::read(pod.path().join("net-info.json")) else {
            return Vec::new();
        };
        let Ok(Value::Array(nets)) = serde_json::from_slice::<Value>(&bytes) else {
            return Vec::new();
        };
        nets.iter()
            .filter_map(|n| n.get("ip")?.as_str()?.parse().ok())
            .collect()
    }
}

fn read_token(dir: &Path) -> Result<String> {
    let path = dir.join(TOKEN_FILE);
    let token = std::fs::read_to_string(&path).map_err(io_err("read", &path))?;
    let token = token.trim().to_string();
    if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(MetadataError::Io {
            action: "use the token in",
            path,
            source: std::io::Error::other("not a token of at least 128 bits"),
        });
    }
    Ok(token)
}

fn read_json(path: &Path) -> Result<(Vec<u8>, Value)> {
    let bytes = std::fs::read(path).map_err(io_err("read", path))?;
    let value = serde_json::from_slice(&bytes).map_err(|e| MetadataError::Io {
        action: "parse",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    Ok((bytes, value))
}

/// Reads what the pod in `dir` is served.
pub fn load_pod(dir: &Path, uuid: Uuid) -> Result<PodData> {
    let (manifest, pod) = read_json(&dir.join("pod"))?;
    let annotations = pod.get("annotations").cloned().unwrap_or(Value::Null);
    let mut apps = BTreeMap::new();
    let Some(list) = pod.get("apps").and_then(Value::as_array) else {
        return Err(pod_err(uuid, "its manifest has no apps"));
    };
    for app in list {
        let name = app
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| pod_err(uuid, "an app of its manifest has no name"))?;
        let image_id = app
            .pointer("/image/id")
            .and_then(Value::as_str)
            .ok_or_else(|| pod_err(uuid, format!("app {name} has no image id")))?;
        let path: PathBuf = dir.join("appsinfo").join(name).join("manifest");
        let (image_manifest, image) = read_json(&path)?;
        let merged = merge_annotations(
            image.get("annotations").unwrap_or(&Value::Null),
            app.get("annotations").unwrap_or(&Value::Null),
        );
        apps.insert(
            name.to_string(),
            AppData {
                image_manifest,
                image_id: image_id.to_string(),
                annotations: merged.to_string().into_bytes(),
            },
        );
    }
    Ok(PodData {
        uuid,
        manifest,
        annotations: annotations.to_string().into_bytes(),
        apps,
    })
}

/// appc's merge: the image's annotations in order, a pod one with the same name replacing the
/// value in place, new pod ones appended in their order. `null` when neither side has a list.
pub fn merge_annotations(image: &Value, pod: &Value) -> Value {
    if image.is_null() && pod.is_null() {
        return Value::Null;
    }
    let mut out: Vec<Value> = image.as_array().cloned().unwrap_or_default();
    for a in pod.as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = a.get("name");
        match out.iter_mut().find(|o| o.get("name") == name) {
            Some(slot) => *slot = a.clone(),
            None => out.push(a.clone()),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_order_replaces_in_place_appends_new() {
        let image = json!([{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]);
        let pod = json!([{"name": "c", "value": "3"}, {"name": "a", "value": "9"}]);
        assert_eq!(
            merge_annotations(&image, &pod),
            json!([
                {"name": "a", "value": "9"},
                {"name": "b", "value": "2"},
                {"name": "c", "value": "3"}
            ])
        );
    }

    #[test]
    fn merge_of_nothing_is_null_and_of_one_side_is_that_side() {
        assert_eq!(merge_annotations(&Value::Null, &Value::Null), Value::Null);
        let one = json!([{"name": "x", "value": "y"}]);
        assert_eq!(merge_annotations(&Value::Null, &one), one);
        assert_eq!(merge_annotations(&one, &Value::Null), one);
        assert_eq!(merge_annotations(&json!([]), &Value::Null), json!([]));
    }

    fn pod_dir(root: &Path) -> PathBuf {
        let dir = root.join("pod");
        std::fs::create_dir_all(dir.join("appsinfo/web")).unwrap();
        std::fs::write(
            dir.join("pod"),
            r#"{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"web","image":{"id":"sha512-ab"},"annotations":[{"name":"k","value":"pod"}]}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("appsinfo/web/manifest"),
            r#"{"acKind":"ImageManifest","name":"x","annotations":[{"name":"k","value":"img"},{"name":"j","value":"1"}]}"#,
        )
        .unwrap();
        dir
    }

    #[test]
    fn load_pod_serves_files_as_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = pod_dir(tmp.path());
        let uuid = Uuid::from_bytes([7; 16]);
        let data = load_pod(&dir, uuid).unwrap();
        assert_eq!(data.manifest, std::fs::read(dir.join("pod")).unwrap());
        assert_eq!(data.annotations, b"null");
        let web = &data.apps["web"];
        assert_eq!(web.image_id, "sha512-ab");
        assert_eq!(
            web.image_manifest,
            std::fs::read(dir.join("appsinfo/web/manifest")).unwrap()
        );
        assert_eq!(
            String::from_utf8(web.annotations.clone()).unwrap(),
            r#"[{"name":"k","value":"pod"},{"name":"j","value":"1"}]"#
        );
    }

    #[test]
    fn short_tokens_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(TOKEN_FILE), "abc").unwrap();
        assert!(read_token(tmp.path()).is_err());
        std::fs::write(tmp.path().join(TOKEN_FILE), "a".repeat(64)).unwrap();
        assert_eq!(read_token(tmp.path()).unwrap(), "a".repeat(64));
    }
}
