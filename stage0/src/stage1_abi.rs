//! The stage1 ABI as stage0 sees it: which file of the pod's stage1 rootfs to exec for each
//! entrypoint, read from the stage1 image manifest's annotations (`stage1/manifest` in the pod
//! directory). Any stage1 image that follows rkt's ABI (interface version 5 or 6) works; the
//! crate docs of `stage1` describe the whole boundary.

use std::path::{Component, Path, PathBuf};

use aci::manifest::ImageManifest;

/// The interface versions whose argument conventions stage0 speaks.
pub const SUPPORTED_INTERFACE_VERSIONS: std::ops::RangeInclusive<u32> = 5..=6;

/// The annotation that holds a stage1's interface version.
pub const INTERFACE_VERSION_ANNOTATION: &str = "coreos.com/rkt/stage1/interface-version";

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

/// The absolute host path of entrypoint `ep` of the pod in `pod_dir`:
/// `<pod_dir>/stage1/rootfs/<entrypoint>`.
pub fn entrypoint(pod_dir: &Path, ep: Entrypoint) -> Result<PathBuf, Stage1AbiError> {
    let path = pod_dir.join("stage1/manifest");
    let bytes = std::fs::read(&path).map_err(|source| Stage1AbiError::Read {
        path: path.clone(),
        source,
    })?;
    let manifest = ImageManifest::from_slice(&bytes)
        .map_err(|source| Stage1AbiError::Manifest { path, source })?;
    check_stage1_manifest(&manifest)?;
    Ok(pod_dir
        .join("stage1/rootfs")
        .join(entrypoint_rel(&manifest, ep)?))
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
}
