//! Importing, finding and removing image blobs and their info.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use aci::archive::{ArchiveInfo, ReadOptions, TeeReader, read_archive};
use aci::manifest::ImageManifest;
use aci::types::ImageId;

use super::info::now_nanos;
use super::space::{GuardedWrite, SpaceGuard};

/// How precisely [`Store::touch`] records the last use of an image.
pub const TOUCH_PRECISION: std::time::Duration = std::time::Duration::from_secs(60);
use super::{DIR_MODE, FILE_MODE, ImageInfo, Origin, Store, StoreError, sharded};
use crate::fsutil::{self, FileLock, LockMode};

/// Read buffer for imports: large, so decompression and hashing run in big strides.
const IMPORT_BUF: usize = 256 * 1024;

impl Store {
    pub fn blob_path(&self, key: &str) -> PathBuf {
        sharded(&self.cas.join("blob"), key)
    }

    fn manifest_path(&self, key: &str) -> PathBuf {
        sharded(&self.cas.join("imageManifest"), key)
    }

    fn info_path(&self, key: &str) -> PathBuf {
        self.cas.join("info").join(format!("{key}.json"))
    }

    /// Stream an ACI into the store and commit it: [`Store::stage`] then [`StagedImage::commit`].
    pub fn import(&self, input: impl Read + Send, origin: Origin) -> Result<ImageInfo, StoreError> {
        self.stage(input)?.commit(origin)
    }

