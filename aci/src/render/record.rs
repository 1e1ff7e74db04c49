//! Recording what a render writes, node by node, while it writes it: the type, mode, owner,
//! size and BLAKE3 digest of each file's data as it streams past, so a caller that keeps a listing
//! of the tree (the tree store) never has to walk it and read every file back.
//!
//! The record follows the renderer exactly: only entries the extractor wrote are recorded
//! (filtered, whited-out and overridden ones never reach the disk), a lower layer's directory
//! entry applied to a directory an upper layer created implicitly replaces that directory's
//! record (the extractor applies its owner and mode too), and hard links take their target's
//! record. Directories the extractor creates implicitly are `fstat`ed through the extractor's
//! resolver, because their owner is whatever the kernel gave them.
//!
//! Owners come from the headers only when the extractor applies them (`preserve_ownership`);
//! otherwise the kernel picks them (effective IDs, setgid directories), so the record is marked
//! inexact and the caller must look at the disk instead.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::entry::{EntryHeader, EntryKind, normalize_rel};
use crate::extract::{ExtractError, Extractor};

/// What kind of node a path of the rendered tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    /// A regular file with its size and a digest of its data.
    File {
        size: u64,
        digest: FileDigest,
    },
    /// A symlink with its target exactly as stored.
    Symlink(PathBuf),
    /// A fifo or device node, with its device number (0 for a fifo).
    Special {
        rdev: u64,
    },
}

/// A file's content digest, with its algorithm: a render records BLAKE3 (several times
/// cheaper than SHA-512 and only ever compared within this project); SHA-512 is kept so trees
/// listed by older versions can still be checked against their own records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDigest {
    Blake3([u8; 32]),
    Sha512([u8; 64]),
}

/// Which algorithm a [`FileDigest`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgo {
    Blake3,
    Sha512,
}

impl FileDigest {
    pub fn algo(&self) -> DigestAlgo {
        match self {
            FileDigest::Blake3(_) => DigestAlgo::Blake3,
            FileDigest::Sha512(_) => DigestAlgo::Sha512,
        }
    }
}

impl DigestAlgo {
    /// The digest of everything `r` yields.
    pub fn digest_of(self, r: &mut dyn Read) -> io::Result<FileDigest> {
        let mut h = FileHasher::new(self);
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return Ok(h.finish()),
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// An incremental [`FileDigest`].
// One hasher lives on the stack while one file is copied: no allocation per file.
#[allow(clippy::large_enum_variant)]
enum FileHasher {
    Blake3(blake3::Hasher),
    Sha512(sha2::Sha512),
}

impl FileHasher {
    fn new(algo: DigestAlgo) -> Self {
        match algo {
            DigestAlgo::Blake3 => FileHasher::Blake3(blake3::Hasher::new()),
            DigestAlgo::Sha512 => FileHasher::Sha512(sha2::Digest::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            FileHasher::Blake3(h) => {
                h.update(data);
            }
            FileHasher::Sha512(h) => sha2::Digest::update(h, data),
        }
    }

    fn finish(self) -> FileDigest {
        match self {
            FileHasher::Blake3(h) => FileDigest::Blake3(*h.finalize().as_bytes()),
            FileHasher::Sha512(h) => FileDigest::Sha512(sha2::Digest::finalize(h).into()),
        }
    }
}

/// One node of a rendered tree as it is on disk: kind, permission bits (`0o7777`) and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Every node a render wrote, by path relative to the root (the root itself excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub nodes: BTreeMap<PathBuf, Node>,
    /// False when the record cannot be trusted to match the disk (owners left to the kernel,
    /// or a hard link whose target was not recorded): read the tree instead.
    pub exact: bool,
}

/// The recorder a render carries while `record` is on.
pub(super) struct Recorder {
    pub(super) record: Record,
    /// How many of the extractor's implicit directories are already recorded.
    implicit_seen: usize,
}

impl Recorder {
    pub(super) fn new(preserve_ownership: bool) -> Self {
        Self {
            record: Record {
                nodes: BTreeMap::new(),
                exact: preserve_ownership,
            },
            implicit_seen: 0,
        }
    }

    /// Record the directories the extractor created implicitly since the last call.
    pub(super) fn implicit_dirs(&mut self, ex: &Extractor) -> Result<(), ExtractError> {
        let created = ex.implicit_dirs();
        for path in &created[self.implicit_seen.min(created.len())..] {
            let st = ex.stat_dir(path)?;
            let node = Node {
                kind: NodeKind::Dir,
                mode: st.st_mode & 0o7777,
                uid: st.st_uid,
                gid: st.st_gid,
            };
            self.record.nodes.insert(path.clone(), node);
        }
        self.implicit_seen = created.len();
        Ok(())
    }

    /// Record an entry the extractor wrote at `path`; `digest` is its data's digest for files.
    pub(super) fn written(&mut self, path: &Path, h: &EntryHeader, digest: Option<FileDigest>) {
        if path.as_os_str().is_empty() {
            return; // The root is not a node of the listing.
        }
        let kind = match &h.kind {
            EntryKind::Dir => NodeKind::Dir,
            EntryKind::File => NodeKind::File {
                size: h.size,
                digest: digest.unwrap_or(FileDigest::Blake3([0; 32])),
            },
            // Symlinks have no mode of their own on Linux: they always show 0777.
            EntryKind::Symlink(target) => {
                return self.insert(path, NodeKind::Symlink(target.clone()), 0o777, h);
            }
            EntryKind::HardLink(target) => {
                let found = normalize_rel(target)
                    .ok()
                    .and_then(|t| self.record.nodes.get(&t).cloned());
                match found {
                    Some(node) => {
                        self.record.nodes.insert(path.to_path_buf(), node);
                    }
                    None => self.record.exact = false,
                }
                return;
            }
            EntryKind::Fifo => NodeKind::Special { rdev: 0 },
            EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } => {
                NodeKind::Special {
                    rdev: rustix::fs::makedev(*major, *minor),
                }
            }
        };
        self.insert(path, kind, h.mode & 0o7777, h);
    }

    fn insert(&mut self, path: &Path, kind: NodeKind, mode: u32, h: &EntryHeader) {
        let node = Node {
            kind,
            mode,
            uid: h.uid,
            gid: h.gid,
        };
        self.record.nodes.insert(path.to_path_buf(), node);
    }
}

/// A reader that hashes every byte read through it (BLAKE3): a file's data is hashed exactly
/// as the extractor copies it (the extractor reads exactly the entry's size, never beyond).
pub(super) struct HashingReader<'r> {
    inner: &'r mut dyn Read,
    hasher: FileHasher,
}

impl<'r> HashingReader<'r> {
    pub(super) fn new(inner: &'r mut dyn Read) -> Self {
        Self {
            inner,
            hasher: FileHasher::new(DigestAlgo::Blake3),
        }
    }

    pub(super) fn digest(self) -> FileDigest {
        self.hasher.finish()
    }
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_the_reference_functions() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let b3 = DigestAlgo::Blake3.digest_of(&mut &data[..]).unwrap();
        assert_eq!(b3, FileDigest::Blake3(*blake3::hash(&data).as_bytes()));
        let sha = DigestAlgo::Sha512.digest_of(&mut &data[..]).unwrap();
        let want: [u8; 64] =
            sha2::Digest::finalize(<sha2::Sha512 as sha2::Digest>::new_with_prefix(&data)).into();
        assert_eq!(sha, FileDigest::Sha512(want));
        let mut src = &data[..];
        let mut r = HashingReader::new(&mut src);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.digest(), b3);
    }
}
