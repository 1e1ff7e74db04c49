//! The layer store: compressed layer blobs by digest and one rendered tree per layer.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::OciError;
use super::unpack::{UnpackStats, unpack_layer};
use crate::fsutil::{self, FileLock, LockMode};
use crate::store::Store;
use crate::store::space::{GuardedRead, GuardedWrite, SpaceGuard};

const DIR_MODE: u32 = 0o750;
const FILE_MODE: u32 = 0o640;
/// Prefix of a layer's tree ID in `cas/tree/`.
pub const TREE_PREFIX: &str = "layer-sha256-";

/// Access to the layer area of a [`Store`].
#[derive(Debug, Clone)]
pub struct Layers {
    cas: PathBuf,
    locks: PathBuf,
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> OciError {
    let path = path.to_path_buf();
    move |source| OciError::Io {
        action,
        path,
        source,
    }
}

/// The hex part of a `sha256:<hex>` digest (validated by the caller).
fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

impl Layers {
    pub fn new(store: &Store) -> Result<Layers, OciError> {
        let cas = store.cas_dir().to_path_buf();
        let data = cas.parent().unwrap_or(Path::new("/")).to_path_buf();
        let layers = Layers {
            locks: data.join("locks"),
            cas,
        };
        let dir = layers.cas.join("layers/sha256");
        fsutil::create_dir_all(&dir, DIR_MODE).map_err(io_err("creating", &dir))?;
        Ok(layers)
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.cas.join("layers/sha256").join(hex_of(digest))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Every stored layer blob's digest.
    pub fn blobs(&self) -> Result<Vec<String>, OciError> {
        let dir = self.cas.join("layers/sha256");
        let mut out: Vec<String> = fs::read_dir(&dir)
            .map_err(io_err("reading", &dir))?
            .flatten()
            .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
            .collect();
        out.sort();
        Ok(out)
    }

    pub fn tree_id(diff_id: &str) -> String {
        format!("{TREE_PREFIX}{}", hex_of(diff_id))
    }

    pub fn tree_dir(&self, diff_id: &str) -> PathBuf {
        self.cas.join("tree").join(Self::tree_id(diff_id))
    }

    pub fn rootfs(&self, diff_id: &str) -> PathBuf {
        self.tree_dir(diff_id).join("rootfs")
    }

    pub fn is_rendered(&self, diff_id: &str) -> bool {
        self.tree_dir(diff_id).join("rendered").exists()
    }

    /// Stream `input` into the blob store, checking it hashes to `expected` (when given) before
    /// it becomes visible; returns its digest. At most `limit` bytes are read.
    pub fn put_blob(
        &self,
        expected: Option<&str>,
        input: impl Read,
        limit: u64,
        what: &str,
    ) -> Result<String, OciError> {
        let tmp_dir = self.cas.join("tmp");
        // The lock on the temp file tells the store's repair that a writer is alive. A repair
        // can get to the file between its creation and our lock and unlink it: then we hold a
        // lock on a file with no name, and take another.
        let (tmp, _lock) = loop {
            let tmp = tmp_dir.join(format!(
                "layer-{}-{}",
                std::process::id(),
                crate::store::info::now_nanos()
            ));
            let lock =
                FileLock::lock(&tmp, LockMode::Exclusive).map_err(io_err("locking", &tmp))?;
            let named = lock.file().metadata().map(|m| m.nlink() > 0);
            if named.map_err(io_err("checking", &tmp))? {
                break (tmp, lock);
            }
        };
        let result = self.write_tmp(&tmp, input, limit, what);
        let digest = match result {
            Ok(d) => d,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Some(want) = expected
            && want != digest
        {
            let _ = fs::remove_file(&tmp);
            return Err(OciError::DigestMismatch {
                what: what.to_string(),
                expected: want.to_string(),
                actual: digest,
            });
        }
        let dst = self.blob_path(&digest);
        fs::rename(&tmp, &dst).map_err(io_err("storing", &dst))?;
        Ok(digest)
    }

    fn write_tmp(
        &self,
        tmp: &Path,
        input: impl Read,
        limit: u64,
        what: &str,
    ) -> Result<String, OciError> {
        let file = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(tmp)
            .map_err(io_err("writing", tmp))?;
        let mut out = GuardedWrite::new(&file, SpaceGuard::new(tmp));
        let mut hasher = Sha256::new();
        let mut reader = input.take(limit.saturating_add(1));
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(OciError::Fetch {
                        what: what.to_string(),
                        problem: e.to_string(),
                    });
                }
            };
            total += n as u64;
            if total > limit {
                return Err(OciError::TooLarge {
                    what: what.to_string(),
                    limit,
                });
            }
            hasher.update(&buf[..n]);
            if let Err(e) = out.write_all(&buf[..n]) {
                return Err(match out.refused.take() {
                    Some(error) => OciError::Space {
                        what: what.to_string(),
                        error,
                    },
                    None => io_err("writing", tmp)(e),
                });
            }
        }
        file.sync_all().map_err(io_err("syncing", tmp))?;
        Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// Render the layer `diff_id` from the blob `digest` over `lowers` (rootfs dirs of the layers
    /// below, top first), unless it is rendered already. The uncompressed stream must hash to
    /// `diff_id`, or nothing is kept.
    pub fn render(
        &self,
        diff_id: &str,
        digest: &str,
        lowers: &[PathBuf],
        limit: u64,
    ) -> Result<Option<UnpackStats>, OciError> {
        let id = Self::tree_id(diff_id);
        let lock_path = self.locks.join("tree").join(&id);
        let _lock = FileLock::lock(&lock_path, LockMode::Exclusive)
            .map_err(io_err("locking", &lock_path))?;
        let dir = self.tree_dir(diff_id);
        if dir.join("rendered").exists() {
            return Ok(None);
        }
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err("removing incomplete tree", &dir))?;
        }
        let rootfs = dir.join("rootfs");
        fsutil::create_dir_all(&rootfs, DIR_MODE).map_err(io_err("creating", &rootfs))?;
        fs::set_permissions(&rootfs, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(io_err("chmod", &rootfs))?;
        match self.unpack_verified(diff_id, digest, &rootfs, lowers, limit) {
            Ok(stats) => {
                let files = [("diffid", diff_id), ("blob", digest), ("image", "")];
                for (name, body) in files {
                    let p = dir.join(name);
                    fsutil::write_atomic(&p, body.as_bytes(), FILE_MODE)
                        .map_err(io_err("writing", &p))?;
                }
                let marker = dir.join("rendered");
                fsutil::write_atomic(&marker, b"", FILE_MODE)
                    .map_err(io_err("writing", &marker))?;
                Ok(Some(stats))
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    fn unpack_verified(
        &self,
        diff_id: &str,
        digest: &str,
        rootfs: &Path,
        lowers: &[PathBuf],
        limit: u64,
    ) -> Result<UnpackStats, OciError> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(io_err("opening", &path))?;
        let stream = decompress(BufReader::new(file), digest)?;
        let mut hashing = HashingRead {
            inner: Limited::new(GuardedRead::new(stream, SpaceGuard::new(rootfs)), limit),
            hasher: Sha256::new(),
        };
        let unpacked = unpack_layer(&mut hashing, rootfs, lowers, digest).and_then(|stats| {
            // Hash what follows the tar's end marker too: the diff ID is of the whole stream.
            io::copy(&mut hashing, &mut io::sink()).map_err(|e| OciError::Layer {
                layer: digest.to_string(),
                problem: e.to_string(),
            })?;
            Ok(stats)
        });
        // The limit or the free space, when they stopped the stream, are the real cause of
        // whatever the tar parser made of it.
        if hashing.inner.over() {
            return Err(OciError::TooLarge {
                what: format!("uncompressed layer {digest}"),
                limit,
            });
        }
        if let Some(error) = hashing.inner.inner.refused.take() {
            return Err(OciError::Space {
                what: format!("layer {digest}"),
                error,
            });
        }
        let mut stats = unpacked?;
        stats.bytes = hashing.inner.count;
        let actual = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
        if actual != diff_id {
            return Err(OciError::DigestMismatch {
                what: format!("uncompressed layer {digest}"),
                expected: diff_id.to_string(),
                actual,
            });
        }
        Ok(stats)
    }

    /// Remove a layer's blob (its tree goes with `Store::remove_tree` or image gc).
    pub fn remove_blob(&self, digest: &str) -> Result<(), OciError> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("removing", &p)(e)),
            _ => Ok(()),
        }
    }
}

struct HashingRead<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Counts an uncompressed stream and fails the read once it passes `limit`: a decompression
/// bomb stops there instead of at the end of the disk.
pub(crate) struct Limited<R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
    limit: u64,
}

impl<R> Limited<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Limited {
            inner,
            count: 0,
            limit,
        }
    }

    pub(crate) fn over(&self) -> bool {
        self.count > self.limit
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.over() {
            return Err(io::Error::other("over the image size limit"));
        }
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.over() {
            return Err(io::Error::other("over the image size limit"));
        }
        Ok(n)
    }
}

const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// A layer's tar stream: gzip, zstd or plain, told apart by magic number.
pub fn decompress<'a>(
    mut r: impl BufRead + 'a,
    what: &str,
) -> Result<Box<dyn Read + 'a>, OciError> {
    let head = r.fill_buf().map_err(|e| OciError::Layer {
        layer: what.to_string(),
        problem: e.to_string(),
    })?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else if head.starts_with(ZSTD_MAGIC) {
        let d = ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| OciError::Layer {
            layer: what.to_string(),
            problem: format!("zstd: {e}"),
        })?;
        Ok(Box::new(d))
    } else {
        Ok(Box::new(r))
    }
}
