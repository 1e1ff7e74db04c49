//! Volumes: which volume goes where in an app (rkt's rules), and the binds.

use std::path::{Path, PathBuf};

use aci::manifest::{Volume, VolumeKind};
use aci::types::AcName;

use super::sys::{Follow, MountSys, NodeKind};
use super::{Result, SetupError, normalize_target, sys_err};
use crate::context::{AppContext, PodContext};

/// One volume mounted in one app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppMount {
    pub volume: Volume,
    /// The target as written in the manifest (for messages).
    pub path: String,
    /// The target relative to the app root (normalized, see [`super::normalize_target`]).
    pub target: PathBuf,
    /// The volume's `readOnly` or the image mount point's.
    pub read_only: bool,
}

/// The mounts of `app` given the pod's `volumes`, as rkt computes them: first the pod
/// manifest's `mounts` (a volume of that name, or the mount's inline `appVolume`, must
/// exist; the image mount point of the same name may make it read-only), then each image
/// mount point whose path no mount covers: the pod volume named like it, else an implicit
/// `empty` volume `<app>-<mountpoint>` (0755, 0:0). Sorted so parents mount before children.
pub fn app_mounts(volumes: &[Volume], app: &AppContext) -> Result<Vec<AppMount>> {
    let app_name = app.name.as_str();
    let mut out = Vec::new();
    for m in &app.mounts {
        let volume = match &m.app_volume {
            Some(v) => v.clone(),
            None => find(volumes, m.volume.as_str()).ok_or_else(|| SetupError::UnknownVolume {
                app: app_name.to_string(),
                volume: m.volume.to_string(),
            })?,
        };
        let mp_ro = app
            .app
            .mount_points
            .iter()
            .any(|mp| mp.name == m.volume && mp.read_only);
        out.push(make(app_name, volume, &m.path, mp_ro)?);
    }
    for mp in &app.app.mount_points {
        if app.mounts.iter().any(|m| same_target(&m.path, &mp.path)) {
            continue;
        }
        let volume = match find(volumes, mp.name.as_str()) {
            Some(v) => v,
            None => implicit_volume(app_name, mp.name.as_str())?,
        };
        out.push(make(app_name, volume, &mp.path, mp.read_only)?);
    }
    out.sort_by_key(|m| m.target.components().count());
    Ok(out)
}

fn find(volumes: &[Volume], name: &str) -> Option<Volume> {
    volumes.iter().find(|v| v.name.as_str() == name).cloned()
}

fn same_target(a: &str, b: &str) -> bool {
    match (normalize_target(a), normalize_target(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn implicit_volume(app: &str, mount_point: &str) -> Result<Volume> {
    let name = format!("{app}-{mount_point}");
    let name = AcName::new(name.clone()).map_err(|e| SetupError::Volume {
        volume: name,
        problem: format!("cannot name an implicit volume: {e}"),
    })?;
    Ok(Volume {
        name,
        kind: VolumeKind::Empty,
        source: None,
        read_only: None,
        recursive: None,
        mode: Some(Volume::DEFAULT_MODE.to_string()),
        uid: Some(0),
        gid: Some(0),
    })
}

fn make(app: &str, volume: Volume, path: &str, mp_read_only: bool) -> Result<AppMount> {
    let target = normalize_target(path).map_err(|problem| SetupError::BadTarget {
        app: app.to_string(),
        path: path.to_string(),
        problem,
    })?;
    Ok(AppMount {
        read_only: volume.read_only() || mp_read_only,
        volume,
        path: path.to_string(),
        target,
    })
}

/// Parses an `empty` volume's octal mode ("0755").
pub(super) fn parse_mode(volume: &Volume) -> Result<u32> {
    let mode = volume.mode();
    u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| SetupError::Volume {
            volume: volume.name.to_string(),
            problem: format!("mode {mode:?} is not an octal file mode such as 0755"),
        })
}

/// Binds every volume of `app` into its root.
pub(super) fn mount_volumes(
    ctx: &PodContext,
    app: &AppContext,
    sys: &mut dyn MountSys,
) -> Result<()> {
    for m in app_mounts(&ctx.manifest.volumes, app)? {
        let vol = &m.volume;
        let (source, recursive) = match vol.kind {
            VolumeKind::Host => {
                let src = vol.source.as_deref().unwrap_or("");
                if !src.starts_with('/') {
                    return Err(SetupError::Volume {
                        volume: vol.name.to_string(),
                        problem: format!("source {src:?} is not an absolute host path"),
                    });
                }
                (PathBuf::from(src), vol.recursive())
            }
            VolumeKind::Empty => {
                let dir = ctx.pod_dir.join("sharedVolumes").join(vol.name.as_str());
                sys.mkdir_host(&dir, parse_mode(vol)?, vol.uid(), vol.gid())
                    .map_err(sys_err("create the empty volume", &dir))?;
                (dir, false)
            }
        };
        let src = sys.open_host(&source).map_err(|e| SetupError::Volume {
            volume: vol.name.to_string(),
            problem: format!("cannot open the source {}: {e}", source.display()),
        })?;
        let kind = if src.is_dir {
            (NodeKind::Dir, 0o755)
        } else {
            (NodeKind::File, 0o644)
        };
        let root: &Path = &app.root_on_host;
        let dst = sys
            .open_in_root(root, &m.target, Follow::InRoot, Some(kind))
            .map_err(|e| SetupError::BadTarget {
                app: app.name.to_string(),
                path: m.path.clone(),
                problem: format!("cannot create or open it in the app root: {e}"),
            })?;
        sys.bind(&src, &dst, recursive, m.read_only)
            .map_err(sys_err("bind-mount a volume on", &dst.shown))?;
    }
    Ok(())
}
