//! The library behind `rkt image <verb>`: resolving an image argument, listing rows, removal
//! guarded by the pods that use an image, gc of trees and images, export, extract, render,
//! manifest printing and tree verification. The store does the storing; this module applies
//! rkt's rules on top of it.

mod duration;
mod gc;
mod list;
mod output;
mod pods;
mod remove;

use std::collections::BTreeMap;
use std::path::PathBuf;

use aci::discovery::AppReference;

use crate::store::{ImageInfo, Store, StoreError};

pub use duration::parse_duration;
pub use gc::{GcReport, gc};
pub use list::{Field, ImageRow, list_rows, sort_rows};
pub use output::{cat_manifest, export, extract, render, verify};
pub use pods::{PodRefs, images_in_use, pod_refs};
pub use remove::{RemoveOutcome, remove};

#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Oci(Box<crate::oci::OciError>),
    #[error("image {input:?} is neither an image ID (sha512-...) nor an image name: {reason}")]
    BadReference { input: String, reason: String },
    #[error("no image named {0:?} in the store (fetch it with `rkt fetch`)")]
    NoSuchName(String),
    #[error("image {key} is used by pod(s) {}; remove the pod(s) first", pods.join(", "))]
    InUse { key: String, pods: Vec<String> },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already exists; pass --overwrite to replace it")]
    Exists { path: PathBuf },
    #[error("{path} is not an empty directory; pass --overwrite to replace it")]
    NotEmpty { path: PathBuf },
    #[error("image {key}: reading the stored archive: {source}")]
    Archive {
        key: String,
        source: aci::archive::ArchiveError,
    },
    #[error("image {key}: writing into {path}: {message}")]
    Write {
        key: String,
        path: PathBuf,
        message: String,
    },
    #[error(
        "image {key}: the exported archive hashes to {got}, not to the image ID; the stored blob is corrupt (remove and fetch it again)"
    )]
    HashMismatch { key: String, got: String },
    #[error("image {key}: the stored manifest is not JSON: {source}")]
    BadManifest {
        key: String,
        source: serde_json::Error,
    },
    #[error("invalid duration {input:?}: {reason} (use Go's form, e.g. 24h, 30m, 1h30m, 0s)")]
    BadDuration { input: String, reason: &'static str },
}

impl ImagesError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> ImagesError {
        let path = path.to_path_buf();
        move |source| ImagesError::Io {
            action,
            path,
            source,
        }
    }
}

/// Find the image an argument names: an ID prefix (`sha512-…`, unambiguous), or a name with
/// optional `:version` and `,label=value` parts, of which the newest import wins.
pub fn resolve(store: &Store, input: &str) -> Result<ImageInfo, ImagesError> {
    if input.starts_with("sha512-") {
        return Ok(store.find_by_id(input)?);
    }
    let app = AppReference::parse(input).map_err(|e| ImagesError::BadReference {
        input: input.to_string(),
        reason: e.to_string(),
    })?;
    // `name:latest` means the newest of any version, as in rkt.
    let labels: BTreeMap<String, String> = app
        .labels()
        .iter()
        .filter(|(k, v)| !(k.as_str() == "version" && v.as_str() == "latest"))
        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
        .collect();
    store
        .find_by_name(app.name().as_str(), &labels)?
        .ok_or_else(|| ImagesError::NoSuchName(input.to_string()))
}

/// The store key (`sha512-` + 64 hex) of a full or short image ID; None when it is not one.
pub(crate) fn key_of(id: &str) -> Option<String> {
    let key_len = aci::types::ImageId::PREFIX.len() + aci::types::ImageId::KEY_HEX_LEN;
    let id = aci::types::ImageId::new(id).ok()?;
    Some(id.as_str()[..key_len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_full_and_short_ids() {
        let hex = "ab".repeat(64);
        let full = format!("sha512-{hex}");
        assert_eq!(key_of(&full), Some(format!("sha512-{}", &hex[..64])));
        assert_eq!(key_of(&full[..7 + 64]), Some(full[..7 + 64].to_string()));
        assert_eq!(key_of("sha512-abc"), None);
        assert_eq!(key_of("nonsense"), None);
    }
}
