//! Safe extraction of archive entries into a directory (security.md §2, T1–T4).
//!
//! Every entry's parent directory is reached from the root's fd with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | …)` (or an `O_NOFOLLOW` walk), so no symlink is ever followed while
//! writing, not even one that points inside the root. The final component is created with
//! `*at()` calls on that parent fd and never followed; metadata is applied through fds. Paths
//! are re-checked with `entry::normalize_rel`: the caller is not trusted.
//!
//! Directory modes and times are set in [`Extractor::finish`], because writing children changes
//! a directory's mtime and a read-only directory mode could block writing them.

mod create;
mod meta;
mod resolve;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::entry::{EntryHeader, EntryKind, PathError, normalize_rel};
use create::{Ctx, Outcome};
use resolve::{ResolveError, Resolver};

/// What to do when an entry's path already exists (or was already written by this extractor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse with an error naming the entry (appc forbids duplicate entries).
    Error,
    /// Keep what is there and skip the entry.
    Skip,
}

#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Create device nodes; when false they are skipped and counted.
    pub allow_devices: bool,
    /// Apply the entries' uid/gid (needs privilege); defaults to true when running as root.
    pub preserve_ownership: bool,
    pub on_existing: Existing,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            allow_devices: false,
            preserve_ownership: rustix::process::geteuid().is_root(),
            on_existing: Existing::Error,
        }
    }
}

/// Why an entry was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A device node while `allow_devices` is off.
    Device,
    /// This extractor already wrote that path (and `on_existing` is `Skip`).
    Duplicate,
    /// Something already existed at that path (and `on_existing` is `Skip`).
    Existing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Written,
    Skipped(SkipReason),
}

/// Counters of one extraction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub fifos: u64,
    pub devices: u64,
    pub devices_skipped: u64,
    pub duplicates_skipped: u64,
    pub existing_skipped: u64,
    /// Bytes of file data written.
    pub bytes: u64,
    /// Extended attributes not set (symlinks, devices, or unsupported by the file system).
    pub xattrs_skipped: u64,
    /// Parent directories the archive did not list, created with mode 0755.
    pub implicit_dirs: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("cannot open extraction root {path:?}: {source} (it must be an existing directory)")]
    OpenRoot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("entry {path:?} refused: {source}; entries must stay inside the rootfs")]
    InvalidPath { path: PathBuf, source: PathError },
    #[error("entry for the rootfs itself must be a directory, got {kind}")]
    RootNotDir { kind: &'static str },
    #[error(
        "entry {path:?} refused: its parent {parent:?} is or goes through a symlink; nothing is written through a symlink"
    )]
    ThroughSymlink { path: PathBuf, parent: PathBuf },
    #[error("entry {path:?} refused: its parent {parent:?} is not a directory")]
    ParentNotDir { path: PathBuf, parent: PathBuf },
    #[error("entry {path:?} refused: its parent {parent:?} is on another mount than the root")]
    CrossesMount { path: PathBuf, parent: PathBuf },
    #[error("entry {path:?} appears twice in the archive; appc forbids duplicate entries")]
    Duplicate { path: PathBuf },
    #[error("entry {path:?}: something already exists at that path and is not replaced")]
    Exists { path: PathBuf },
    #[error("hard link {path:?} -> {target:?} refused: {reason}")]
    HardLink {
        path: PathBuf,
        target: PathBuf,
        reason: &'static str,
    },
    #[error("entry {path:?}: data ended after {got} of {expected} bytes")]
    ShortData {
        path: PathBuf,
        expected: u64,
        got: u64,
    },
    #[error("entry {path:?}: reading its data failed: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("entry {path:?}: cannot set extended attribute {name:?}: {source}")]
    Xattr {
        path: PathBuf,
        name: String,
        source: std::io::Error,
    },
    #[error("entry {path:?}: cannot {op} it: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
}

/// A directory whose mode and times are applied in `finish`.
struct PendingDir {
    path: PathBuf,
    mode: u32,
    mtime: u64,
}

/// Writes entries into one root directory. See the module documentation for the rules.
pub struct Extractor {
    res: Resolver,
    opts: ExtractOptions,
    written: HashSet<PathBuf>,
    dirs: Vec<PendingDir>,
    buf: Vec<u8>,
    stats: Stats,
}

