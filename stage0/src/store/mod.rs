//! The image store under `<dir>/cas`, laid out as rkt lays it out:
//!
//! ```text
//! cas/blob/sha512/<2 hex>/sha512-<64 hex>          the image as fetched (compressed bytes)
//! cas/imageManifest/sha512/<2 hex>/sha512-<64 hex> its manifest, for reads without the blob
//! cas/info/sha512-<64 hex>.json                    name, labels, times, sizes, origin
//! cas/tree/deps-sha512-<64 hex>/{rootfs,hash,files,image,rendered}   rendered trees
//! cas/tmp/                                         writes in progress (each one flocked)
//! locks/{image,tree}/<id>                          per-key locks; locks/prepareLock
//! ```
//!
//! Crash safety: a blob is written to `cas/tmp/`, hashed as it streams, fsynced and only then
//! renamed to its key; the manifest copy goes first and the info file last. [`Store::open`]
//! repairs what a crash can leave: temp files nobody holds are removed, a blob without info gets
//! its info rebuilt from the blob, info without a blob is removed, a tree without `rendered` is
//! removed. Concurrent imports of one image each stream to their own temp file, then take the
//! key's lock; the first renames, the rest find the blob there and drop theirs.

mod blob;
mod cache;
pub mod info;
pub mod space;
pub mod tree;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use blob::StagedImage;
pub use info::{ImageInfo, Origin};

use crate::fsutil::{self, FileLock, LockMode};

/// Store directories are not world-traversable (image trees hold setuid files).
const DIR_MODE: u32 = 0o750;
const FILE_MODE: u32 = 0o640;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("reading image archive: {0}")]
    Archive(#[from] aci::archive::ArchiveError),
    #[error("image manifest: {0}")]
    Manifest(#[from] aci::manifest::ManifestError),
    #[error("no image in the store matches {0:?} (fetch it with `rkt fetch`)")]
    NotFound(String),
    #[error("image ID prefix {prefix:?} is ambiguous: it matches {matches}; give more digits")]
    Ambiguous { prefix: String, matches: String },
    #[error("image info {path} is corrupt: {source}")]
    BadInfo {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("rendering image {key}: {message}")]
    Render { key: String, message: String },
    #[error("{0}")]
    Space(#[from] space::SpaceError),
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    }
}

/// The content-addressed image store. Clones share one [`cache::ReadCache`].
#[derive(Debug, Clone)]
pub struct Store {
    cas: PathBuf,
    locks: PathBuf,
    cache: Arc<cache::ReadCache>,
}

impl Store {
    /// Open (creating if needed) the store under the rkt data dir and repair crash leftovers.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let store = Store {
            cas: data_dir.join("cas"),
            locks: data_dir.join("locks"),
            cache: Arc::default(),
        };
        // The repair reads `cas/tmp`, `cas/info`, `cas/blob` and `cas/tree`: one of them missing
        // is the cue to create the layout. `locks/` is ours alone (a store made by rkt has
        // none) and nothing else reads it before a lock is needed, so it gets one stat.
        if !store.locks.join("tree").is_dir() {
            store.create_layout()?;
        }
        match store.repair() {
            Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                store.create_layout()?;
                store.repair()?;
            }
            other => other?,
        }
        Ok(store)
    }

    fn create_layout(&self) -> Result<(), StoreError> {
        for dir in [
            self.cas.join("blob/sha512"),
            self.cas.join("imageManifest/sha512"),
            self.cas.join("info"),
            self.cas.join("tree"),
            self.locks.join("image"),
            self.locks.join("tree"),
            self.tmp_dir(),
        ] {
            fsutil::create_dir_all(&dir, DIR_MODE).map_err(StoreError::io("creating", &dir))?;
        }
        Ok(())
    }

    pub fn cas_dir(&self) -> &Path {
        &self.cas
    }

    fn tmp_dir(&self) -> PathBuf {
        self.cas.join("tmp")
    }

    fn lock(&self, kind: &str, id: &str, mode: LockMode) -> Result<FileLock, StoreError> {
        let path = self.locks.join(kind).join(id);
        FileLock::lock(&path, mode).map_err(StoreError::io("locking", &path))
    }

    /// The store-wide lock that image gc takes exclusively and pod preparation shares, so gc
    /// never removes a tree a pod is being prepared from.
    pub fn prepare_lock(&self, mode: LockMode) -> Result<FileLock, StoreError> {
        let path = self.locks.join("prepareLock");
        FileLock::lock(&path, mode).map_err(StoreError::io("locking", &path))
    }

    /// Remove what a crash can leave behind; see the module doc.
    fn repair(&self) -> Result<(), StoreError> {
        self.clean_tmp()?;
        self.repair_blobs()?;
        tree::clean_incomplete(self)
    }

    /// Remove temp files whose writer is gone (a live writer holds a lock on its file).
    fn clean_tmp(&self) -> Result<(), StoreError> {
        let tmp = self.tmp_dir();
        for entry in fs::read_dir(&tmp).map_err(StoreError::io("reading", &tmp))? {
            let path = entry.map_err(StoreError::io("reading", &tmp))?.path();
            // `downloads/` keeps partial remote downloads so an interrupted fetch can resume.
            if path.is_dir() {
                continue;
            }
            let Ok(file) = fs::OpenOptions::new().read(true).open(&path) else {
                continue;
            };
            if FileLock::try_lock_file(file, &path, LockMode::Exclusive).is_ok() {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(())
    }
}

/// `sha512/<2 hex>/<key>` below a cas subdirectory.
pub(crate) fn sharded(base: &Path, key: &str) -> PathBuf {
    let hex = key.strip_prefix("sha512-").unwrap_or(key);
    base.join("sha512").join(&hex[..2.min(hex.len())]).join(key)
}
