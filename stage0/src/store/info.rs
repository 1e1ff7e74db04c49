//! One JSON info file per image (`cas/info/<key>.json`): what `image list` shows and what lookups
//! by name match, so neither has to open a blob. No embedded database: the files are the index.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Where an image came from and how fresh the remote copy was (for pull policy `update`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The URL or file the image was fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aci_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `Cache-Control: max-age` of the download, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_max_age: Option<u64>,
    /// Unix seconds of the download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_time: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The store key: `sha512-` + 64 hex digits.
    pub key: String,
    /// The whole image ID (`sha512-` + 128 hex digits).
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Unix nanoseconds.
    pub import_time: u128,
    /// Unix nanoseconds.
    pub last_used: u128,
    /// Bytes of the blob as stored.
    pub size: u64,
    /// Bytes of the rendered trees of this image, 0 until rendered.
    #[serde(default)]
    pub tree_store_size: u64,
    #[serde(default)]
    pub origin: Origin,
}

/// Unix nanoseconds now.
pub fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl ImageInfo {
    /// True when every requested label is present with the same value.
    pub fn matches_labels(&self, wanted: &BTreeMap<String, String>) -> bool {
        wanted.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}
