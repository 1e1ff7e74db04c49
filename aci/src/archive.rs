//! ACI archives (spec/aci.md): a tar, optionally gzip/bzip2/xz compressed, whose only top-level
//! entries are `manifest` (a regular file) and `rootfs` (a directory) with everything under it.
//!
//! Reading is one streaming pass with bounded memory: the input is decompressed, the
//! decompressed bytes are hashed (the image ID is the SHA-512 of the *uncompressed* tar, to its
//! very last byte), and every entry is validated and handed to a caller's sink as an
//! [`EntryHeader`] plus a reader over its data. The tar crate is used only as a header parser
//! (raw mode): PAX and GNU long-name records are applied here, strictly, so that what we hash,
//! validate and extract is what every other tar parser would see (T2).
//!
//! Writing builds a deterministic ACI (same tree, same bytes) from a manifest and either a
//! rootfs directory on disk or in-memory entries.

mod compression;
mod hashing;
mod pax;
mod pipeline;
mod reader;
mod walk;
mod writer;

use std::io;
use std::path::PathBuf;

use crate::entry::PathError;
pub use crate::entry::{EntryHeader, EntryKind};
use crate::types::ImageId;

pub use compression::{Compression, decompress};
pub use hashing::{HashingReader, TeeReader};
pub use reader::{image_id_and_manifest, read_archive};
pub use writer::{AciBuilder, write_aci, write_aci_entries};

/// Default limit on the size of the `manifest` entry.
pub const DEFAULT_MAX_MANIFEST_SIZE: u64 = 1024 * 1024;

/// How [`read_archive`] reads an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Largest accepted `manifest` entry, in bytes.
    pub max_manifest_size: u64,
    /// Largest accepted uncompressed tar stream (a decompression-bomb guard); `None` = no limit.
    pub max_uncompressed_size: Option<u64>,
    /// When false, `rootfs` entries are validated but not passed to the sink (hash + manifest
    /// only, e.g. while fetching).
    pub want_entries: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_manifest_size: DEFAULT_MAX_MANIFEST_SIZE,
            max_uncompressed_size: None,
            want_entries: true,
        }
    }
}

/// What one pass over an image learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// `sha512-` + 128 hex digits of the uncompressed tar stream.
    pub image_id: ImageId,
    /// The `manifest` entry, raw (not parsed here).
    pub manifest: Vec<u8>,
    pub compression: Compression,
    /// Bytes of the uncompressed tar stream, end-of-archive blocks and padding included.
    pub uncompressed_size: u64,
    /// Entries in the archive (`manifest`, `rootfs` and everything below it).
    pub entries: u64,
}

/// Why an archive cannot be read or written. Entry-scoped variants name the entry as stored.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading the image: {0}")]
    Io(#[source] io::Error),
    #[error(
        "not an ACI: unknown format (expected gzip, bzip2, xz or a ustar tar, found the first bytes {head})"
    )]
    UnknownFormat { head: String },
    #[error("the {compression} stream is corrupt or truncated: {source}")]
    Decompress {
        compression: Compression,
        #[source]
        source: io::Error,
    },
    #[error("the tar stream is invalid {where_}: {source}")]
    Tar {
        where_: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the uncompressed image is larger than the limit of {limit} bytes (a decompression bomb?); raise the uncompressed size limit if the image is genuine"
    )]
    TooLarge { limit: u64 },
    #[error("entry {path:?} has an unsafe name")]
    BadName {
        path: String,
        #[source]
        source: PathError,
    },
    #[error(
        "entry {path:?} is outside the ACI layout: only 'manifest' and 'rootfs/...' are allowed at the top level"
    )]
    OutsideLayout { path: String },
    #[error("entry {path:?} appears twice; an ACI must not contain duplicate entries")]
    Duplicate { path: String },
    #[error("the archive has no 'manifest' entry")]
    MissingManifest,
    #[error("entry {path:?} must be a regular file, found {found}")]
    ManifestNotFile { path: String, found: String },
    #[error("entry {path:?} must be a directory, found {found}")]
    RootfsNotDir { path: String, found: String },
    #[error(
        "the manifest is {size} bytes, over the limit of {limit} bytes; raise the manifest size limit (ReadOptions::max_manifest_size) if the image is genuine"
    )]
    ManifestTooLarge { size: u64, limit: u64 },
    #[error("hard link {path:?} points to {target:?}, {rule}")]
    BadHardLink {
        path: String,
        target: String,
        rule: &'static str,
    },
    #[error("symlink {path:?} has an invalid target {target:?}: {rule}")]
    BadSymlink {
        path: String,
        target: String,
        rule: &'static str,
    },
    #[error("entry {path:?}: conflicting PAX header: {detail}")]
    PaxConflict { path: String, detail: String },
    #[error("entry {path:?}: malformed PAX header: {detail}")]
    BadPax { path: String, detail: String },
    #[error("entry {path:?}: {what} is not supported in an ACI")]
    Unsupported { path: String, what: String },
    #[error("entry {path:?}: {field} {value} does not fit in 32 bits")]
    FieldRange {
        path: String,
        field: &'static str,
        value: u64,
    },
    #[error("cannot add {path:?} to the image: {rule}")]
    BadInput { path: PathBuf, rule: String },
    #[error("cannot read {path:?} while building the image: {source}")]
    SourceIo {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the image: {0}")]
    Write(#[source] io::Error),
}
