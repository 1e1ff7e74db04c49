//! Image and pod manifests (appc 0.8.11, spec/aci.md and spec/pods.md): typed structs, lenient
//! reading, strict validation and canonical writing.
//!
//! Reading works like the Go reference code so that manifests produced by `actool`, `acbuild`,
//! `docker2aci` or rkt itself load unchanged: JSON object keys of struct fields match
//! case-insensitively (`ACKind`, `supplementaryGids`), `null` means "not given", unknown keys are
//! ignored. Keys and values of free-form maps (`userAnnotations`, `userLabels`, isolator values)
//! are never touched. Every manifest is then validated as a whole; an error names the field path
//! (`app.environment[2].name`) and the rule it breaks.
//!
//! Writing is canonical: spec field order, spec key spelling, absent and default-valued optional
//! fields omitted, so `parse(write(m)) == m`.

mod image;
mod keys;
mod pod;
mod values;

pub use image::{
    App, Dependency, EnvVar, EventHandler, EventHandlerName, ImageManifest, MountPoint, Port,
};
pub use pod::{ExposedPort, Mount, PodManifest, RuntimeApp, RuntimeImage, Volume, VolumeKind};
pub use values::{
    AcKind, AcVersion, Annotation, Annotations, Isolator, Label, Labels, Timestamp, Uuid,
    validate_isolators,
};

use serde::de::DeserializeOwned;

/// Why a manifest (or one of its values) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The bytes are not JSON at all.
    #[error("manifest is not valid JSON: {source}")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    /// A field has the wrong JSON type or a value its type forbids (reported by the decoder).
    #[error("{}: {message}", shown(path))]
    Decode { path: String, message: String },
    /// A field's value breaks a spec rule.
    #[error("{}: invalid value {value:?}: {rule}", shown(path))]
    Invalid {
        path: String,
        value: String,
        rule: String,
    },
    /// Two keys of one object name the same field once case is ignored; Go would silently keep
    /// whichever comes last, which makes the manifest mean different things to different readers.
    #[error(
        "{}: keys {first:?} and {second:?} both set field {field:?}; keep only one",
        shown(path)
    )]
    DuplicateKey {
        path: String,
        field: &'static str,
        first: String,
        second: String,
    },
    /// A `--volume` command line value that cannot be parsed.
    #[error("volume {input:?}: {rule}")]
    Cli { input: String, rule: String },
    /// Reading random bytes for a new UUID failed.
    #[error("cannot read random bytes from {path} for a new UUID: {source}")]
    Random {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl ManifestError {
    pub(crate) fn invalid(
        path: impl Into<String>,
        value: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        ManifestError::Invalid {
            path: path.into(),
            value: value.into(),
            rule: rule.into(),
        }
    }

    /// The field path the error is about (empty for the whole document).
    pub fn path(&self) -> &str {
        match self {
            ManifestError::Decode { path, .. }
            | ManifestError::Invalid { path, .. }
            | ManifestError::DuplicateKey { path, .. } => path,
            _ => "",
        }
    }
}

/// How an error shows a path: the root has the empty path.
fn shown(path: &str) -> &str {
    if path.is_empty() { "manifest" } else { path }
}

/// Join a field path and a key: `join("app", "user") == "app.user"`, `join("", "name") == "name"`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A list element's path: `index("labels", 2) == "labels[2]"`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Parse, fold keys to the schema's spelling, then decode with field paths in errors.
fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    shape: &'static keys::Shape,
    kind: values::AcKind,
) -> Result<T, ManifestError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|source| ManifestError::Json { source })?;
    if !value.is_object() {
        return Err(ManifestError::invalid(
            "",
            kind_of(&value),
            "a manifest must be a JSON object",
        ));
    }
    keys::fold_keys(&mut value, shape, "")?;
    check_kind(&value, kind)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ManifestError::Decode {
            path,
            message: e.into_inner().to_string(),
        }
    })
}

/// Refuse the other kind of manifest up front, so the error says so rather than naming
/// whichever of its fields fails to decode first.
fn check_kind(doc: &serde_json::Value, want: values::AcKind) -> Result<(), ManifestError> {
    let other = match want {
        values::AcKind::ImageManifest => "PodManifest",
        values::AcKind::PodManifest => "ImageManifest",
    };
    match doc.get("acKind").and_then(|k| k.as_str()) {
        Some(k) if k == other => Err(ManifestError::invalid(
            "acKind",
            k,
            format!("expected {want:?}; read this document as a {other}"),
        )),
        _ => Ok(()),
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Serialize a validated manifest; serde_json cannot fail on these types, but keep it typed.
fn encode<T: serde::Serialize>(m: &T, pretty: bool) -> Result<Vec<u8>, ManifestError> {
    let r = if pretty {
        serde_json::to_vec_pretty(m)
    } else {
        serde_json::to_vec(m)
    };
    r.map_err(|e| ManifestError::Decode {
        path: String::new(),
        message: e.to_string(),
    })
}

/// True for an absolute path in the spec's sense (Go `path.IsAbs`: starts with `/`).
pub(crate) fn is_abs(p: &str) -> bool {
    p.starts_with('/')
}
