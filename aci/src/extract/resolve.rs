//! Resolving directories inside the extraction root through file descriptors.
//!
//! Every lookup starts at the root's O_PATH fd and refuses any symlink on the way, even one that
//! points back inside: a rootfs under construction is hostile input, and "inside" is only
//! decidable without races when nothing is followed at all. `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` does this in the kernel; on kernels without it
//! (ENOSYS, or EPERM from an old seccomp profile) we walk one component at a time with
//! `O_NOFOLLOW`, checking that each directory is on the root's mount.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why a directory inside the root could not be reached.
#[derive(Debug)]
pub(super) enum ResolveError {
    /// A component is a symlink (never followed).
    Symlink,
    /// A component exists but is not a directory.
    NotDir,
    /// A component lies on another mount than the root.
    CrossesMount,
    /// A component does not exist (only when not asked to create it).
    Missing,
    /// Any other system error, with the operation that failed.
    Io(&'static str, Errno),
}

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

pub(super) struct Resolver {
    root: OwnedFd,
    root_dev: u64,
    /// False once `openat2` returned ENOSYS (or when a test forces the fallback).
    pub(super) use_openat2: bool,
    /// The last parent directory resolved: archives list entries directory by directory, so
    /// consecutive files usually share it.
    cache: Option<(PathBuf, OwnedFd)>,
}

impl Resolver {
    pub(super) fn new(root: OwnedFd) -> Result<Self, Errno> {
        let root_dev = rustix::fs::fstat(&root)?.st_dev;
        Ok(Self {
            root,
            root_dev,
            use_openat2: true,
            cache: None,
        })
    }

    /// The O_PATH fd of directory `rel` (relative, already normalised), creating missing
    /// directories (mode 0755) when `create` is set; their paths are appended to `created`.
    pub(super) fn parent(
        &mut self,
        rel: &Path,
        create: bool,
        created: &mut Vec<PathBuf>,
    ) -> Result<BorrowedFd<'_>, ResolveError> {
        if rel.as_os_str().is_empty() {
            return Ok(self.root.as_fd());
        }
        let hit = matches!(&self.cache, Some((p, _)) if p == rel);
        if !hit {
            let fd = self.open_dir(rel, create, created)?;
            self.cache = Some((rel.to_path_buf(), fd));
        }
        match &self.cache {
            Some((_, fd)) => Ok(fd.as_fd()),
            None => Err(ResolveError::Missing),
        }
    }

    /// Open `rel` (a directory or any node, per `oflags`) beneath the root without following
    /// anything. `rel` empty means the root itself.
    pub(super) fn open_beneath(&self, rel: &Path, oflags: OFlags) -> Result<OwnedFd, ResolveError> {
        let oflags = oflags | OFlags::CLOEXEC;
        if rel.as_os_str().is_empty() {
            return rustix::fs::openat(&self.root, ".", oflags, Mode::empty())
                .map_err(|e| ResolveError::Io("open", e));
        }
        if self.use_openat2 {
            match rustix::fs::openat2(&self.root, rel, oflags, Mode::empty(), RESOLVE) {
                Err(Errno::NOSYS | Errno::PERM) => {}
                other => return other.map_err(classify),
            }
        }
        let parent = rel.parent().unwrap_or(Path::new(""));
        let name = rel.file_name().ok_or(ResolveError::Missing)?;
        let pfd = self.walk(parent, false, &mut Vec::new())?;
        let fd = rustix::fs::openat(&pfd, name, oflags | OFlags::NOFOLLOW, Mode::empty())
            .map_err(classify)?;
        self.check_dev(&fd)?;
        Ok(fd)
    }

    fn open_dir(
        &mut self,
        rel: &Path,
        create: bool,
        created: &mut Vec<PathBuf>,
    ) -> Result<OwnedFd, ResolveError> {
        if self.use_openat2 {
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            match rustix::fs::openat2(&self.root, rel, flags, Mode::empty(), RESOLVE) {
                Ok(fd) => return Ok(fd),
                // EPERM: seccomp profiles that predate openat2 reject it that way.
                Err(Errno::NOSYS | Errno::PERM) => self.use_openat2 = false,
                // Something is missing: the walk below creates it, one checked step at a time.
                Err(Errno::NOENT) if create => {}
                Err(e) => return Err(classify(e)),
            }
        }
        self.walk(rel, create, created)
    }

    /// Component-by-component resolution with `O_NOFOLLOW`, optionally creating directories.
    fn walk(
        &self,
        rel: &Path,
        create: bool,
        created: &mut Vec<PathBuf>,
    ) -> Result<OwnedFd, ResolveError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut cur = rustix::fs::openat(&self.root, ".", flags, Mode::empty())
            .map_err(|e| ResolveError::Io("open", e))?;
        let mut so_far = PathBuf::new();
        for comp in rel.components() {
            let Component::Normal(name) = comp else {
                // Normalised paths hold only normal components; anything else is a bug upstream.
                return Err(ResolveError::Io("resolve", Errno::INVAL));
            };
            so_far.push(name);
            let next = match rustix::fs::openat(&cur, name, flags, Mode::empty()) {
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) => {
                            created.push(so_far.clone());
                            // mkdirat honours the umask; implicit dirs are exactly 0755.
                            let dfd = rustix::fs::openat(
                                &cur,
                                name,
                                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                                Mode::empty(),
                            )
                            .map_err(classify)?;
                            rustix::fs::fchmod(&dfd, Mode::from_raw_mode(0o755))
                                .map_err(|e| ResolveError::Io("chmod", e))?;
                        }
                        Err(Errno::EXIST) => {}
                        Err(e) => return Err(ResolveError::Io("mkdir", e)),
                    }
                    rustix::fs::openat(&cur, name, flags, Mode::empty())
                }
                other => other,
            };
            let next = next.map_err(|e| classify_component(&cur, name, e))?;
            self.check_dev(&next)?;
            cur = next;
        }
        Ok(cur)
    }

    fn check_dev(&self, fd: &OwnedFd) -> Result<(), ResolveError> {
        let st = rustix::fs::fstat(fd).map_err(|e| ResolveError::Io("stat", e))?;
        if st.st_dev != self.root_dev {
            return Err(ResolveError::CrossesMount);
        }
        Ok(())
    }
}

fn classify(e: Errno) -> ResolveError {
    match e {
        Errno::LOOP => ResolveError::Symlink,
        Errno::NOTDIR => ResolveError::NotDir,
        Errno::XDEV => ResolveError::CrossesMount,
        Errno::NOENT => ResolveError::Missing,
        e => ResolveError::Io("open", e),
    }
}

/// `O_PATH | O_NOFOLLOW | O_DIRECTORY` on a symlink reports ENOTDIR; tell the two apart.
fn classify_component(dir: &OwnedFd, name: &std::ffi::OsStr, e: Errno) -> ResolveError {
    if e == Errno::NOTDIR {
        let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
        if let Ok(st) = st
            && rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink
        {
            return ResolveError::Symlink;
        }
    }
    classify(e)
}
