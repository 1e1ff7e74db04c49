//! The stage1 ABI as stage0 sees it: which file of the pod's stage1 rootfs to exec for each
//! entrypoint, read from the stage1 image manifest's annotations (`stage1/manifest` in the pod
//! directory). Any stage1 image that follows rkt's ABI (interface version 5 or 6) works; the
//! crate docs of `stage1` describe the whole boundary.
//!
//! The entrypoint is found in the pod's link farm (`stage1/rootfs/`) when there is one (every
//! foreign stage1, `--no-overlay`, pods of older versions), otherwise in the stage1 tree of
//! the store the pod names in `stage1TreeStoreID` (our stage1 with [`ROOTFS_ANNOTATION`]: its
//! PID 1 mounts that tree as the lower layer of an overlay on `stage1/rootfs`).

use std::path::{Component, Path, PathBuf};

use aci::manifest::ImageManifest;

/// The interface versions whose argument conventions stage0 speaks.
pub const SUPPORTED_INTERFACE_VERSIONS: std::ops::RangeInclusive<u32> = 5..=6;

/// The annotation that holds a stage1's interface version.
pub const INTERFACE_VERSION_ANNOTATION: &str = "coreos.com/rkt/stage1/interface-version";

/// rkt-rs's own annotation: a stage1 image whose value is [`ROOTFS_OVERLAY`] mounts its rootfs
/// itself (an overlay of the store tree on `stage1/rootfs`), so stage0 builds no link farm.
pub const ROOTFS_ANNOTATION: &str = "rkt-rs.dev/stage1/rootfs";
/// The value of [`ROOTFS_ANNOTATION`] that asks for the overlay: PID 1 mounts `stage1/rootfs`
/// read-only over the tree and needs no `stage1/work`. (The first version, `overlay`, had a
/// writable one that needed it: such an image now gets a link farm, which every stage1 runs on.)
pub const ROOTFS_OVERLAY: &str = "overlay-ro";
/// The first value (see [`ROOTFS_OVERLAY`]).
const ROOTFS_OVERLAY_V1: &str = "overlay";

/// The environment variable naming the lower dir of the stage1 root overlay (host path of the
/// stage1 tree's rootfs) for the `run` entrypoint; absent when the pod has a link farm.
pub const STAGE1_LOWER_ENV: &str = "RKT_STAGE1_LOWER";

/// Whether a stage1 image asks for the overlay rootfs instead of a link farm.
pub fn wants_overlay_rootfs(manifest: &ImageManifest) -> bool {
    manifest.annotations.get(ROOTFS_ANNOTATION) == Some(ROOTFS_OVERLAY)
}

/// Whether a pod of this stage1 image may have been prepared without a link farm: by this
/// stage0, or by one that knew the first value (its pods still find their entrypoints in the
/// store, so they can be run, entered, stopped and collected after an upgrade).
fn may_lack_farm(manifest: &ImageManifest) -> bool {
    matches!(
        manifest.annotations.get(ROOTFS_ANNOTATION),
        Some(ROOTFS_OVERLAY | ROOTFS_OVERLAY_V1)
    )
}

/// A stage1 entrypoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entrypoint {
    Run,
    Enter,
    Gc,
    Stop,
}

impl Entrypoint {
    /// The stage1 manifest annotation naming this entrypoint.
    pub fn annotation(self) -> &'static str {
        match self {
            Entrypoint::Run => "coreos.com/rkt/stage1/run",
            Entrypoint::Enter => "coreos.com/rkt/stage1/enter",
            Entrypoint::Gc => "coreos.com/rkt/stage1/gc",
            Entrypoint::Stop => "coreos.com/rkt/stage1/stop",
        }
    }
}

/// Why an entrypoint cannot be used; each names the pod's stage1 manifest.
#[derive(Debug, thiserror::Error)]
pub enum Stage1AbiError {
    #[error("cannot read the stage1 manifest {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the stage1 manifest {path} is invalid")]
    Manifest {
        path: PathBuf,
        #[source]
        source: aci::manifest::ManifestError,
    },
    #[error(
        "the stage1 image {name} has no {annotation} annotation: it is not a stage1 image (pick another with --stage1-*)"
    )]
    Missing {
        name: String,
        annotation: &'static str,
    },
    #[error(
        "the stage1 image {name} entrypoint {annotation}={value:?} must be an absolute path inside its rootfs"
    )]
    BadPath {
        name: String,
        annotation: &'static str,
        value: String,
    },
    #[error(
        "the stage1 image {name} speaks interface version {found}; this rkt supports versions 5 to 6"
    )]
    Version { name: String, found: String },
    #[error("{path} does not name a stage1 tree ({id:?})")]
    BadTreeId { path: PathBuf, id: String },
    #[error(
        "the pod has no stage1 link farm and its stage1 tree is gone from the store ({path}); only `rkt gc` can remove the pod"
    )]
    TreeGone { path: PathBuf },
}

