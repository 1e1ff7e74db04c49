//! The image manifest (`acKind: "ImageManifest"`, spec/aci.md) and its `app` section.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::values::{AcKind, AcVersion, Annotations, Isolator, Labels, validate_isolators};
use super::{ManifestError, decode, encode, index, is_abs, join, keys};
use crate::types::{AcIdentifier, AcName, ImageId};

/// An image manifest. Fields are in spec order; that is the order they are written in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub ac_kind: AcKind,
    pub ac_version: AcVersion,
    pub name: AcIdentifier,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<App>,
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_whitelist: Vec<String>,
}

/// An image this one is layered on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    #[serde(rename = "imageName")]
    pub image_name: AcIdentifier,
    #[serde(rename = "imageID", default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<ImageId>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// Expected size in bytes; an executor stops reading past it (endless-data defence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// How to run an image's app (also the whole-replacement `app` of a pod app).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    #[serde(default)]
    pub exec: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_handlers: Vec<EventHandler>,
    pub user: String,
    pub group: String,
    #[serde(
        rename = "supplementaryGIDs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supplementary_gids: Vec<u32>,
    /// `None` means `/`. An empty string reads as `None` (Go treats them alike).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub working_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isolators: Vec<Isolator>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// When an event handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventHandlerName {
    #[serde(rename = "pre-start")]
    PreStart,
    #[serde(rename = "post-stop")]
    PostStop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventHandler {
    pub name: EventHandlerName,
    #[serde(default)]
    pub exec: Vec<String>,
}

/// One environment variable, passed literally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// A place in the app's file system where a volume is expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub name: AcName,
    pub path: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

/// A port the app listens on (informational unless socket-activated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub name: AcName,
    #[serde(default)]
    pub protocol: String,
    pub port: u16,
    /// How many consecutive ports from `port`; 0 or absent means 1, as in Go.
    #[serde(
        default = "one",
        deserialize_with = "zero_as_one",
        skip_serializing_if = "is_one"
    )]
    pub count: u32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub socket_activated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn one() -> u32 {
    1
}
fn is_one(n: &u32) -> bool {
    *n == 1
}
fn zero_as_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(u32::deserialize(d)?.max(1))
}

impl ImageManifest {
    /// A minimal valid manifest for `name` at the current spec version.
    pub fn new(name: AcIdentifier) -> Self {
        ImageManifest {
            ac_kind: AcKind::ImageManifest,
            ac_version: AcVersion::current(),
            name,
            labels: Labels::default(),
            app: None,
            annotations: Annotations::default(),
            dependencies: Vec::new(),
            path_whitelist: Vec::new(),
        }
    }

    /// Read and validate an image manifest (lenient keys, strict values; see the module docs).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ManifestError> {
        let m: ImageManifest = decode(bytes, &keys::IMAGE, AcKind::ImageManifest)?;
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

    /// The default app, if the image has one.
    pub fn app(&self) -> Option<&App> {
        self.app.as_ref()
    }

    /// Check every rule of the spec; errors name the field path.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.ac_kind != AcKind::ImageManifest {
            return Err(ManifestError::invalid(
                "acKind",
                format!("{:?}", self.ac_kind),
                "must be ImageManifest",
            ));
        }
        self.labels.validate("labels")?;
        if let Some(app) = &self.app {
            app.validate("app")?;
        }
        self.annotations.validate("annotations")?;
        for (i, d) in self.dependencies.iter().enumerate() {
            d.labels
                .validate(&join(&index("dependencies", i), "labels"))?;
        }
        for (i, p) in self.path_whitelist.iter().enumerate() {
            if !is_abs(p) {
                return Err(ManifestError::invalid(
                    index("pathWhitelist", i),
                    p,
                    "must be an absolute path",
                ));
            }
        }
        Ok(())
    }
}

impl App {
    /// The working directory to start in (`/` unless set).
    pub fn working_directory(&self) -> &str {
        self.working_directory.as_deref().unwrap_or("/")
    }

    /// The value of environment variable `name`, if set.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.environment
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.value.as_str())
    }

    /// The handler for `name`, if any.
    pub fn event_handler(&self, name: EventHandlerName) -> Option<&EventHandler> {
        self.event_handlers.iter().find(|h| h.name == name)
    }

    /// Check the app at `path` (`app` in an image, `apps[i].app` in a pod).
    pub fn validate(&self, path: &str) -> Result<(), ManifestError> {
        if self.user.is_empty() {
            return Err(ManifestError::invalid(
                join(path, "user"),
                "",
                "user is required (a name, a number or a path)",
            ));
        }
        if self.group.is_empty() {
            return Err(ManifestError::invalid(
                join(path, "group"),
                "",
                "group is required (a name, a number or a path)",
            ));
        }
        for (i, h) in self.event_handlers.iter().enumerate() {
            if self.event_handlers[..i].iter().any(|o| o.name == h.name) {
                let p = join(&index(&join(path, "eventHandlers"), i), "name");
                return Err(ManifestError::invalid(
                    p,
                    format!("{:?}", h.name),
                    "only one handler per event",
                ));
            }
        }
        if let Some(wd) = &self.working_directory
            && !is_abs(wd)
        {
            return Err(ManifestError::invalid(
                join(path, "workingDirectory"),
                wd,
                "must be an absolute path",
            ));
        }
        self.validate_environment(&join(path, "environment"))?;
        for (i, mp) in self.mount_points.iter().enumerate() {
            if mp.path.is_empty() {
                let p = join(&index(&join(path, "mountPoints"), i), "path");
                return Err(ManifestError::invalid(p, "", "a mount point needs a path"));
            }
        }
        for (i, port) in self.ports.iter().enumerate() {
            port.validate(&index(&join(path, "ports"), i))?;
        }
        validate_isolators(&self.isolators, &join(path, "isolators"))
    }

    fn validate_environment(&self, path: &str) -> Result<(), ManifestError> {
        for (i, e) in self.environment.iter().enumerate() {
            let p = join(&index(path, i), "name");
            if !is_env_name(&e.name) {
                return Err(ManifestError::invalid(
                    p,
                    &e.name,
                    "must match ^[A-Za-z_][A-Za-z_0-9.-]*$",
                ));
            }
            if self.environment[..i].iter().any(|o| o.name == e.name) {
                return Err(ManifestError::invalid(
                    p,
                    &e.name,
                    "environment variable names must be unique",
                ));
            }
        }
        Ok(())
    }
}

fn is_env_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

impl Port {
    /// Check the port range at `path`.
    pub fn validate(&self, path: &str) -> Result<(), ManifestError> {
        if self.port == 0 {
            return Err(ManifestError::invalid(
                join(path, "port"),
                "0",
                "port must be in 1..65535",
            ));
        }
        if self.count == 0 || u32::from(self.port) + self.count - 1 > 65535 {
            return Err(ManifestError::invalid(
                join(path, "count"),
                self.count.to_string(),
                "port + count - 1 must not exceed 65535",
            ));
        }
        Ok(())
    }
}
