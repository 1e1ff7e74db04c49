//! Reading an app's root file system as overlayfs showed it, without mounting anything: the
//! upper dir over the lower dir, honouring overlayfs's markers in the upper dir:
//! a whiteout (a character device 0/0, or a file with `trusted.overlay.whiteout`) deletes the
//! lower entry of that name; a directory with `trusted.overlay.opaque=y` hides the whole lower
//! directory. `trusted.overlay.*` attributes themselves are never reported. Entries come depth
//! first, each directory's children sorted by name bytes, symlinks never followed; hard links
//! (same inode seen twice) come as links to the first path.
//! (rkt-rs's stage1 mounts overlay without `redirect_dir`/`metacopy`, so those are not handled.)

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use aci::entry::{EntryHeader, EntryKind};

use super::{Result, io_err};

const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";
const WHITEOUT_XATTR: &[u8] = b"trusted.overlay.whiteout";

/// The layers of one app's root: `lower` is None for a plain directory (`--no-overlay` pods),
/// in which case nothing in `upper` is treated as an overlay marker.
#[derive(Debug, Clone)]
pub struct OverlayDirs {
    pub lower: Option<PathBuf>,
    pub upper: PathBuf,
}

/// Call `f` for every entry of the merged tree (the root first, with an empty path); the
/// second argument is the on-disk file to read a regular file's data from.
pub fn merge_entries(
    dirs: &OverlayDirs,
    mut f: impl FnMut(EntryHeader, Option<&Path>) -> Result<()>,
) -> Result<()> {
    let mut walk = Walk {
        overlay: dirs.lower.is_some(),
        links: HashMap::new(),
        f: &mut f,
    };
    let upper = lstat_opt(&dirs.upper)?.filter(Metadata::is_dir);
    let lower = match &dirs.lower {
        Some(l) => lstat_opt(l)?.filter(Metadata::is_dir),
        None => None,
    };
    let (root_path, root_meta) = match (&upper, &lower) {
        (Some(m), _) => (dirs.upper.clone(), m.clone()),
        (None, Some(m)) => (dirs.lower.clone().unwrap_or_default(), m.clone()),
        (None, None) => {
            return Err(io_err("read the app root", &dirs.upper)(
                std::io::ErrorKind::NotFound.into(),
            ));
        }
    };
    let hide_lower = upper.is_some() && walk.overlay && is_opaque(&dirs.upper)?;
    walk.emit(PathBuf::new(), &root_path, &root_meta)?;
    walk.dir(
        &PathBuf::new(),
        lower.and(dirs.lower.as_deref()).filter(|_| !hide_lower),
        upper.and(Some(dirs.upper.as_path())),
    )
}

struct Walk<'f, F> {
    overlay: bool,
    links: HashMap<(u64, u64), PathBuf>,
    f: &'f mut F,
}