/// Checks that `manifest` is a stage1 image this stage0 can drive (interface version and
/// entrypoints), before any pod is created with it.
pub fn check_stage1_manifest(manifest: &ImageManifest) -> Result<(), Stage1AbiError> {
    let name = manifest.name.to_string();
    let found = manifest
        .annotations
        .get(INTERFACE_VERSION_ANNOTATION)
        .unwrap_or("1")
        .to_string();
    match found.parse::<u32>() {
        Ok(v) if SUPPORTED_INTERFACE_VERSIONS.contains(&v) => {}
        _ => return Err(Stage1AbiError::Version { name, found }),
    }
    entrypoint_rel(manifest, Entrypoint::Run).map(|_| ())
}

/// The entrypoint's path relative to the stage1 rootfs, refused when it could leave it.
pub fn entrypoint_rel(manifest: &ImageManifest, ep: Entrypoint) -> Result<PathBuf, Stage1AbiError> {
    let name = manifest.name.to_string();
    let annotation = ep.annotation();
    let value = manifest
        .annotations
        .get(annotation)
        .ok_or_else(|| Stage1AbiError::Missing {
            name: name.clone(),
            annotation,
        })?;
    let path = Path::new(value);
    let clean = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let rel = path.strip_prefix("/").unwrap_or(path);
    if !clean || rel.as_os_str().is_empty() {
        return Err(Stage1AbiError::BadPath {
            name,
            annotation,
            value: value.to_string(),
        });
    }
    Ok(rel.to_path_buf())
}

/// Where an entrypoint was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Host path of the entrypoint to exec.
    pub path: PathBuf,
    /// The stage1 tree's rootfs in the store when the pod has no link farm (the lower dir
    /// of the stage1 root overlay, passed to `run` as [`STAGE1_LOWER_ENV`]).
    pub store_rootfs: Option<PathBuf>,
}

/// The absolute host path of entrypoint `ep` of the pod in `pod_dir`:
/// `<pod_dir>/stage1/rootfs/<entrypoint>` (link farm), else
/// `<data>/cas/tree/<stage1TreeStoreID>/rootfs/<entrypoint>`.
pub fn entrypoint(pod_dir: &Path, ep: Entrypoint) -> Result<PathBuf, Stage1AbiError> {
    locate(pod_dir, ep).map(|l| l.path)
}

/// [`entrypoint`], saying whether it came from the store.
pub fn locate(pod_dir: &Path, ep: Entrypoint) -> Result<Located, Stage1AbiError> {
    let path = pod_dir.join("stage1/manifest");
    let bytes = std::fs::read(&path).map_err(|source| Stage1AbiError::Read {
        path: path.clone(),
        source,
    })?;
    let manifest = ImageManifest::from_slice(&bytes)
        .map_err(|source| Stage1AbiError::Manifest { path, source })?;
    check_stage1_manifest(&manifest)?;
    let rel = entrypoint_rel(&manifest, ep)?;
    let in_pod = pod_dir.join("stage1/rootfs").join(&rel);
    // A foreign stage1 always has its link farm; only ours may have none.
    if !may_lack_farm(&manifest) || in_pod.symlink_metadata().is_ok() {
        return Ok(Located {
            path: in_pod,
            store_rootfs: None,
        });
    }
    let rootfs = stage1_tree_rootfs(pod_dir)?;
    if rootfs.symlink_metadata().is_err() {
        return Err(Stage1AbiError::TreeGone { path: rootfs });
    }
    Ok(Located {
        path: rootfs.join(rel),
        store_rootfs: Some(rootfs),
    })
}

