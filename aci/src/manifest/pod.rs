//! The pod manifest (`acKind: "PodManifest"`, spec/pods.md), volumes and the rkt `--volume`
//! command line syntax.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::image::{App, Port};
use super::values::{AcKind, AcVersion, Annotations, Isolator, Labels, validate_isolators};
use super::{ManifestError, decode, encode, index, join, keys};
use crate::types::{AcIdentifier, AcName, ImageId};

/// A pod manifest. Fields are in spec order; that is the order they are written in. Empty
/// lists are omitted when written (Go writes `null`; both mean "none").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodManifest {
    pub ac_version: AcVersion,
    pub ac_kind: AcKind,
    /// Always written, even empty: the one list the spec calls required.
    #[serde(default)]
    pub apps: Vec<RuntimeApp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isolators: Vec<Isolator>,
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ExposedPort>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
}

/// One app of a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeApp {
    pub name: AcName,
    pub image: RuntimeImage,
    /// Replaces the image's `app` wholesale when present (no merging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<App>,
    #[serde(rename = "readOnlyRootFS", default, skip_serializing_if = "is_false")]
    pub read_only_root_fs: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
}

/// The image a pod app runs. The `id` is required: a pod manifest is the reified form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeImage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<AcIdentifier>,
    pub id: ImageId,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

/// Binds a volume to a path in one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub volume: AcName,
    pub path: String,
    /// An inline volume that takes the place of looking `volume` up in the pod's volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_volume: Option<Volume>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeKind {
    /// A host directory bind-mounted in.
    Host,
    /// A fresh directory the executor creates and deletes with the pod.
    Empty,
}

/// A pod volume. `mode`, `uid` and `gid` apply to `empty` volumes only, `source` and
/// `recursive` to `host` volumes only; see the accessors for defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: AcName,
    pub kind: VolumeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// A pod port published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposedPort {
    /// Matches an app's port name.
    pub name: AcName,
    #[serde(rename = "hostPort")]
    pub host_port: u16,
    /// Host address to bind; `None` means all.
    #[serde(rename = "hostIP", default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<Ipv4Addr>,
    /// Overrides looking the port up in the apps by name.
    #[serde(rename = "podPort", default, skip_serializing_if = "Option::is_none")]
    pub pod_port: Option<Port>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl PodManifest {
    /// An empty pod at the current spec version.
    pub fn new() -> Self {
        PodManifest {
            ac_version: AcVersion::current(),
            ac_kind: AcKind::PodManifest,
            apps: Vec::new(),
            volumes: Vec::new(),
            isolators: Vec::new(),
            annotations: Annotations::default(),
            ports: Vec::new(),
            user_annotations: BTreeMap::new(),
            user_labels: BTreeMap::new(),
        }
    }

    /// Read and validate a pod manifest (lenient keys, strict values; see the module docs).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ManifestError> {
        let m: PodManifest = decode(bytes, &keys::POD, AcKind::PodManifest)?;
        m.validate()?;
        Ok(m)
    }

    /// Canonical compact JSON; refuses an invalid manifest.
    pub fn to_vec(&self) -> Result<Vec<u8>, ManifestError> {
        self.validate()?;
        encode(self, false)
    }

    /// Canonical indented JSON; refuses an invalid manifest.
    pub fn to_string_pretty(&self) -> Result<String, ManifestError> {
        self.validate()?;
        let v = encode(self, true)?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }

    /// The pod app called `name`.
    pub fn app(&self, name: &str) -> Option<&RuntimeApp> {
        self.apps.iter().find(|a| a.name.as_str() == name)
    }

    /// The pod volume called `name`.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name.as_str() == name)
    }

    /// Check every rule of the spec; errors name the field path.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.ac_kind != AcKind::PodManifest {
            return Err(ManifestError::invalid(
                "acKind",
                format!("{:?}", self.ac_kind),
                "must be PodManifest",
            ));
        }
        for (i, a) in self.apps.iter().enumerate() {
            let p = index("apps", i);
            if self.apps[..i].iter().any(|o| o.name == a.name) {
                return Err(ManifestError::invalid(
                    join(&p, "name"),
                    a.name.as_str(),
                    "app names must be unique in a pod",
                ));
            }
            a.validate(&p)?;
        }
        for (i, v) in self.volumes.iter().enumerate() {
            let p = index("volumes", i);
            if self.volumes[..i].iter().any(|o| o.name == v.name) {
                return Err(ManifestError::invalid(
                    join(&p, "name"),
                    v.name.as_str(),
                    "volume names must be unique",
                ));
            }
            v.validate(&p)?;
        }
        validate_isolators(&self.isolators, "isolators")?;
        self.annotations.validate("annotations")?;
        for (i, port) in self.ports.iter().enumerate() {
            let p = index("ports", i);
            if self.ports[..i].iter().any(|o| o.name == port.name) {
                return Err(ManifestError::invalid(
                    join(&p, "name"),
                    port.name.as_str(),
                    "port names must be unique",
                ));
            }
            if let Some(pp) = &port.pod_port {
                pp.validate(&join(&p, "podPort"))?;
            }
        }
        Ok(())
    }
}

impl Default for PodManifest {
    fn default() -> Self {
        PodManifest::new()
    }
}

impl RuntimeApp {
    fn validate(&self, path: &str) -> Result<(), ManifestError> {
        self.image.labels.validate(&join(path, "image.labels"))?;
        if let Some(app) = &self.app {
            app.validate(&join(path, "app"))?;
        }
        for (i, m) in self.mounts.iter().enumerate() {
            let p = index(&join(path, "mounts"), i);
            if m.path.is_empty() {
                return Err(ManifestError::invalid(
                    join(&p, "path"),
                    "",
                    "a mount needs a path",
                ));
            }
            if let Some(v) = &m.app_volume {
                v.validate(&join(&p, "appVolume"))?;
            }
        }
        self.annotations.validate(&join(path, "annotations"))
    }
}

mod volume;
