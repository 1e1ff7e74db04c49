//! Creating one entry's final component with `*at()` calls on its parent directory fd; the
//! final component is never followed (`O_EXCL`/`O_NOFOLLOW`, `mkdirat`, `symlinkat`, …).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::meta::{self, io_err};
use super::{ExtractError, ExtractOptions, Stats};
use crate::entry::EntryHeader;

/// Size of the copy buffer for file data (one allocation per extractor).
const COPY_BUF: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    /// The final component already existed; `on_existing` decides.
    Exists,
}

/// One entry being created under its resolved parent directory.
pub(super) struct Ctx<'a> {
    pub(super) h: &'a EntryHeader,
    pub(super) path: &'a Path,
    pub(super) name: &'a OsStr,
    pub(super) parent: BorrowedFd<'a>,
    pub(super) opts: &'a ExtractOptions,
}

impl Ctx<'_> {
    pub(super) fn file(
        &self,
        data: &mut dyn Read,
        buf: &mut Vec<u8>,
        stats: &mut Stats,
    ) -> Result<Outcome, ExtractError> {
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(self.parent, self.name, flags, Mode::from_raw_mode(0o600))
        {
            Ok(fd) => fd,
            Err(Errno::EXIST) => return Ok(Outcome::Exists),
            Err(e) => return Err(io_err(self.path, "create", e)),
        };
        let mut file = std::fs::File::from(fd);
        copy_exact(data, &mut file, self.h.size, buf, self.path)?;
        stats.bytes += self.h.size;
        meta::apply_fd(
            file.as_fd(),
            self.h,
            self.path,
            self.opts.preserve_ownership,
            true,
            stats,
        )?;
        stats.files += 1;
        Ok(Outcome::Done)
    }

    pub(super) fn dir(&self, stats: &mut Stats) -> Result<Outcome, ExtractError> {
        // Owner-only until `finish` sets the real mode.
        match rustix::fs::mkdirat(self.parent, self.name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err(self.path, "create directory", e)),
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(self.parent, self.name, flags, Mode::empty()) {
            Ok(fd) => fd,
            // A symlink or another non-directory is in the way: never followed nor replaced.
            Err(Errno::LOOP | Errno::NOTDIR) => return Ok(Outcome::Exists),
            Err(e) => return Err(io_err(self.path, "open directory", e)),
        };
        meta::apply_fd(
            fd.as_fd(),
            self.h,
            self.path,
            self.opts.preserve_ownership,
            false,
            stats,
        )?;
        stats.dirs += 1;
        Ok(Outcome::Done)
    }

    pub(super) fn symlink(
        &self,
        target: &Path,
        stats: &mut Stats,
    ) -> Result<Outcome, ExtractError> {
        // The target is stored verbatim: it is never resolved while extracting.
        match rustix::fs::symlinkat(target, self.parent, self.name) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Ok(Outcome::Exists),
            Err(e) => return Err(io_err(self.path, "create symlink", e)),
        }
        meta::apply_symlink(
            self.parent,
            self.name,
            self.h,
            self.path,
            self.opts.preserve_ownership,
            stats,
        )?;
        stats.symlinks += 1;
        Ok(Outcome::Done)
    }

    pub(super) fn fifo(&self, stats: &mut Stats) -> Result<Outcome, ExtractError> {
        match rustix::fs::mknodat(
            self.parent,
            self.name,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        ) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Ok(Outcome::Exists),
            Err(e) => return Err(io_err(self.path, "create fifo", e)),
        }
        // O_NONBLOCK: opening a fifo for reading must not wait for a writer.
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(self.parent, self.name, flags, Mode::empty())
            .map_err(|e| io_err(self.path, "open fifo", e))?;
        meta::apply_fd(
            fd.as_fd(),
            self.h,
            self.path,
            self.opts.preserve_ownership,
            true,
            stats,
        )?;
        stats.fifos += 1;
        Ok(Outcome::Done)
    }

    pub(super) fn device(
        &self,
        ft: FileType,
        major: u32,
        minor: u32,
        stats: &mut Stats,
    ) -> Result<Outcome, ExtractError> {
        let dev = rustix::fs::makedev(major, minor);
        match rustix::fs::mknodat(self.parent, self.name, ft, Mode::from_raw_mode(0o600), dev) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Ok(Outcome::Exists),
            Err(e) => return Err(io_err(self.path, "create device node", e)),
        }
        meta::apply_device(
            self.parent,
            self.name,
            self.h,
            self.path,
            self.opts.preserve_ownership,
            stats,
        )?;
        stats.devices += 1;
        Ok(Outcome::Done)
    }

    pub(super) fn hard_link(
        &self,
        tparent: BorrowedFd<'_>,
        tname: &Path,
        target: &Path,
        stats: &mut Stats,
    ) -> Result<Outcome, ExtractError> {
        // No AT_SYMLINK_FOLLOW: a target that is a symlink is linked itself, never followed.
        let flags = rustix::fs::AtFlags::empty();
        match rustix::fs::linkat(tparent, tname, self.parent, self.name, flags) {
            Ok(()) => {
                stats.hard_links += 1;
                Ok(Outcome::Done)
            }
            Err(Errno::EXIST) => Ok(Outcome::Exists),
            Err(Errno::NOENT) => Err(ExtractError::HardLink {
                path: self.path.to_path_buf(),
                target: target.to_path_buf(),
                reason: "the target does not exist",
            }),
            Err(e) => Err(io_err(self.path, "create hard link", e)),
        }
    }
}

/// Copy exactly `size` bytes from `data` into `out`.
fn copy_exact(
    data: &mut dyn Read,
    out: &mut std::fs::File,
    size: u64,
    buf: &mut Vec<u8>,
    path: &Path,
) -> Result<(), ExtractError> {
    if buf.len() < COPY_BUF {
        buf.resize(COPY_BUF, 0);
    }
    let mut left = size;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match data.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(ExtractError::ShortData {
                    path: path.to_path_buf(),
                    expected: size,
                    got: size - left,
                });
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ExtractError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        out.write_all(&buf[..n])
            .map_err(|source| ExtractError::Io {
                path: path.to_path_buf(),
                op: "write",
                source,
            })?;
        left -= n as u64;
    }
    Ok(())
}
