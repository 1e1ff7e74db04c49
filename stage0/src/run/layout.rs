//! Putting rendered trees into a pod: a hard-link farm (the stage1 rootfs: directories are
//! the pod's own, files are the tree's inodes) and a full copy (app roots with `--no-overlay`).
//! Both keep modes, owners, times and xattrs; neither follows a symlink of the source.
//! [`upper_dirs`] is the farm's replacement for our stage1: only the directories stage0 writes
//! into, as the upper layer of the overlay stage1 mounts on the pod's `stage1/rootfs`.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps};

/// How files get into the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileMode {
    /// Hard links, or copies across file systems.
    Link,
    Copy,
}

/// Recreate the tree at `src` under `dst` (which must not exist yet).
pub(super) fn replicate(src: &Path, dst: &Path, mode: FileMode) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    make_dir(src, dst)?;
    walk(src, dst, mode)?;
    finish_dir(dst, &meta)
}

/// The stage1 tree's directories that stage0 writes into (`/`, `opt`, `opt/stage2`), created
/// under `upper` with the lower tree's modes and owners: an overlay shows a directory present
/// in both layers with the upper one's attributes, so the pod sees them as with a link farm.
pub(super) fn upper_dirs(lower: &Path, upper: &Path) -> io::Result<()> {
    for rel in ["", "opt", "opt/stage2"] {
        let dst = upper.join(rel);
        let meta = fs::symlink_metadata(lower.join(rel));
        // A tree without the dir (not ours) gets what the image builder gives dirs.
        let (mode, owner) = match &meta {
            Ok(m) if m.is_dir() => (m.mode() & 0o7777, Some((m.uid(), m.gid()))),
            _ => (0o755, None),
        };
        fs::DirBuilder::new().mode(mode).create(&dst)?;
        // mkdir applies the caller's umask: set the mode exactly, as the farm does.
        rustix::fs::chmod(&dst, Mode::from_raw_mode(mode))?;
        let me = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        if let Some((uid, gid)) = owner.filter(|o| *o != me) {
            std::os::unix::fs::chown(&dst, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

fn walk(src: &Path, dst: &Path, mode: FileMode) -> io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            make_dir(&from, &to)?;
            walk(&from, &to, mode)?;
            finish_dir(&to, &meta)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
            owner_and_times(&to, &meta)?;
            copy_xattrs(&from, &to);
        } else if ft.is_file() {
            let linked = mode == FileMode::Link && link_file(&from, &to)?;
            if !linked {
                copy_file(&from, &to, &meta)?;
            }
        } else if special(&to, &meta)? {
            owner_and_times(&to, &meta)?;
        }
    }
    Ok(())
}

/// Hard-link; false when the two are on different file systems (then the caller copies).
fn link_file(from: &Path, to: &Path) -> io::Result<bool> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => Ok(false),
        Err(e) => Err(e),
    }
}

fn make_dir(src: &Path, dst: &Path) -> io::Result<()> {
    // Owner-only until finished, so nobody gets in while the content is incomplete.
    fs::DirBuilder::new().mode(0o700).create(dst)?;
    copy_xattrs(src, dst);
    Ok(())
}

/// Modes, owner and times last: the content is in, and the mtime is not touched again.
fn finish_dir(dst: &Path, meta: &fs::Metadata) -> io::Result<()> {
    owner_and_times(dst, meta)?;
    rustix::fs::chmod(dst, Mode::from_raw_mode(meta.mode() & 0o7777))?;
    Ok(())
}

fn copy_file(from: &Path, to: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let mut src = File::open(from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    io::copy(&mut src, &mut dst)?;
    drop(dst);
    copy_xattrs(from, to);
    owner_and_times(to, meta)?;
    // After chown, which clears setuid/setgid bits.
    rustix::fs::chmod(to, Mode::from_raw_mode(meta.mode() & 0o7777))?;
    Ok(())
}

/// Device nodes and fifos; false for what is skipped (sockets).
fn special(to: &Path, meta: &fs::Metadata) -> io::Result<bool> {
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        FileType::CharacterDevice
    } else if ft.is_block_device() {
        FileType::BlockDevice
    } else if ft.is_fifo() {
        FileType::Fifo
    } else {
        // Sockets in an image are meaningless; skip them.
        return Ok(false);
    };
    rustix::fs::mknodat(
        CWD,
        to,
        kind,
        Mode::from_raw_mode(meta.mode() & 0o7777),
        meta.rdev(),
    )?;
    Ok(true)
}

fn owner_and_times(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    rustix::fs::chownat(
        CWD,
        path,
        Some(rustix::fs::Uid::from_raw(meta.uid())),
        Some(rustix::fs::Gid::from_raw(meta.gid())),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    let ts = Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(CWD, path, &ts, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Best effort: a file system without xattr support still gets the files.
fn copy_xattrs(from: &Path, to: &Path) {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(from, &mut names[..]) else {
        return;
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(from, name, &mut value[..]) {
            let _ = rustix::fs::lsetxattr(to, name, &value[..len], rustix::fs::XattrFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn link_farm_and_copy_keep_the_tree() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::write(src.join("a/b/f"), b"data").unwrap();
        fs::set_permissions(src.join("a/b/f"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::set_permissions(src.join("a"), fs::Permissions::from_mode(0o711)).unwrap();
        std::os::unix::fs::symlink("../x", src.join("a/l")).unwrap();
        for (name, mode) in [("link", FileMode::Link), ("copy", FileMode::Copy)] {
            let dst = t.path().join(name);
            replicate(&src, &dst, mode).unwrap();
            let f = fs::metadata(dst.join("a/b/f")).unwrap();
            assert_eq!(fs::read(dst.join("a/b/f")).unwrap(), b"data");
            assert_eq!(f.mode() & 0o7777, 0o4755);
            let same = f.ino() == fs::metadata(src.join("a/b/f")).unwrap().ino();
            assert_eq!(same, mode == FileMode::Link, "{name}");
            assert_eq!(fs::metadata(dst.join("a")).unwrap().mode() & 0o7777, 0o711);
            assert_eq!(fs::read_link(dst.join("a/l")).unwrap(), Path::new("../x"));
            assert_ne!(
                fs::metadata(dst.join("a")).unwrap().ino(),
                fs::metadata(src.join("a")).unwrap().ino()
            );
        }
    }

    #[test]
    fn upper_dirs_take_the_lower_modes() {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        fs::create_dir_all(lower.join("opt/stage2")).unwrap();
        fs::create_dir_all(lower.join("usr/lib")).unwrap();
        fs::set_permissions(&lower, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(lower.join("opt"), fs::Permissions::from_mode(0o775)).unwrap();
        fs::set_permissions(lower.join("opt/stage2"), fs::Permissions::from_mode(0o1711)).unwrap();
        let upper = t.path().join("upper");
        upper_dirs(&lower, &upper).unwrap();
        for (rel, mode) in [("", 0o755), ("opt", 0o775), ("opt/stage2", 0o1711)] {
            let m = fs::metadata(upper.join(rel)).unwrap();
            assert_eq!(m.mode() & 0o7777, mode, "{rel:?}");
        }
        // Nothing else: no link farm.
        assert!(!upper.join("usr").exists());
        assert!(
            upper_dirs(&lower, &upper).is_err(),
            "the upper dir must be new"
        );
    }
}