/// `<data>/cas/tree/<stage1TreeStoreID>/rootfs` for the pod in `<data>/pods/<state>/<uuid>`.
pub fn stage1_tree_rootfs(pod_dir: &Path) -> Result<PathBuf, Stage1AbiError> {
    let path = pod_dir.join("stage1TreeStoreID");
    let raw = std::fs::read(&path).map_err(|source| Stage1AbiError::Read {
        path: path.clone(),
        source,
    })?;
    let id = String::from_utf8_lossy(&raw).trim().to_string();
    let data = pod_dir.ancestors().nth(3);
    match data {
        Some(data) if !id.is_empty() && !id.starts_with('.') && !id.contains('/') => {
            Ok(data.join("cas/tree").join(id).join("rootfs"))
        }
        _ => Err(Stage1AbiError::BadTreeId { path, id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(annotations: &[(&str, &str)]) -> ImageManifest {
        let mut json = serde_json::json!({
            "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/stage1",
            "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}],
            "annotations": []
        });
        for (k, v) in annotations {
            json["annotations"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"name": k, "value": v}));
        }
        ImageManifest::from_slice(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn reads_entrypoints_and_version() {
        let m = manifest(&[
            (INTERFACE_VERSION_ANNOTATION, "6"),
            ("coreos.com/rkt/stage1/run", "/usr/lib/rkt/stage1/init"),
        ]);
        check_stage1_manifest(&m).unwrap();
        assert_eq!(
            entrypoint_rel(&m, Entrypoint::Run).unwrap(),
            PathBuf::from("usr/lib/rkt/stage1/init")
        );
        assert!(matches!(
            entrypoint_rel(&m, Entrypoint::Stop),
            Err(Stage1AbiError::Missing { .. })
        ));
    }

    #[test]
    fn refuses_escaping_paths_and_old_versions() {
        for bad in ["../../bin/sh", "/a/../../b", "relative", "/"] {
            let m = manifest(&[
                (INTERFACE_VERSION_ANNOTATION, "6"),
                ("coreos.com/rkt/stage1/run", bad),
            ]);
            assert!(check_stage1_manifest(&m).is_err(), "{bad}");
        }
        let old = manifest(&[("coreos.com/rkt/stage1/run", "/init")]);
        assert!(matches!(
            check_stage1_manifest(&old),
            Err(Stage1AbiError::Version { .. })
        ));
    }

    #[test]
    fn locates_entrypoints_in_the_farm_or_the_store() {
        let t = tempfile::tempdir().unwrap();
        let pod = t.path().join("pods/run/u1");
        let tree = t.path().join("cas/tree/deps-sha512-s1/rootfs");
        std::fs::create_dir_all(pod.join("stage1")).unwrap();
        std::fs::create_dir_all(tree.join("usr/lib/rkt/stage1")).unwrap();
        std::fs::write(pod.join("stage1TreeStoreID"), "deps-sha512-s1").unwrap();
        let mut anns = vec![
            (INTERFACE_VERSION_ANNOTATION, "6"),
            ("coreos.com/rkt/stage1/run", "/usr/lib/rkt/stage1/init"),
        ];
        let write = |anns: &[(&str, &str)]| {
            let m = manifest(anns);
            std::fs::write(pod.join("stage1/manifest"), m.to_vec().unwrap()).unwrap();
        };
        // A foreign stage1 is always run from the pod's farm.
        write(&anns);
        let l = locate(&pod, Entrypoint::Run).unwrap();
        assert_eq!(l.path, pod.join("stage1/rootfs/usr/lib/rkt/stage1/init"));
        assert_eq!(l.store_rootfs, None);
        // Ours without a farm: from the store, naming the lower dir.
        anns.push((ROOTFS_ANNOTATION, ROOTFS_OVERLAY));
        write(&anns);
        let l = locate(&pod, Entrypoint::Run).unwrap();
        assert_eq!(l.path, tree.join("usr/lib/rkt/stage1/init"));
        assert_eq!(l.store_rootfs.as_deref(), Some(tree.as_path()));
        // A pod prepared with the first value: still found in the store.
        let mut v1 = anns.clone();
        v1.pop();
        v1.push((ROOTFS_ANNOTATION, ROOTFS_OVERLAY_V1));
        write(&v1);
        assert_eq!(
            locate(&pod, Entrypoint::Run)
                .unwrap()
                .store_rootfs
                .as_deref(),
            Some(tree.as_path())
        );
        write(&anns);
        // Ours with a farm (an older pod): the farm.
        let farm = pod.join("stage1/rootfs/usr/lib/rkt/stage1");
        std::fs::create_dir_all(&farm).unwrap();
        std::os::unix::fs::symlink("rkt-stage1", farm.join("init")).unwrap();
        assert_eq!(locate(&pod, Entrypoint::Run).unwrap().store_rootfs, None);
        std::fs::remove_dir_all(pod.join("stage1/rootfs")).unwrap();
        // The tree gone: a typed error gc can recognise.
        std::fs::remove_dir_all(&tree).unwrap();
        assert!(matches!(
            locate(&pod, Entrypoint::Run),
            Err(Stage1AbiError::TreeGone { .. })
        ));
        std::fs::write(pod.join("stage1TreeStoreID"), "../x").unwrap();
        assert!(matches!(
            locate(&pod, Entrypoint::Run),
            Err(Stage1AbiError::BadTreeId { .. })
        ));
    }
}
