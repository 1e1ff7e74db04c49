//! `rkt export`: an app of an exited pod as an ACI, its root file system as the app left it.
//!
//! With overlay (`overlay-prepared` exists) the root is the image's rendered tree
//! (`<data>/cas/tree/<treeStoreID>/rootfs`, the lower dir) under the app's upper dir
//! (`overlay/<treeStoreID>/upper/<app>`), merged here without mounting ([`super::merge`]).
//! Without overlay it is the copy in `stage1/rootfs/opt/stage2/<app>/rootfs`, refused while
//! anything is mounted below it. The manifest is the image's with the app as the pod ran it.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aci::archive::{AciBuilder, Compression};
use aci::manifest::ImageManifest;
use aci::types::ImageId;

use super::list::image_manifest;
use super::merge::{OverlayDirs, merge_entries};
use super::{PodOpsError, Result, io_err, pick_app};
use crate::pod::{Pod, PodState, Pods};

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The app to export; required when the pod has several.
    pub app: Option<String>,
    /// Replace an existing output file.
    pub overwrite: bool,
}

/// Write the ACI to `out` (gzip-compressed, as rkt) and return its image ID.
pub fn export(pods: &Pods, input: &str, out: &Path, opts: &ExportOptions) -> Result<ImageId> {
    if out.extension().is_none_or(|e| e != "aci") {
        return Err(PodOpsError::NotAciName {
            path: out.to_path_buf(),
        });
    }
    if !opts.overwrite && fs::symlink_metadata(out).is_ok() {
        return Err(PodOpsError::Exists {
            path: out.to_path_buf(),
        });
    }
    let mut pod = Pod::open(pods, input)?;
    let state = pod.state();
    if !matches!(state, PodState::Exited | PodState::ExitedGarbage) {
        return Err(PodOpsError::NotExited {
            uuid: pod.uuid(),
            state,
        });
    }
    // Keeps gc from deleting the pod under us (it skips pods it cannot lock).
    pod.try_lock_shared()?;
    let manifest = pod.manifest()?;
    let ra = pick_app(pod.uuid(), &manifest, opts.app.as_deref())?;
    let app = ra.name.as_str();
    let mut image = image_manifest(&pod, app)?;
    if ra.app.is_some() {
        image.app = ra.app.clone();
    }
    let dirs = app_layers(&pod, pods.data_dir(), app)?;
    let uuid = pod.uuid();
    let id = write_atomically(out, opts.overwrite, |file| {
        write_aci(file, uuid, &image, &dirs, out)
    })?;
    let _ = pod.unlock();
    Ok(id)
}

/// Where the app's root file system is: see the module doc.
fn app_layers(pod: &Pod, data_dir: &Path, app: &str) -> Result<OverlayDirs> {
    let dir = pod.path();
    if dir.join("overlay-prepared").exists() {
        let id_path = dir.join("appsinfo").join(app).join("treeStoreID");
        let raw = fs::read_to_string(&id_path).map_err(io_err("read", &id_path))?;
        let id = raw.trim();
        let safe = !id.is_empty()
            && !id.starts_with('.')
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !safe {
            return Err(PodOpsError::BadPodFile {
                uuid: pod.uuid(),
                path: id_path,
                reason: format!("unsafe tree store ID {id:?}"),
            });
        }
        return Ok(OverlayDirs {
            lower: Some(data_dir.join("cas/tree").join(id).join("rootfs")),
            upper: dir.join("overlay").join(id).join("upper").join(app),
        });
    }
    let root = dir
        .join("stage1/rootfs/opt/stage2")
        .join(app)
        .join("rootfs");
    if let Some(m) = crate::pod::mounts_under(&root)?.into_iter().next() {
        return Err(PodOpsError::Mounted {
            uuid: pod.uuid(),
            path: m,
        });
    }
    Ok(OverlayDirs {
        lower: None,
        upper: root,
    })
}

fn write_aci(
    file: File,
    uuid: aci::manifest::Uuid,
    image: &ImageManifest,
    dirs: &OverlayDirs,
    out: &Path,
) -> Result<(ImageId, File)> {
    let archive_err = |source| PodOpsError::Archive {
        path: out.to_path_buf(),
        source,
    };
    let json = image.to_vec().map_err(|e| PodOpsError::BadPodFile {
        uuid,
        path: out.to_path_buf(),
        reason: format!("cannot serialise the image manifest: {e}"),
    })?;
    let mut builder = AciBuilder::new(file, Compression::Gzip);
    builder.manifest(&json).map_err(archive_err)?;
    merge_entries(dirs, |header, data| match data {
        Some(path) => {
            let mut f = File::options()
                .read(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(path)
                .map_err(io_err("open", path))?;
            builder.entry(&header, &mut f).map_err(archive_err)
        }
        None => builder
            .entry(&header, &mut std::io::empty())
            .map_err(archive_err),
    })?;
    builder.finish().map_err(archive_err)
}

/// Write through a temp file beside `out`, then put it in place: by rename when overwriting,
/// by link (which fails on an existing file) otherwise. Returns the ID `write` returned.
fn write_atomically(
    out: &Path,
    overwrite: bool,
    write: impl FnOnce(File) -> Result<(ImageId, File)>,
) -> Result<ImageId> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(crate::fsutil::unique_name(".rkt-export-"));
    let result = (|| {
        let file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        let (id, mut file) = write(file)?;
        file.flush().map_err(io_err("write", &tmp))?;
        file.sync_all().map_err(io_err("sync", &tmp))?;
        if overwrite {
            fs::rename(&tmp, out).map_err(io_err("rename into place", out))?;
        } else {
            fs::hard_link(&tmp, out).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => PodOpsError::Exists {
                    path: out.to_path_buf(),
                },
                _ => io_err("link into place", out)(e),
            })?;
        }
        Ok(id)
    })();
    let _ = fs::remove_file(&tmp);
    result
}
