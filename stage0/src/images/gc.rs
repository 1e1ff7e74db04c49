//! `image gc`, in rkt's two steps: (1) under the exclusive prepare lock, remove every rendered
//! tree that no pod (being prepared, prepared, running or exited but not yet collected)
//! references; (2) remove images not used for longer than the grace period, unless a live pod
//! uses them.

use std::path::Path;
use std::time::Duration;

use crate::fsutil::LockMode;
use crate::store::Store;
use crate::store::info::now_nanos;

use super::pods::{ACTIVE_STATES, TREE_STATES};
use super::{ImagesError, pod_refs};

/// What one gc run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub trees_removed: Vec<String>,
    pub images_removed: Vec<String>,
    /// Images kept because a pod uses them: key and pod UUIDs.
    pub images_in_use: Vec<(String, Vec<String>)>,
    /// Partial downloads under `cas/tmp/downloads/` older than the grace period (and a day).
    pub downloads_removed: Vec<String>,
    /// What could not be removed (tree ID or image key) and why.
    pub failures: Vec<(String, String)>,
}

/// A partial download younger than this may still be resumed, whatever the grace period.
const STALE_DOWNLOAD: Duration = Duration::from_secs(86_400);

pub fn gc(store: &Store, data_dir: &Path, grace: Duration) -> Result<GcReport, ImagesError> {
    let _lock = store.prepare_lock(LockMode::Exclusive)?;
    let mut report = GcReport::default();
    let tree_refs = pod_refs(data_dir, &TREE_STATES).trees;
    for (tree, _image) in store.trees()? {
        if tree_refs.contains_key(&tree) {
            continue;
        }
        match store.remove_tree(&tree) {
            Ok(()) => report.trees_removed.push(tree),
            Err(e) => report.failures.push((tree, e.to_string())),
        }
    }
    let in_use = pod_refs(data_dir, &ACTIVE_STATES).images;
    let now = now_nanos();
    for info in store.list()? {
        if now.saturating_sub(info.last_used) < grace.as_nanos() {
            continue;
        }
        if let Some(pods) = in_use.get(&info.key) {
            report.images_in_use.push((info.key, pods.clone()));
            continue;
        }
        match store.remove(&info.key) {
            Ok(()) => report.images_removed.push(info.key),
            Err(e) => report.failures.push((info.key, e.to_string())),
        }
    }
    // Partial downloads left by fetches that never came back: same grace as images.
    let tmp = store.cas_dir().join("tmp");
    match crate::remote::remove_stale(&tmp, grace.max(STALE_DOWNLOAD)) {
        Ok(paths) => report
            .downloads_removed
            .extend(paths.iter().map(|p| p.display().to_string())),
        Err(e) => report
            .failures
            .push(("(partial downloads)".into(), e.to_string())),
    }
    if let Err(e) = crate::oci::prune_layers(store) {
        report
            .failures
            .push(("(layer blobs)".into(), e.to_string()));
    }
    Ok(report)
}
