//! Getting an image back out of the store: the archive (`export`), its own files (`extract`),
//! its dependency-flattened tree (`render`), its manifest, and a check of its rendered tree.

use std::fs::{self, OpenOptions};
use std::io::{self, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aci::archive::{ArchiveError, HashingReader, ReadOptions, decompress, read_archive};
use aci::extract::{ExtractError, ExtractOptions, Extractor};
use aci::manifest::ImageManifest;
use aci::types::ImageId;

use crate::fsutil;
use crate::store::Store;
use crate::store::tree::Mismatch;

use super::ImagesError;

const BUF: usize = 256 * 1024;

/// Write the image as an uncompressed ACI at `out` (its SHA-512 is the image ID). The file is
/// written beside `out` and renamed into place once its hash is checked.
pub fn export(store: &Store, key: &str, out: &Path, overwrite: bool) -> Result<(), ImagesError> {
    if !overwrite && fs::symlink_metadata(out).is_ok() {
        return Err(ImagesError::Exists {
            path: out.to_path_buf(),
        });
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(fsutil::unique_name(".rkt-export-"));
    let is_oci = store
        .manifest(key)
        .is_ok_and(|m| crate::oci::image_layers(&m).is_some());
    let result = if is_oci {
        // OCI images: their layers merged into one ACI.
        crate::oci::export::export(store, key, &tmp).map_err(|e| ImagesError::Oci(Box::new(e)))
    } else {
        write_tar(store, key, &tmp)
    };
    let result =
        result.and_then(|()| fs::rename(&tmp, out).map_err(ImagesError::io("renaming into", out)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_tar(store: &Store, key: &str, tmp: &Path) -> Result<(), ImagesError> {
    let blob = store.open_blob(key)?;
    let archive_err = |source| ImagesError::Archive {
        key: key.to_string(),
        source,
    };
    let (_, tar) = decompress(BufReader::with_capacity(BUF, blob)).map_err(archive_err)?;
    let mut hashing = HashingReader::new(tar);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(tmp)
        .map_err(ImagesError::io("creating", tmp))?;
    io::copy(&mut hashing, &mut file).map_err(|e| archive_err(ArchiveError::Io(e)))?;
    file.flush().map_err(ImagesError::io("writing", tmp))?;
    file.sync_all().map_err(ImagesError::io("syncing", tmp))?;
    let (digest, _) = hashing
        .finish()
        .map_err(|e| archive_err(ArchiveError::Io(e)))?;
    let got = ImageId::from_digest(&digest).key();
    if got.as_str() != key {
        return Err(ImagesError::HashMismatch {
            key: key.to_string(),
            got: got.as_str().to_string(),
        });
    }
    Ok(())
}

/// Write the image's own files into `dir`: `manifest` and `rootfs/`, or only the rootfs
/// content with `rootfs_only`. Dependencies are not included (that is [`render`]).
pub fn extract(
    store: &Store,
    key: &str,
    dir: &Path,
    rootfs_only: bool,
    overwrite: bool,
) -> Result<(), ImagesError> {
    let rootfs = prepare_output(store, key, dir, rootfs_only, overwrite)?;
    let write_err = |message: String| ImagesError::Write {
        key: key.to_string(),
        path: dir.to_path_buf(),
        message,
    };
    let opts = ExtractOptions::default();
    let opts = ExtractOptions {
        allow_devices: opts.preserve_ownership,
        ..opts
    };
    let mut ex = Extractor::new(&rootfs, opts).map_err(|e| write_err(e.to_string()))?;
    let blob = store.open_blob(key)?;
    let reader = BufReader::with_capacity(BUF, blob);
    read_archive(reader, &ReadOptions::default(), |h, data| {
        ex.apply(h, data).map(drop).map_err(SinkError::Extract)
    })
    .map_err(|e| match e {
        SinkError::Extract(e) => write_err(e.to_string()),
        SinkError::Archive(source) => ImagesError::Archive {
            key: key.to_string(),
            source,
        },
    })?;
    ex.finish().map_err(|e| write_err(e.to_string()))?;
    Ok(())
}

/// Write the image rendered over its dependencies into `dir`, as `image extract` lays it out.
pub fn render(
    store: &Store,
    key: &str,
    dir: &Path,
    rootfs_only: bool,
    overwrite: bool,
) -> Result<(), ImagesError> {
    let order = store.render_order(key)?;
    let rootfs = prepare_output(store, key, dir, rootfs_only, overwrite)?;
    store.render_layers(key, &order, &rootfs)?;
    Ok(())
}

/// Make `dir` an empty directory (refusing to replace content without `overwrite`), write the
/// manifest unless `rootfs_only`, and return the directory the rootfs goes into.
fn prepare_output(
    store: &Store,
    key: &str,
    dir: &Path,
    rootfs_only: bool,
    overwrite: bool,
) -> Result<PathBuf, ImagesError> {
    let manifest = store.manifest_bytes(key)?;
    match fs::symlink_metadata(dir) {
        Ok(meta) if overwrite => {
            let removed = if meta.is_dir() {
                fs::remove_dir_all(dir)
            } else {
                fs::remove_file(dir)
            };
            removed.map_err(ImagesError::io("removing", dir))?;
        }
        Ok(meta) if meta.is_dir() => {
            let mut entries = fs::read_dir(dir).map_err(ImagesError::io("reading", dir))?;
            if entries.next().is_some() {
                return Err(ImagesError::NotEmpty {
                    path: dir.to_path_buf(),
                });
            }
        }
        Ok(_) => {
            return Err(ImagesError::Exists {
                path: dir.to_path_buf(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(ImagesError::io("reading", dir)(e)),
    }
    fsutil::create_dir_all(dir, 0o755).map_err(ImagesError::io("creating", dir))?;
    if rootfs_only {
        return Ok(dir.to_path_buf());
    }
    let path = dir.join("manifest");
    fs::write(&path, &manifest).map_err(ImagesError::io("writing", &path))?;
    let rootfs = dir.join("rootfs");
    fs::create_dir(&rootfs).map_err(ImagesError::io("creating", &rootfs))?;
    Ok(rootfs)
}

/// The image manifest as JSON, indented or compact.
pub fn cat_manifest(store: &Store, key: &str, pretty: bool) -> Result<String, ImagesError> {
    let manifest = ImageManifest::from_slice(&store.manifest_bytes(key)?)
        .map_err(crate::store::StoreError::Manifest)?;
    let text = if pretty {
        manifest.to_string_pretty()
    } else {
        manifest
            .to_vec()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    Ok(text.map_err(crate::store::StoreError::Manifest)?)
}

/// Re-hash the stored blob, then render the image if needed and re-hash its tree: the tree ID
/// (empty when the blob itself is damaged) and every mismatch.
pub fn verify(store: &Store, key: &str) -> Result<(String, Vec<Mismatch>), ImagesError> {
    // A damaged blob cannot be rendered again: report it without touching the tree.
    if let Some(problem) = store.verify_blob(key)? {
        let path = store.blob_path(key).display().to_string();
        return Ok((String::new(), vec![Mismatch { path, problem }]));
    }
    let tree = store.render_tree(key)?;
    let mismatches = store.verify_tree(&tree.id)?;
    Ok((tree.id, mismatches))
}

/// Why streaming an archive into an extractor stopped: the archive, or the write.
enum SinkError {
    Archive(ArchiveError),
    Extract(ExtractError),
}

impl From<ArchiveError> for SinkError {
    fn from(e: ArchiveError) -> Self {
        SinkError::Archive(e)
    }
}