impl Extractor {
    /// Open `root` (which must exist and be a directory) as the extraction root.
    pub fn new(root: &Path, opts: ExtractOptions) -> Result<Self, ExtractError> {
        let open_err = |e: Errno| ExtractError::OpenRoot {
            path: root.to_path_buf(),
            source: e.into(),
        };
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(root, flags, Mode::empty()).map_err(open_err)?;
        let res = Resolver::new(fd).map_err(open_err)?;
        Ok(Self {
            res,
            opts,
            written: HashSet::new(),
            dirs: Vec::new(),
            buf: Vec::new(),
            stats: Stats::default(),
        })
    }

    pub fn options(&self) -> &ExtractOptions {
        &self.opts
    }

    /// The parent directories created so far that the archive did not list, in creation order.
    pub fn implicit_dirs(&self) -> &[PathBuf] {
        &self.stats.implicit_dirs
    }

    /// `fstat` of directory `rel` (normalised, relative to the root), reached without following
    /// anything, like every path this extractor touches.
    pub fn stat_dir(&self, rel: &Path) -> Result<rustix::fs::Stat, ExtractError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = self
            .res
            .open_beneath(rel, flags)
            .map_err(|e| resolve_err(rel, rel, e))?;
        rustix::fs::fstat(&fd).map_err(|e| meta::io_err(rel, "stat", e))
    }

    /// Write one entry; for regular files exactly `h.size` bytes are read from `data`. A skipped
    /// entry's data is left unread (archive readers skip to the next header themselves).
    pub fn apply(&mut self, h: &EntryHeader, data: &mut dyn Read) -> Result<Applied, ExtractError> {
        let path = normalize_rel(&h.path).map_err(|source| ExtractError::InvalidPath {
            path: h.path.clone(),
            source,
        })?;
        if self.written.contains(&path) {
            return match self.opts.on_existing {
                Existing::Error => Err(ExtractError::Duplicate { path }),
                Existing::Skip => {
                    self.stats.duplicates_skipped += 1;
                    Ok(Applied::Skipped(SkipReason::Duplicate))
                }
            };
        }
        let is_device = matches!(
            h.kind,
            EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. }
        );
        if is_device && !self.opts.allow_devices {
            self.stats.devices_skipped += 1;
            return Ok(Applied::Skipped(SkipReason::Device));
        }
        let applied = match path.file_name() {
            None => self.apply_root(h, &path)?,
            Some(name) => self.apply_named(h, &path, name, data)?,
        };
        if applied == Applied::Written {
            self.written.insert(path);
        }
        Ok(applied)
    }

    /// Apply directory modes and times (deepest first, so a parent's restrictive mode never
    /// blocks reaching its children) and return the counters.
    pub fn finish(mut self) -> Result<Stats, ExtractError> {
        self.dirs
            .sort_by_key(|d| std::cmp::Reverse(d.path.components().count()));
        for d in &self.dirs {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY;
            let fd = self
                .res
                .open_beneath(&d.path, flags)
                .map_err(|e| resolve_err(&d.path, &d.path, e))?;
            meta::chmod_fd(fd.as_fd(), d.mode, &d.path)?;
            meta::times_fd(fd.as_fd(), d.mtime, &d.path)?;
        }
        Ok(self.stats)
    }

    fn apply_root(&mut self, h: &EntryHeader, path: &Path) -> Result<Applied, ExtractError> {
        if h.kind != EntryKind::Dir {
            return Err(ExtractError::RootNotDir {
                kind: kind_name(&h.kind),
            });
        }
        let fd = self
            .res
            .open_beneath(Path::new(""), OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| resolve_err(path, path, e))?;
        meta::apply_fd(
            fd.as_fd(),
            h,
            path,
            self.opts.preserve_ownership,
            false,
            &mut self.stats,
        )?;
        self.dirs.push(PendingDir {
            path: PathBuf::new(),
            mode: h.mode,
            mtime: h.mtime,
        });
        self.stats.dirs += 1;
        Ok(Applied::Written)
    }

    fn apply_named(
        &mut self,
        h: &EntryHeader,
        path: &Path,
        name: &OsStr,
        data: &mut dyn Read,
    ) -> Result<Applied, ExtractError> {
        let parent_rel = path.parent().unwrap_or(Path::new(""));
        // A hard link's target is resolved first: it needs the resolver while the parent fd
        // below borrows it.
        let link = match &h.kind {
            EntryKind::HardLink(target) => Some(self.link_target(path, target)?),
            _ => None,
        };
        let mut created = Vec::new();
        let parent = self
            .res
            .parent(parent_rel, true, &mut created)
            .map_err(|e| resolve_err(path, parent_rel, e))?;
        self.stats.implicit_dirs.append(&mut created);
        let ctx = Ctx {
            h,
            path,
            name,
            parent,
            opts: &self.opts,
        };
        let stats = &mut self.stats;
        let outcome = match (&h.kind, link) {
            (EntryKind::HardLink(_), Some((tparent, tname, target))) => {
                ctx.hard_link(tparent.as_fd(), &tname, &target, stats)?
            }
            (EntryKind::HardLink(_), None) => unreachable_link(path)?,
            (EntryKind::File, _) => ctx.file(data, &mut self.buf, stats)?,
            (EntryKind::Dir, _) => {
                let out = ctx.dir(stats)?;
                if out == Outcome::Done {
                    let mode = h.mode;
                    self.dirs.push(PendingDir {
                        path: path.to_path_buf(),
                        mode,
                        mtime: h.mtime,
                    });
                }
                out
            }
            (EntryKind::Symlink(target), _) => ctx.symlink(target, stats)?,
            (EntryKind::Fifo, _) => ctx.fifo(stats)?,
            (EntryKind::CharDevice { major, minor }, _) => {
                ctx.device(FileType::CharacterDevice, *major, *minor, stats)?
            }
            (EntryKind::BlockDevice { major, minor }, _) => {
                ctx.device(FileType::BlockDevice, *major, *minor, stats)?
            }
        };
        match outcome {
            Outcome::Done => Ok(Applied::Written),
            Outcome::Exists => match self.opts.on_existing {
                Existing::Error => Err(ExtractError::Exists {
                    path: path.to_path_buf(),
                }),
                Existing::Skip => {
                    self.stats.existing_skipped += 1;
                    Ok(Applied::Skipped(SkipReason::Existing))
                }
            },
        }
    }

    /// The target's parent directory (O_PATH), name and normalised path, resolved with the same
    /// rules as every entry path, plus checks that it exists and is not a directory.
    fn link_target(
        &self,
        path: &Path,
        raw: &Path,
    ) -> Result<(OwnedFd, PathBuf, PathBuf), ExtractError> {
        let fail = |reason| ExtractError::HardLink {
            path: path.to_path_buf(),
            target: raw.to_path_buf(),
            reason,
        };
        let target = normalize_rel(raw)
            .map_err(|_| fail("the target leaves the rootfs (absolute, '..' or NUL)"))?;
        let Some(tname) = target.file_name() else {
            return Err(fail("the target is the rootfs directory"));
        };
        let tparent_rel = target.parent().unwrap_or(Path::new(""));
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        let tparent = self
            .res
            .open_beneath(tparent_rel, flags)
            .map_err(|e| match e {
                ResolveError::Symlink => fail("the target's path goes through a symlink"),
                ResolveError::Missing => fail("the target does not exist"),
                ResolveError::NotDir => fail("a parent of the target is not a directory"),
                ResolveError::CrossesMount => fail("the target is on another mount"),
                ResolveError::Io(..) => fail("the target's directory cannot be opened"),
            })?;
        let st = rustix::fs::statat(&tparent, tname, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|_| fail("the target does not exist"))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            return Err(fail("the target is a directory"));
        }
        let tname = PathBuf::from(tname);
        Ok((tparent, tname, target))
    }
}

