//! `rkt list`'s table rows: per pod only what the table prints (state, times, networks of
//! running pods, and each app's name and image), so that listing a thousand pods stays fast.

use std::collections::HashMap;
use std::time::SystemTime;

use aci::manifest::{ImageManifest, Uuid};

use super::{PodOpsError, Result};
use crate::pod::{NetInfo, Pod, PodDir, PodState, Pods};

/// One pod of the table.
#[derive(Debug, Clone)]
pub struct ListRow {
    pub uuid: Uuid,
    pub state: PodState,
    pub created: Option<SystemTime>,
    pub started: Option<SystemTime>,
    /// Running pods only, as rkt.
    pub networks: Vec<NetInfo>,
    /// Empty when the pod has no manifest (yet); the table then prints `-`.
    pub apps: Vec<ListApp>,
}

#[derive(Debug, Clone)]
pub struct ListApp {
    pub name: String,
    /// `name:version` from the app's image manifest, or None when that cannot be read
    /// (the table prints `--`; the error is reported with the others).
    pub image_name: Option<String>,
    /// The full image ID from the pod manifest.
    pub image_id: String,
}

/// Every pod, in UUID order, plus the errors of the pods (or apps) that could not be read:
/// one bad pod never stops the listing.
pub fn list_rows(pods: &Pods) -> Result<(Vec<ListRow>, Vec<PodOpsError>)> {
    // Per thread, image names by image ID: the same image's manifest is read once for all the
    // pods that run it (an ID names exactly one manifest, so no pod can show another's name).
    let per_pod = pods.map_pods(&PodDir::ALL, HashMap::new, |names, pod| {
        let mut errors = Vec::new();
        let row = row(&pod, names, &mut errors);
        (row, errors)
    })?;
    let mut rows = Vec::with_capacity(per_pod.len());
    let mut errors = Vec::new();
    for (row, errs) in per_pod {
        errors.extend(errs);
        match row {
            Ok(r) => rows.push(r),
            Err(e) => errors.push(e),
        }
    }
    Ok((rows, errors))
}

fn row(
    pod: &Pod,
    names: &mut HashMap<String, String>,
    errors: &mut Vec<PodOpsError>,
) -> Result<ListRow> {
    let state = pod.state();
    let manifest = pod.manifest_view()?;
    let mut apps = Vec::new();
    for ra in manifest.iter().flat_map(|m| &m.apps) {
        let name = ra.name.as_str().to_string();
        let image_id = ra.image.id.to_string();
        let image_name = match names.get(&image_id) {
            Some(n) => Some(n.clone()),
            None => match image_name(pod, &name) {
                Ok(n) => {
                    names.insert(image_id.clone(), n.clone());
                    Some(n)
                }
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        apps.push(ListApp {
            name,
            image_name,
            image_id,
        });
    }
    let networks = if state == PodState::Running {
        pod.networks()?
    } else {
        Vec::new()
    };
    Ok(ListRow {
        uuid: pod.uuid(),
        state,
        created: pod.created()?,
        started: pod.started()?,
        networks,
        apps,
    })
}

/// `name[:version]` of the image manifest stage0 saved for the app (`appsinfo/<app>/manifest`).
fn image_name(pod: &Pod, app: &str) -> Result<String> {
    let m = image_manifest(pod, app)?;
    Ok(match m.labels.get("version") {
        Some(v) => format!("{}:{v}", m.name),
        None => m.name.to_string(),
    })
}

/// The image manifest stage0 saved for `app` when preparing the pod.
pub(crate) fn image_manifest(pod: &Pod, app: &str) -> Result<ImageManifest> {
    if app.is_empty() || app.contains('/') || app.starts_with('.') {
        return Err(PodOpsError::BadPodFile {
            uuid: pod.uuid(),
            path: pod.path().join("appsinfo"),
            reason: format!("unsafe app name {app:?}"),
        });
    }
    let path = pod.path().join("appsinfo").join(app).join("manifest");
    let bytes = std::fs::read(&path).map_err(super::io_err("read the image manifest", &path))?;
    ImageManifest::from_slice(&bytes).map_err(|e| PodOpsError::BadPodFile {
        uuid: pod.uuid(),
        path,
        reason: format!("invalid image manifest: {e}"),
    })
}
