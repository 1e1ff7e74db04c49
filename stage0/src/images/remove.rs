//! `image rm`: remove images by ID prefix or name, refusing those a live pod uses.

use std::path::Path;

use crate::fsutil::LockMode;
use crate::store::Store;

use super::{ImagesError, images_in_use, resolve};

/// One argument of `image rm` and the key it removed, or why it was not removed.
pub type RemoveOutcome = (String, Result<String, ImagesError>);

/// Remove each named image; one outcome per argument (the removed key, or why not). Runs
/// under the exclusive prepare lock, so no pod starts using an image while it is checked.
/// Rendered trees stay; `image gc` removes them once no pod references them, as in rkt.
pub fn remove(
    store: &Store,
    data_dir: &Path,
    inputs: &[String],
) -> Result<Vec<RemoveOutcome>, ImagesError> {
    let _lock = store.prepare_lock(LockMode::Exclusive)?;
    let in_use = images_in_use(data_dir);
    let outcomes = inputs
        .iter()
        .map(|input| {
            let outcome = resolve(store, input).and_then(|info| {
                if let Some(pods) = in_use.get(&info.key) {
                    return Err(ImagesError::InUse {
                        key: info.key,
                        pods: pods.clone(),
                    });
                }
                store.remove(&info.key)?;
                Ok(info.key)
            });
            (input.clone(), outcome)
        })
        .collect();
    // Layer blobs of OCI images go with the last image that names them.
    if let Err(e) = crate::oci::prune_layers(store) {
        tracing::warn!(error = %e, "cannot remove unused layer blobs");
    }
    Ok(outcomes)
}
