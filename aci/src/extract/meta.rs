//! Ownership, mode, extended attributes and times, always applied through an fd or with
//! `AT_SYMLINK_NOFOLLOW`, so nothing is ever changed through a symlink (T4).
//!
//! Order matters: `chown` clears setuid/setgid and `security.capability`, so ownership comes
//! first, then the mode, then xattrs; times come last because the others bump ctime only.

use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::path::Path;

use rustix::fs::Timespec;
use rustix::fs::{AtFlags, Gid, Mode, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use super::{ExtractError, Stats};
use crate::entry::EntryHeader;

pub(super) fn io_err(path: &Path, op: &'static str, e: Errno) -> ExtractError {
    ExtractError::Io {
        path: path.to_path_buf(),
        op,
        source: e.into(),
    }
}

pub(super) fn timestamps(mtime: u64) -> Timestamps {
    let secs = i64::try_from(mtime).unwrap_or(i64::MAX);
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

pub(super) fn chown_fd(
    fd: BorrowedFd<'_>,
    h: &EntryHeader,
    path: &Path,
) -> Result<(), ExtractError> {
    let (uid, gid) = ids(h);
    rustix::fs::fchown(fd, Some(uid), Some(gid)).map_err(|e| io_err(path, "chown", e))
}

pub(super) fn chmod_fd(fd: BorrowedFd<'_>, mode: u32, path: &Path) -> Result<(), ExtractError> {
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode & 0o7777)).map_err(|e| io_err(path, "chmod", e))
}

pub(super) fn times_fd(fd: BorrowedFd<'_>, mtime: u64, path: &Path) -> Result<(), ExtractError> {
    rustix::fs::futimens(fd, &timestamps(mtime)).map_err(|e| io_err(path, "set times of", e))
}

/// Set every xattr of the entry on `fd`. A file system without support for a namespace skips
/// that attribute (counted in `stats`) rather than failing the whole image.
pub(super) fn xattrs_fd(
    fd: BorrowedFd<'_>,
    h: &EntryHeader,
    path: &Path,
    stats: &mut Stats,
) -> Result<(), ExtractError> {
    for (name, value) in &h.xattrs {
        match rustix::fs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty()) {
            Ok(()) => {}
            Err(Errno::OPNOTSUPP) => stats.xattrs_skipped += 1,
            Err(e) => {
                return Err(ExtractError::Xattr {
                    path: path.to_path_buf(),
                    name: String::from_utf8_lossy(name).into_owned(),
                    source: e.into(),
                });
            }
        }
    }
    Ok(())
}

/// Everything for a node opened as a real (non-O_PATH) fd: files, fifos, directories.
/// `mode_and_times` is false for directories, whose mode and times are set in `finish`.
pub(super) fn apply_fd(
    fd: BorrowedFd<'_>,
    h: &EntryHeader,
    path: &Path,
    preserve_ownership: bool,
    mode_and_times: bool,
    stats: &mut Stats,
) -> Result<(), ExtractError> {
    if preserve_ownership {
        chown_fd(fd, h, path)?;
    }
    if mode_and_times {
        chmod_fd(fd, h.mode, path)?;
    }
    xattrs_fd(fd, h, path, stats)?;
    if mode_and_times {
        times_fd(fd, h.mtime, path)?;
    }
    Ok(())
}

/// Symlinks: owner and times with `AT_SYMLINK_NOFOLLOW`; a symlink has no mode of its own, and
/// its xattrs are not set (user.* is not allowed on symlinks; others are rare).
pub(super) fn apply_symlink(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    h: &EntryHeader,
    path: &Path,
    preserve_ownership: bool,
    stats: &mut Stats,
) -> Result<(), ExtractError> {
    if preserve_ownership {
        let (uid, gid) = ids(h);
        rustix::fs::chownat(
            parent,
            name,
            Some(uid),
            Some(gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err(path, "chown", e))?;
    }
    stats.xattrs_skipped += h.xattrs.len() as u64;
    rustix::fs::utimensat(
        parent,
        name,
        &timestamps(h.mtime),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io_err(path, "set times of", e))
}

/// Device nodes cannot be opened for metadata without side effects, so they get an O_PATH fd
/// (chown via `AT_EMPTY_PATH`) and a mode change through `/proc/self/fd/N`, which names exactly
/// the inode we created.
pub(super) fn apply_device(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    h: &EntryHeader,
    path: &Path,
    preserve_ownership: bool,
    stats: &mut Stats,
) -> Result<(), ExtractError> {
    use rustix::fs::OFlags;
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(parent, name, flags, Mode::empty())
        .map_err(|e| io_err(path, "open", e))?;
    if preserve_ownership {
        let (uid, gid) = ids(h);
        rustix::fs::chownat(&fd, "", Some(uid), Some(gid), AtFlags::EMPTY_PATH)
            .map_err(|e| io_err(path, "chown", e))?;
    }
    let st = rustix::fs::fstat(&fd).map_err(|e| io_err(path, "stat", e))?;
    let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
    let is_dev = matches!(
        ft,
        rustix::fs::FileType::CharacterDevice | rustix::fs::FileType::BlockDevice
    );
    if !is_dev {
        return Err(io_err(path, "verify device", Errno::INVAL));
    }
    if st.st_mode & 0o7777 != h.mode & 0o7777 {
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        rustix::fs::chmod(proc_path.as_str(), Mode::from_raw_mode(h.mode & 0o7777))
            .map_err(|e| io_err(path, "chmod", e))?;
    }
    stats.xattrs_skipped += h.xattrs.len() as u64;
    rustix::fs::utimensat(
        parent,
        name,
        &timestamps(h.mtime),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io_err(path, "set times of", e))
}

fn ids(h: &EntryHeader) -> (Uid, Gid) {
    (Uid::from_raw(h.uid), Gid::from_raw(h.gid))
}
