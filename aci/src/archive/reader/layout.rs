//! The ACI layout rules for one entry: where it may live, and its [`EntryHeader`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::{Names, RawEntry, State, lossy};
use crate::archive::ArchiveError;
use crate::entry::{EntryHeader, EntryKind, normalize_rel};

const MANIFEST: &str = "manifest";
const ROOTFS: &str = "rootfs";

/// Where an entry lives in the image layout. `full` is the normalised archive path.
pub(super) enum Place {
    Manifest(PathBuf),
    Rootfs { full: PathBuf, rel: PathBuf },
}

impl Place {
    pub(super) fn full(&self) -> &Path {
        match self {
            Place::Manifest(full) | Place::Rootfs { full, .. } => full,
        }
    }
}

/// Normalise an entry name and check it is `manifest`, `rootfs` or below `rootfs/`.
pub(super) fn place_of(raw: &[u8], kind: EntryType) -> Result<Place, ArchiveError> {
    let name = lossy(raw);
    // Old tars mark directories by a trailing '/'; refuse the ambiguity rather than guess.
    if raw.ends_with(b"/") && kind != EntryType::Directory {
        return Err(ArchiveError::Unsupported {
            path: name,
            what: "a non-directory entry whose name ends in '/'".into(),
        });
    }
    let full = normalize_rel(Path::new(OsStr::from_bytes(raw))).map_err(|source| {
        ArchiveError::BadName {
            path: name.clone(),
            source,
        }
    })?;
    let mut parts = full.components();
    match parts.next().map(|c| c.as_os_str()) {
        Some(top) if top == MANIFEST && parts.next().is_none() => Ok(Place::Manifest(full)),
        Some(top) if top == ROOTFS => {
            let rel = parts.as_path().to_path_buf();
            Ok(Place::Rootfs { full, rel })
        }
        _ => Err(ArchiveError::OutsideLayout { path: name }),
    }
}

/// A short human name of an entry type, for errors.
pub(super) fn kind_name(kind: EntryType) -> String {
    match kind {
        EntryType::Regular | EntryType::Continuous => "a regular file".into(),
        EntryType::Directory => "a directory".into(),
        EntryType::Symlink => "a symlink".into(),
        EntryType::Link => "a hard link".into(),
        EntryType::Char => "a character device".into(),
        EntryType::Block => "a block device".into(),
        EntryType::Fifo => "a fifo".into(),
        EntryType::GNUSparse => "a GNU sparse file".into(),
        other => format!("tar entry type {:?}", other.as_byte() as char),
    }
}

/// Build the header of a `rootfs` entry (`rel` is its path below `rootfs/`).
pub(super) fn entry_header(
    entry: &RawEntry<'_>,
    names: &Names,
    rel: PathBuf,
    size: u64,
    state: &State<'_>,
) -> Result<EntryHeader, ArchiveError> {
    let path = lossy(&names.raw);
    let header = entry.header();
    let tar_kind = header.entry_type();
    if rel.as_os_str().is_empty() && tar_kind != EntryType::Directory {
        return Err(ArchiveError::RootfsNotDir {
            path,
            found: kind_name(tar_kind),
        });
    }
    let field = |r: std::io::Result<u64>| r.map_err(|e| state.tar_error(e));
    let to_u32 = |field: &'static str, value: u64| {
        u32::try_from(value).map_err(|_| ArchiveError::FieldRange {
            path: path.clone(),
            field,
            value,
        })
    };
    let uid = to_u32(
        "uid",
        names.pax.uid.map_or_else(|| field(header.uid()), Ok)?,
    )?;
    let gid = to_u32(
        "gid",
        names.pax.gid.map_or_else(|| field(header.gid()), Ok)?,
    )?;
    let mtime = names.pax.mtime.map_or_else(|| field(header.mtime()), Ok)?;
    let mode = field(header.mode().map(u64::from))? as u32 & 0o7777;
    let kind = entry_kind(header, names, &rel, state)?;
    let size = if kind == EntryKind::File { size } else { 0 };
    Ok(EntryHeader {
        path: rel,
        kind,
        mode,
        uid,
        gid,
        mtime,
        size,
        xattrs: names.pax.xattrs.clone(),
    })
}

fn entry_kind(
    header: &tar::Header,
    names: &Names,
    rel: &Path,
    state: &State<'_>,
) -> Result<EntryKind, ArchiveError> {
    let path = lossy(&names.raw);
    let tar_kind = header.entry_type();
    let device = || -> Result<(u32, u32), ArchiveError> {
        let major = header.device_major().map_err(|e| state.tar_error(e))?;
        let minor = header.device_minor().map_err(|e| state.tar_error(e))?;
        major.zip(minor).ok_or_else(|| {
            state.tar_error(std::io::Error::other(
                "a device entry has no device numbers",
            ))
        })
    };
    Ok(match tar_kind {
        EntryType::Regular | EntryType::Continuous => EntryKind::File,
        EntryType::Directory => EntryKind::Dir,
        EntryType::Fifo => EntryKind::Fifo,
        EntryType::Char => {
            let (major, minor) = device()?;
            EntryKind::CharDevice { major, minor }
        }
        EntryType::Block => {
            let (major, minor) = device()?;
            EntryKind::BlockDevice { major, minor }
        }
        EntryType::Symlink => EntryKind::Symlink(symlink_target(path, names.link.as_deref())?),
        EntryType::Link => EntryKind::HardLink(hard_link_target(path, names, rel, state)?),
        other => {
            return Err(ArchiveError::Unsupported {
                path,
                what: kind_name(other),
            });
        }
    })
}

fn symlink_target(path: String, link: Option<&[u8]>) -> Result<PathBuf, ArchiveError> {
    let bad = |target: &[u8], rule| ArchiveError::BadSymlink {
        path: path.clone(),
        target: lossy(target),
        rule,
    };
    match link {
        None | Some([]) => Err(bad(b"", "the target is empty")),
        Some(t) if t.contains(&0) => Err(bad(t, "the target contains a NUL byte")),
        // Kept as stored: the extractor never follows it.
        Some(t) => Ok(PathBuf::from(OsStr::from_bytes(t))),
    }
}

/// A hard link must name an earlier, non-directory entry under `rootfs/`; returned relative to
/// the rootfs.
fn hard_link_target(
    path: String,
    names: &Names,
    rel: &Path,
    state: &State<'_>,
) -> Result<PathBuf, ArchiveError> {
    let raw = names.link.as_deref().unwrap_or_default();
    let bad = |rule| ArchiveError::BadHardLink {
        path: path.clone(),
        target: lossy(raw),
        rule,
    };
    let full = normalize_rel(Path::new(OsStr::from_bytes(raw)))
        .map_err(|_| bad("which is not a safe relative path (absolute, '..' or NUL)"))?;
    let target = match full.strip_prefix(ROOTFS) {
        Ok(t) if !t.as_os_str().is_empty() => t.to_path_buf(),
        _ => return Err(bad("which is outside rootfs/")),
    };
    if target == rel {
        return Err(bad("which is the link itself"));
    }
    match state.seen.get(&full) {
        None => Err(bad("which is not an earlier entry of the archive")),
        Some(true) => Err(bad("which is a directory")),
        Some(false) => Ok(target),
    }
}
