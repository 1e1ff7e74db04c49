//! Walk a rootfs directory on disk into [`EntryHeader`]s, deterministically: depth first, each
//! directory's children sorted by name bytes, symlinks never followed.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::ArchiveError;
use crate::entry::{EntryHeader, EntryKind};

/// Call `f` for every node under `root` (the root itself first, with an empty path). The second
/// argument is the on-disk path to read data from, for regular files only. Sockets are skipped.
pub(super) fn walk_rootfs(
    root: &Path,
    mut f: impl FnMut(EntryHeader, Option<&Path>) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let meta = lstat(root)?;
    if !meta.is_dir() {
        return Err(ArchiveError::BadInput {
            path: root.to_path_buf(),
            rule: "the rootfs must be a directory".into(),
        });
    }
    // (device, inode) of multiply-linked files → the first path seen, for hard links.
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    // Pending relative paths; children are pushed in reverse so they pop sorted.
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = root.join(&rel);
        let meta = lstat(&abs)?;
        let Some(kind) = kind_of(&abs, &meta, &rel, &mut links)? else {
            continue;
        };
        if kind == EntryKind::Dir {
            let mut children = Vec::new();
            for child in fs::read_dir(&abs).map_err(|e| source_io(&abs, e))? {
                children.push(child.map_err(|e| source_io(&abs, e))?.file_name());
            }
            children.sort_by(|a, b| b.as_encoded_bytes().cmp(a.as_encoded_bytes()));
            stack.extend(children.into_iter().map(|c| rel.join(c)));
        }
        let size = if kind == EntryKind::File {
            meta.size()
        } else {
            0
        };
        let is_file = kind == EntryKind::File;
        let header = EntryHeader {
            path: rel,
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: u64::try_from(meta.mtime()).unwrap_or(0),
            size,
            xattrs: xattrs(&abs)?,
        };
        f(header, is_file.then_some(abs.as_path()))?;
    }
    Ok(())
}

fn kind_of(
    abs: &Path,
    meta: &Metadata,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<Option<EntryKind>, ArchiveError> {
    let ft = meta.file_type();
    if !ft.is_dir() && meta.nlink() > 1 {
        let first = links
            .entry((meta.dev(), meta.ino()))
            .or_insert_with(|| rel.to_path_buf());
        if first != rel {
            return Ok(Some(EntryKind::HardLink(first.clone())));
        }
    }
    let (major, minor) = (
        rustix::fs::major(meta.rdev()),
        rustix::fs::minor(meta.rdev()),
    );
    Ok(Some(if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else if ft.is_symlink() {
        EntryKind::Symlink(fs::read_link(abs).map_err(|e| source_io(abs, e))?)
    } else if ft.is_char_device() {
        EntryKind::CharDevice { major, minor }
    } else if ft.is_block_device() {
        EntryKind::BlockDevice { major, minor }
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else {
        return Ok(None);
    }))
}

/// Open a regular file for reading without following a symlink swapped in since the walk.
pub(super) fn open_nofollow(path: &Path) -> Result<File, ArchiveError> {
    File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| source_io(path, e))
}

type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// The node's extended attributes, sorted by name; none where the file system has no xattrs.
fn xattrs(path: &Path) -> Result<Xattrs, ArchiveError> {
    let unsupported = |e: rustix::io::Errno| e == rustix::io::Errno::NOTSUP;
    let names = match read_sized(
        |buf| rustix::fs::llistxattr(path, buf),
        || rustix::fs::llistxattr_query(path),
    ) {
        Ok(names) => names,
        Err(e) if unsupported(e) => return Ok(Vec::new()),
        Err(e) => return Err(source_io(path, e.into())),
    };
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let value = match read_sized(
            |buf| rustix::fs::lgetxattr(path, name, buf),
            || rustix::fs::lgetxattr_query(path, name),
        ) {
            Ok(v) => v,
            // Removed between listing and reading.
            Err(rustix::io::Errno::NODATA) => continue,
            Err(e) => return Err(source_io(path, e.into())),
        };
        out.push((name.to_vec(), value));
    }
    out.sort();
    Ok(out)
}

/// Query a size, then fetch; retry when the value grew in between (ERANGE).
fn read_sized(
    mut fetch: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>,
    mut query: impl FnMut() -> rustix::io::Result<usize>,
) -> rustix::io::Result<Vec<u8>> {
    for _ in 0..8 {
        let len = query()?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; len];
        match fetch(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(rustix::io::Errno::RANGE)
}

fn lstat(path: &Path) -> Result<Metadata, ArchiveError> {
    fs::symlink_metadata(path).map_err(|e| source_io(path, e))
}

fn source_io(path: &Path, source: std::io::Error) -> ArchiveError {
    ArchiveError::SourceIo {
        path: path.to_path_buf(),
        source,
    }
}