impl<F: FnMut(EntryHeader, Option<&Path>) -> Result<()>> Walk<'_, F> {
    /// The children of `rel`, which is a directory in `lower` and/or `upper` (absolute paths).
    fn dir(&mut self, rel: &Path, lower: Option<&Path>, upper: Option<&Path>) -> Result<()> {
        let mut names = BTreeSet::new();
        for d in [lower, upper].into_iter().flatten() {
            names.extend(list(d)?);
        }
        // BTreeSet<OsString> orders by bytes on Unix, as the ACI writer expects.
        for name in names {
            let child_rel = rel.join(&name);
            let up = upper.map(|u| u.join(&name));
            let lo = lower.map(|l| l.join(&name));
            let up_meta = match &up {
                Some(p) => lstat_opt(p)?,
                None => None,
            };
            let lo_meta = match &lo {
                Some(p) => lstat_opt(p)?,
                None => None,
            };
            match (up.zip(up_meta), lo.zip(lo_meta)) {
                (Some((up, um)), lo) => {
                    if self.overlay && is_whiteout(&up, &um)? {
                        continue;
                    }
                    self.emit(child_rel.clone(), &up, &um)?;
                    if um.is_dir() {
                        let see_lower = self.overlay && !is_opaque(&up)?;
                        let lower_dir = lo.filter(|(_, m)| see_lower && m.is_dir()).map(|(p, _)| p);
                        self.dir(&child_rel, lower_dir.as_deref(), Some(&up))?;
                    }
                }
                (None, Some((lo, lm))) => {
                    self.emit(child_rel.clone(), &lo, &lm)?;
                    if lm.is_dir() {
                        self.dir(&child_rel, Some(&lo), None)?;
                    }
                }
                (None, None) => {} // vanished between listing and looking
            }
        }
        Ok(())
    }

    fn emit(&mut self, rel: PathBuf, abs: &Path, meta: &Metadata) -> Result<()> {
        let Some(kind) = self.kind(abs, meta, &rel)? else {
            return Ok(());
        };
        let is_file = kind == EntryKind::File;
        let header = EntryHeader {
            path: rel,
            size: if is_file { meta.size() } else { 0 },
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: u64::try_from(meta.mtime()).unwrap_or(0),
            xattrs: xattrs(abs)?
                .into_iter()
                .filter(|(n, _)| !n.starts_with(OVERLAY_XATTR_PREFIX))
                .collect(),
        };
        (self.f)(header, is_file.then_some(abs))
    }

    fn kind(&mut self, abs: &Path, meta: &Metadata, rel: &Path) -> Result<Option<EntryKind>> {
        let ft = meta.file_type();
        if !ft.is_dir() && meta.nlink() > 1 {
            let first = self
                .links
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
            EntryKind::Symlink(fs::read_link(abs).map_err(io_err("read the link", abs))?)
        } else if ft.is_char_device() {
            EntryKind::CharDevice { major, minor }
        } else if ft.is_block_device() {
            EntryKind::BlockDevice { major, minor }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            return Ok(None); // sockets cannot go in a tar
        }))
    }
}

fn list(dir: &Path) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err("list", dir))? {
        out.push(e.map_err(io_err("list", dir))?.file_name());
    }
    Ok(out)
}

fn lstat_opt(path: &Path) -> Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("stat", path)(e)),
    }
}

fn is_whiteout(path: &Path, meta: &Metadata) -> Result<bool> {
    if meta.file_type().is_char_device() && meta.rdev() == 0 {
        return Ok(true);
    }
    Ok(meta.is_file() && xattr(path, WHITEOUT_XATTR)?.is_some())
}

fn is_opaque(dir: &Path) -> Result<bool> {
    Ok(xattr(dir, OPAQUE_XATTR)?.is_some_and(|v| v == b"y"))
}

fn xattr(path: &Path, name: &[u8]) -> Result<Option<Vec<u8>>> {
    Ok(xattrs(path)?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v))
}

/// All extended attributes of `path` (not following a symlink), sorted by name.
fn xattrs(path: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let errno = |e: rustix::io::Errno| io_err("read the extended attributes of", path)(e.into());
    let names = match sized(
        || rustix::fs::llistxattr_query(path),
        |buf| rustix::fs::llistxattr(path, buf),
    ) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(errno(e)),
    };
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        match sized(
            || rustix::fs::lgetxattr_query(path, name),
            |buf| rustix::fs::lgetxattr(path, name, buf),
        ) {
            Ok(v) => out.push((name.to_vec(), v)),
            Err(rustix::io::Errno::NODATA) => {} // removed meanwhile
            Err(e) => return Err(errno(e)),
        }
    }
    out.sort();
    Ok(out)
}

/// Query a length, then fetch; again if the value grew in between.
fn sized(
    mut query: impl FnMut() -> rustix::io::Result<usize>,
    mut fetch: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>,
) -> rustix::io::Result<Vec<u8>> {
    for _ in 0..8 {
        let len = query()?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0; len];
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