/// The hard-link target is always resolved before the match; kept as an error, not a panic.
fn unreachable_link(path: &Path) -> Result<Outcome, ExtractError> {
    Err(ExtractError::Io {
        path: path.to_path_buf(),
        op: "resolve the target of",
        source: Errno::INVAL.into(),
    })
}

fn resolve_err(path: &Path, parent: &Path, e: ResolveError) -> ExtractError {
    let (path, parent) = (path.to_path_buf(), parent.to_path_buf());
    match e {
        ResolveError::Symlink => ExtractError::ThroughSymlink { path, parent },
        ResolveError::NotDir => ExtractError::ParentNotDir { path, parent },
        ResolveError::CrossesMount => ExtractError::CrossesMount { path, parent },
        ResolveError::Missing => ExtractError::Io {
            path,
            op: "resolve the parent of",
            source: Errno::NOENT.into(),
        },
        ResolveError::Io(op, e) => ExtractError::Io {
            path,
            op,
            source: e.into(),
        },
    }
}

fn kind_name(k: &EntryKind) -> &'static str {
    match k {
        EntryKind::File => "a regular file",
        EntryKind::Dir => "a directory",
        EntryKind::Symlink(_) => "a symlink",
        EntryKind::HardLink(_) => "a hard link",
        EntryKind::CharDevice { .. } => "a character device",
        EntryKind::BlockDevice { .. } => "a block device",
        EntryKind::Fifo => "a fifo",
    }
}

#[cfg(test)]
mod tests;