    /// Stream an ACI into a temp file of the store: one pass copies the compressed bytes to the
    /// file while the decompressed tar is hashed and its manifest read and validated. Nothing is
    /// visible in the store until [`StagedImage::commit`]; dropping the staged image removes it,
    /// so a caller can check the manifest (name, labels, signer) first.
    pub fn stage(&self, input: impl Read + Send) -> Result<StagedImage<'_>, StoreError> {
        self.stage_limited(input, None)
    }

    /// A new temp file in `cas/tmp`, locked. A concurrent `Store::open` removes every temp
    /// file it can lock, and ours is briefly unlocked between its creation and our flock: if
    /// a cleaner got there first (its lock held, or the file already unlinked), take another.
    fn locked_temp(&self, prefix: &str) -> Result<FileLock, StoreError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let tmp_path = self.tmp_dir().join(fsutil::unique_name(prefix));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&tmp_path)
                .map_err(StoreError::io("creating", &tmp_path))?;
            let raced = match FileLock::try_lock_file(file, &tmp_path, LockMode::Exclusive) {
                Ok(lock) => match lock.file().metadata() {
                    Ok(meta) if meta.nlink() > 0 => return Ok(lock),
                    Ok(_) => io::Error::from(io::ErrorKind::NotFound),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if attempts >= 8 {
                let _ = fs::remove_file(&tmp_path);
                return Err(StoreError::Io {
                    action: "locking",
                    path: tmp_path,
                    source: raced,
                });
            }
        }
    }

    /// [`Store::stage`] refusing an image whose uncompressed tar exceeds
    /// `max_uncompressed_size` bytes (a decompression-bomb guard for fetched images).
    pub fn stage_limited(
        &self,
        input: impl Read + Send,
        max_uncompressed_size: Option<u64>,
    ) -> Result<StagedImage<'_>, StoreError> {
        let tmp = self.locked_temp("import-")?;
        let mut staged = StagedImage {
            store: self,
            tmp,
            archive: None,
            manifest: None,
            size: 0,
        };
        // Only the compressed bytes are written here; the free-space guard keeps an oversized
        // download from filling the store's filesystem while it streams in.
        let copy = GuardedWrite::new(staged.tmp.file(), SpaceGuard::new(&self.tmp_dir()));
        let mut tee = TeeReader::new(input, copy);
        let opts = ReadOptions {
            want_entries: false,
            max_uncompressed_size,
            ..ReadOptions::default()
        };
        let read = read_archive(
            BufReader::with_capacity(IMPORT_BUF, &mut tee),
            &opts,
            |_, _| Ok::<(), aci::archive::ArchiveError>(()),
        );
        if let Some(refused) = tee.into_parts().1.refused {
            return Err(refused.into());
        }
        let info: ArchiveInfo = read?;
        staged.manifest = Some(ImageManifest::from_slice(&info.manifest)?);
        staged.archive = Some(info);
        let file = staged.tmp.file();
        file.sync_all()
            .map_err(StoreError::io("syncing", staged.tmp.path()))?;
        staged.size = file
            .metadata()
            .map_err(StoreError::io("reading", staged.tmp.path()))?
            .len();
        Ok(staged)
    }

    fn write_sharded(&self, path: &std::path::Path, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(dir) = path.parent() {
            fsutil::create_dir_all(dir, DIR_MODE).map_err(StoreError::io("creating", dir))?;
        }
        fsutil::write_atomic(path, bytes, FILE_MODE).map_err(StoreError::io("writing", path))
    }

    pub(crate) fn write_info(&self, info: &ImageInfo) -> Result<(), StoreError> {
        let path = self.info_path(&info.key);
        let bytes = serde_json::to_vec_pretty(info).map_err(|e| StoreError::BadInfo {
            path: path.clone(),
            source: e,
        })?;
        fsutil::write_atomic(&path, &bytes, FILE_MODE).map_err(StoreError::io("writing", &path))?;
        self.cache.put_info(info);
        Ok(())
    }

    /// The info of a stored image by exact key, or None. Read once per process (see
    /// [`super::cache`]); under the image's lock use [`Store::info_fresh`].
    pub fn info(&self, key: &str) -> Result<Option<ImageInfo>, StoreError> {
        match self.cache.info(key) {
            Some(info) => Ok(Some(info)),
            None => self.info_fresh(key),
        }
    }

    /// The info as it is on disk now (and remembered for [`Store::info`]).
    pub fn info_fresh(&self, key: &str) -> Result<Option<ImageInfo>, StoreError> {
        let path = self.info_path(key);
        let info: Option<ImageInfo> = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StoreError::BadInfo { path, source })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(StoreError::Io {
                    action: "reading",
                    path,
                    source: e,
                });
            }
        };
        match &info {
            Some(i) => self.cache.put_info(i),
            None => self.cache.forget(key),
        }
        Ok(info)
    }

    /// Every stored image. The directory is read once per process (see [`super::cache`]).
    pub fn list(&self) -> Result<Vec<ImageInfo>, StoreError> {
        let mut out = match self.cache.listing() {
            Some(cached) => cached,
            None => self.list_fresh()?,
        };
        out.sort_by(|a, b| a.import_time.cmp(&b.import_time).then(a.key.cmp(&b.key)));
        Ok(out)
    }

    fn list_fresh(&self) -> Result<Vec<ImageInfo>, StoreError> {
        let dir = self.cas.join("info");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(StoreError::io("reading", &dir))? {
            let name = entry.map_err(StoreError::io("reading", &dir))?.file_name();
            let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            // A corrupt info file hides its image instead of failing every command; the next
            // `Store::open` rebuilds it from the blob.
            match self.info_fresh(key) {
                Ok(Some(info)) => out.push(info),
                Ok(None) | Err(StoreError::BadInfo { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.cache.put_listing(&out);
        Ok(out)
    }

    /// Find one image by ID prefix (`sha512-` + at least 2 hex digits, unambiguous).
    pub fn find_by_id(&self, prefix: &str) -> Result<ImageInfo, StoreError> {
        ImageId::parse_prefix(prefix).map_err(|_| StoreError::NotFound(prefix.to_string()))?;
        // Matched against the full ID, so a 128-digit ID must agree in all its digits (the
        // key is its first half, so keys and their prefixes match too).
        let found: Vec<ImageInfo> = self
            .list()?
            .into_iter()
            .filter(|i| i.id.starts_with(prefix))
            .collect();
        match found.len() {
            0 => Err(StoreError::NotFound(prefix.to_string())),
            1 => Ok(found.into_iter().next().expect("one element")),
            _ => Err(StoreError::Ambiguous {
                prefix: prefix.to_string(),
                matches: found
                    .iter()
                    .map(|i| i.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The newest image (by import time) with this name whose labels include `labels`.
    pub fn find_by_name(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Option<ImageInfo>, StoreError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|i| i.name == name && i.matches_labels(labels))
            .max_by_key(|i| i.import_time))
    }

    /// Open a stored blob for reading.
    pub fn open_blob(&self, key: &str) -> Result<File, StoreError> {
        let path = self.blob_path(key);
        File::open(&path).map_err(StoreError::io("opening", &path))
    }

    /// The raw manifest of a stored image (read once per process: it never changes).
    /// Hard-links the stored manifest of `key` as `dst` (a new name): a pod's copy without a
    /// new inode on the host's disk. Nothing rewrites either name (the store replaces files by
    /// rename). Fails as `link(2)` does, e.g. across file systems.
    pub fn link_manifest(&self, key: &str, dst: &std::path::Path) -> std::io::Result<()> {
        fs::hard_link(self.manifest_path(key), dst)
    }

    pub fn manifest_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        if let Some(bytes) = self.cache.manifest_bytes(key) {
            return Ok(bytes);
        }
        let path = self.manifest_path(key);
        let bytes = fs::read(&path).map_err(StoreError::io("reading", &path))?;
        self.cache.put_manifest_bytes(key, &bytes);
        Ok(bytes)
    }

    /// The parsed manifest of a stored image (read and parsed once per process).
    pub fn manifest(&self, key: &str) -> Result<ImageManifest, StoreError> {
        if let Some(m) = self.cache.manifest(key) {
            return Ok(m);
        }
        let bytes = self.manifest_bytes(key)?;
        let m = ImageManifest::from_slice(&bytes)?;
        self.cache.put_manifest(key, &bytes, &m);
        Ok(m)
    }

    /// Re-read a stored blob and check that its decompressed content still hashes to its key.
    /// Returns a description of the problem, or None when the blob is intact.
    pub fn verify_blob(&self, key: &str) -> Result<Option<String>, StoreError> {
        let file = self.open_blob(key)?;
        let opts = ReadOptions {
            want_entries: false,
            ..ReadOptions::default()
        };
        let reader = BufReader::with_capacity(IMPORT_BUF, file);
        match read_archive(reader, &opts, |_, _| {
            Ok::<(), aci::archive::ArchiveError>(())
        }) {
            Ok(info) if info.image_id.key().as_str() == key => Ok(None),
            Ok(info) => Ok(Some(format!(
                "blob content hashes to {}, not its key",
                info.image_id.key()
            ))),
            Err(e) => Ok(Some(format!("blob is no longer a readable image: {e}"))),
        }
    }

    /// Record a use (pods and renders call this), for `image gc --grace-period`.
    ///
    /// Uses within [`TOUCH_PRECISION`] of the recorded one are not written again: the grace
    /// periods this serves are hours, and each write costs an fsync on the start path.
    pub fn touch(&self, key: &str) -> Result<(), StoreError> {
        let recent = |info: &ImageInfo| {
            now_nanos().saturating_sub(info.last_used) < TOUCH_PRECISION.as_nanos()
        };
        if self.info(key)?.as_ref().is_some_and(recent) {
            return Ok(());
        }
        let _lock = self.lock("image", key, LockMode::Exclusive)?;
        if let Some(mut info) = self.info_fresh(key)? {
            info.last_used = now_nanos();
            self.write_info(&info)?;
        }
        Ok(())
    }

    /// Remove an image's blob, manifest and info (its rendered trees are gc's business, as in
    /// rkt). The info goes first so a crash never leaves info pointing at nothing.
    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        let _lock = self.lock("image", key, LockMode::Exclusive)?;
        self.cache.forget(key);
        for path in [
            self.info_path(key),
            self.blob_path(key),
            self.manifest_path(key),
        ] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Io {
                        action: "removing",
                        path,
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    /// Make blobs and info agree after a crash: info without a blob goes; a blob without info
    /// (crash between rename and info write) gets its info rebuilt by re-reading it. Each key is
    /// only touched while its lock is free, so a live import is never disturbed.
    pub(super) fn repair_blobs(&self) -> Result<(), StoreError> {
        for info in self.list()? {
            let Ok(_lock) = self.try_lock_key(&info.key) else {
                continue;
            };
            if !self.blob_path(&info.key).exists() {
                let _ = fs::remove_file(self.info_path(&info.key));
                self.cache.forget(&info.key);
            }
        }
        let base = self.cas.join("blob/sha512");
        for shard in fs::read_dir(&base)
            .map_err(StoreError::io("reading", &base))?
            .flatten()
        {
            for blob in fs::read_dir(shard.path())
                .map_err(StoreError::io("reading", &shard.path()))?
                .flatten()
            {
                let Some(key) = blob.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let Ok(_lock) = self.try_lock_key(&key) else {
                    continue;
                };
                if matches!(self.info(&key), Ok(Some(_))) {
                    continue;
                }
                if self.rebuild_info(&key).is_err() {
                    // Not an image under its own key: it cannot be trusted, drop it.
                    let _ = fs::remove_file(blob.path());
                    let _ = fs::remove_file(self.manifest_path(&key));
                    self.cache.forget(&key);
                }
            }
        }
        Ok(())
    }

    fn try_lock_key(&self, key: &str) -> io::Result<FileLock> {
        FileLock::try_lock(&self.locks.join("image").join(key), LockMode::Exclusive)
    }

    /// Re-read a blob (checking its hash against its key) and write its manifest copy and info.
    fn rebuild_info(&self, key: &str) -> Result<(), StoreError> {
        let path = self.blob_path(key);
        let file = File::open(&path).map_err(StoreError::io("opening", &path))?;
        let meta = file.metadata().map_err(StoreError::io("reading", &path))?;
        let opts = ReadOptions {
            want_entries: false,
            ..ReadOptions::default()
        };
        let reader = BufReader::with_capacity(IMPORT_BUF, file);
        let info = read_archive(reader, &opts, |_, _| {
            Ok::<(), aci::archive::ArchiveError>(())
        })?;
        if info.image_id.key().as_str() != key {
            return Err(StoreError::NotFound(key.to_string()));
        }
        let manifest = ImageManifest::from_slice(&info.manifest)?;
        self.write_sharded(&self.manifest_path(key), &info.manifest)?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let when = mtime.map(|d| d.as_nanos()).unwrap_or_else(now_nanos);
        self.write_info(&ImageInfo {
            key: key.to_string(),
            id: info.image_id.to_string(),
            name: manifest.name.to_string(),
            labels: labels_of(&manifest),
            import_time: when,
            last_used: when,
            size: meta.len(),
            tree_store_size: 0,
            origin: Origin::default(),
        })
    }
}

fn labels_of(m: &ImageManifest) -> BTreeMap<String, String> {
    m.labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.clone()))
        .collect()
}

/// An image read and validated into a temp file of the store, not yet visible in it.
pub struct StagedImage<'s> {
    store: &'s Store,
    tmp: FileLock,
    archive: Option<ArchiveInfo>,
    manifest: Option<ImageManifest>,
    size: u64,
}

impl StagedImage<'_> {
    pub fn manifest(&self) -> &ImageManifest {
        self.manifest
            .as_ref()
            .expect("a staged image always has a manifest")
    }

    pub fn image_id(&self) -> &ImageId {
        &self
            .archive
            .as_ref()
            .expect("a staged image always has archive info")
            .image_id
    }

    /// Bytes of the image's uncompressed tar: about what rendering it writes.
    pub fn uncompressed_size(&self) -> u64 {
        self.archive
            .as_ref()
            .map(|a| a.uncompressed_size)
            .unwrap_or(0)
    }

    /// Move the image into the store under its key (or find it already there) and record it.
    pub fn commit(self, origin: Origin) -> Result<ImageInfo, StoreError> {
        let store = self.store;
        let archive = self
            .archive
            .as_ref()
            .expect("a staged image always has archive info");
        let key = archive.image_id.key();
        let key = key.as_str();
        let _lock = store.lock("image", key, LockMode::Exclusive)?;
        if let Some(mut existing) = store.info_fresh(key)? {
            if origin != Origin::default() {
                existing.origin = origin;
                store.write_info(&existing)?;
            }
            return Ok(existing);
        }
        store.write_sharded(&store.manifest_path(key), &archive.manifest)?;
        let blob = store.blob_path(key);
        let shard = blob.parent().map(PathBuf::from).unwrap_or_default();
        fsutil::create_dir_all(&shard, DIR_MODE).map_err(StoreError::io("creating", &shard))?;
        fs::rename(self.tmp.path(), &blob).map_err(StoreError::io("renaming into", &blob))?;
        fsutil::sync_dir(&shard).map_err(StoreError::io("syncing", &shard))?;
        let now = now_nanos();
        let info = ImageInfo {
            key: key.to_string(),
            id: archive.image_id.to_string(),
            name: self.manifest().name.to_string(),
            labels: labels_of(self.manifest()),
            import_time: now,
            last_used: now,
            size: self.size,
            tree_store_size: 0,
            origin,
        };
        store.write_info(&info)?;
        Ok(info)
    }
}

impl Drop for StagedImage<'_> {
    /// An uncommitted image leaves nothing behind (after commit the temp path is gone anyway).
    fn drop(&mut self) {
        let _ = fs::remove_file(self.tmp.path());
    }
}
