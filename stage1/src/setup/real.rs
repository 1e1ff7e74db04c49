//! [`MountSys`] with real system calls. Mount targets and sources are held as `O_PATH` fds
//! and named `/proc/self/fd/<n>`, so what gets mounted on is exactly what was resolved (no
//! resolve-then-mount-by-path race). In-root paths are resolved by `openat2(RESOLVE_IN_ROOT)`;
//! binds use the new mount API so a read-only bind is never writable, not even briefly.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};
use rustix::mount::{
    MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags,
};

use super::sys::{Follow, MountSys, NodeKind, Target};

/// The real system calls. Only meaningful as root inside the pod's own mount namespace.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealMountSys;

pub(super) fn target(shown: PathBuf, fd: OwnedFd) -> io::Result<Target> {
    let st = rfs::fstat(&fd)?;
    let is_dir = rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory;
    Ok(Target {
        shown,
        path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
        is_dir,
        fd: Some(fd),
    })
}

fn fd_of(t: &Target) -> io::Result<BorrowedFd<'_>> {
    t.fd.as_ref().map(|fd| fd.as_fd()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} was not opened by RealMountSys", t.shown.display()),
        )
    })
}

/// `mount_setattr(2)` (not wrapped by rustix): sets `attr` on the mount `fd` is the root of
/// (`userns`: the namespace fd `MOUNT_ATTR_IDMAP` maps through).
fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: u64) -> io::Result<()> {
    mount_setattr_ns(fd, recursive, attr, None)
}

fn mount_setattr_ns(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: u64,
    userns: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: attr,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |f| f.as_raw_fd() as u64),
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is a valid C string, `attr` lives across the call and its size is
    // passed; the kernel only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

fn resolve_flags(follow: Follow) -> ResolveFlags {
    match follow {
        Follow::InRoot => ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        Follow::Never => ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS,
    }
}

fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Splits a normalized relative path into its parent and last component.
fn split(rel: &Path) -> io::Result<(&Path, &OsStr)> {
    match (rel.parent(), rel.components().next_back()) {
        (Some(parent), Some(Component::Normal(name))) => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a plain relative path", rel.display()),
        )),
    }
}

impl RealMountSys {
    /// Resolves `rel` from `root_fd`; creates it (and its parents) when missing and asked to.
    fn resolve(
        &self,
        root_fd: BorrowedFd<'_>,
        rel: &Path,
        follow: Follow,
        create: Option<(NodeKind, u32)>,
    ) -> io::Result<OwnedFd> {
        let how = resolve_flags(follow);
        let open = || {
            rfs::openat2(
                root_fd,
                rel,
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                how,
            )
        };
        match open() {
            Ok(fd) => return Ok(fd),
            Err(rustix::io::Errno::NOENT) if create.is_some() => {}
            Err(e) => return Err(e.into()),
        }
        let Some((kind, mode)) = create else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let (parent, name) = split(rel)?;
        let parent_fd = if parent.as_os_str().is_empty() {
            rfs::openat(root_fd, ".", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?
        } else {
            self.resolve(root_fd, parent, follow, Some((NodeKind::Dir, 0o755)))?
        };
        create_node(parent_fd.as_fd(), name, kind, mode)?;
        // Resolve again from the root: a dangling symlink in the image (EEXIST above) stays
        // missing here and is reported rather than created outside the root.
        open().map_err(|e| {
            if e == rustix::io::Errno::NOENT {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "it is a dangling symlink (create its target in the image)",
                )
            } else {
                e.into()
            }
        })
    }
}

/// Creates `name` in the directory `parent` with exactly `mode`; an existing node is kept.
fn create_node(parent: BorrowedFd<'_>, name: &OsStr, kind: NodeKind, mode: u32) -> io::Result<()> {
    let perms = Mode::from_raw_mode(mode);
    let fd = match kind {
        NodeKind::Dir => match rfs::mkdirat(parent, name, perms) {
            Ok(()) => rfs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?,
            Err(rustix::io::Errno::EXIST) => return Ok(()),
            Err(e) => return Err(e.into()),
        },
        NodeKind::File => match rfs::openat(
            parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            perms,
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => return Ok(()),
            Err(e) => return Err(e.into()),
        },
    };
    // The umask must not decide the modes of /tmp (1777) or an empty volume.
    rfs::fchmod(&fd, perms)?;
    Ok(())
}

impl MountSys for RealMountSys {
    fn mount_fs(
        &mut self,
        fstype: &str,
        source: &str,
        target: &Target,
        flags: MountFlags,
        data: &str,
    ) -> io::Result<()> {
        let data = std::ffi::CString::new(data)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in mount options"))?;
        rustix::mount::mount(source, &target.path, fstype, flags, Some(data.as_c_str()))?;
        Ok(())
    }

    fn bind(&mut self, src: &Target, dst: &Target, rec: bool, ro: bool) -> io::Result<()> {
        let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH;
        if rec {
            flags |= OpenTreeFlags::AT_RECURSIVE;
        }
        let tree = rustix::mount::open_tree(fd_of(src)?, "", flags)?;
        if ro {
            mount_setattr(tree.as_fd(), rec, MOUNT_ATTR_RDONLY)?;
        }
        rustix::mount::move_mount(
            tree.as_fd(),
            "",
            fd_of(dst)?,
            "",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        )?;
        Ok(())
    }

    fn set_read_only(&mut self, target: &Target) -> io::Result<()> {
        mount_setattr(fd_of(target)?, false, MOUNT_ATTR_RDONLY)
    }

    fn make_rprivate(&mut self, path: &Path) -> io::Result<()> {
        let flags = MountPropagationFlags::PRIVATE | MountPropagationFlags::REC;
        rustix::mount::mount_change(path, flags)?;
        Ok(())
    }

    fn open_host(&mut self, path: &Path) -> io::Result<Target> {
        let fd = rfs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
        target(path.to_path_buf(), fd)
    }

    fn open_in_root(
        &mut self,
        root: &Path,
        rel: &Path,
        follow: Follow,
        create: Option<(NodeKind, u32)>,
    ) -> io::Result<Target> {
        let root_fd = open_root(root)?;
        let fd = self.resolve(root_fd.as_fd(), rel, follow, create)?;
        target(root.join(rel), fd)
    }

    fn mknod_char(
        &mut self,
        dir: &Target,
        name: &str,
        (major, minor): (u32, u32),
        mode: u32,
    ) -> io::Result<()> {
        let dir = fd_of(dir)?;
        let perms = Mode::from_raw_mode(mode);
        let dev = rfs::makedev(major, minor);
        rfs::mknodat(dir, name, rfs::FileType::CharacterDevice, perms, dev)?;
        // The umask must not decide a device's mode.
        rfs::chmodat(dir, name, perms, AtFlags::empty())?;
        Ok(())
    }

    fn symlink_in_root(&mut self, root: &Path, rel: &Path, link: &str) -> io::Result<()> {
        let root_fd = open_root(root)?;
        let (parent, name) = split(rel)?;
        let parent_fd = if parent.as_os_str().is_empty() {
            root_fd
        } else {
            let dir = Some((NodeKind::Dir, 0o755));
            self.resolve(root_fd.as_fd(), parent, Follow::InRoot, dir)?
        };
        rfs::symlinkat(link, &parent_fd, name)?;
        Ok(())
    }

    fn mkdir_host(&mut self, path: &Path, mode: u32, uid: u32, gid: u32) -> io::Result<()> {
        if path.is_dir() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let (parent, name) = split_host(path)?;
        let dir = rfs::open(
            parent,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        create_node(dir.as_fd(), name, NodeKind::Dir, mode)?;
        let uid = rustix::fs::Uid::from_raw(uid);
        let gid = rustix::fs::Gid::from_raw(gid);
        rfs::chownat(&dir, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    fn chown_host(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        let uid = rustix::fs::Uid::from_raw(uid);
        let gid = rustix::fs::Gid::from_raw(gid);
        rfs::chownat(
            rfs::CWD,
            path,
            Some(uid),
            Some(gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }

    fn write_host_file(&mut self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let (parent, name) = split_host(path)?;
        std::fs::create_dir_all(parent)?;
        let mut tmp_name = b".".to_vec();
        tmp_name.extend_from_slice(name.as_bytes());
        tmp_name.extend_from_slice(b".tmp");
        let tmp = parent.join(OsStr::from_bytes(&tmp_name));
        std::fs::write(&tmp, contents)?;
        std::fs::rename(&tmp, path)
    }

    fn stdin_tty(&mut self) -> io::Result<Option<Target>> {
        // SAFETY: isatty only inspects fd 0.
        if unsafe { libc::isatty(0) } != 1 {
            return Ok(None);
        }
        // fd 0 was opened in the caller's mount namespace, and a mount of another namespace
        // cannot be bound here (EINVAL): reopen the terminal by its path in ours, and check it
        // is the same device.
        let path = rfs::readlink("/proc/self/fd/0", Vec::new())?;
        let path = PathBuf::from(OsStr::from_bytes(path.as_bytes()));
        let fd = rfs::open(&path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
        // SAFETY: fd 0 is open (isatty succeeded) and outlives this call.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        let (ours, theirs) = (rfs::fstat(&fd)?, rfs::fstat(stdin)?);
        if ours.st_rdev != theirs.st_rdev || ours.st_ino != theirs.st_ino {
            return Err(io::Error::other(format!(
                "the terminal {} is not the one on stdin",
                path.display()
            )));
        }
        target(path, fd).map(Some)
    }

    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()> {
        rustix::process::chdir(new_root)?;
        if is_dir(Path::new(OLD_ROOT)) {
            rustix::process::pivot_root(".", OLD_ROOT)?;
            rustix::process::chdir("/")?;
            return detach_in_child(&Path::new("/").join(OLD_ROOT));
        }
        // A tree without the dir: pivot_root(".", ".") stacks the old root on the new one,
        // and detaching it leaves only the new root.
        rustix::process::pivot_root(".", ".")?;
        rustix::mount::unmount(".", UnmountFlags::DETACH)?;
        rustix::process::chdir("/")?;
        Ok(())
    }

    fn user_namespace(&mut self, range: super::UidRange) -> io::Result<Target> {
        super::real_userns::create(range)
    }

    fn bind_idmapped(&mut self, src: &Target, dst: &Target, ns: &Target) -> io::Result<()> {
        let flags = OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH
            | OpenTreeFlags::AT_RECURSIVE;
        let tree = rustix::mount::open_tree(fd_of(src)?, "", flags)?;
        mount_setattr_ns(tree.as_fd(), true, MOUNT_ATTR_IDMAP, Some(fd_of(ns)?))?;
        rustix::mount::move_mount(
            tree.as_fd(),
            "",
            fd_of(dst)?,
            "",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        )?;
        Ok(())
    }
}

/// The stage1 image's empty dir the host's root is moved to by `pivot_root`.
const OLD_ROOT: &str = "oldroot";

fn is_dir(path: &Path) -> bool {
    rfs::lstat(path)
        .is_ok_and(|st| rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory)
}

/// Detaches the mount tree at `path` (the host's old root) in a child process sharing our
/// mount namespace, reaped later like any orphan. Unmounting waits for an RCU grace period,
/// which takes milliseconds while the host is busy (a previous pod's network namespace being
/// torn down, say); the pod goes on meanwhile: nothing of it is under `path`, and an app's
/// copy of the namespace drops the whole old tree with its own pivot. Must be called while
/// single-threaded (PID 1 before any app). Without a child, it is detached here.
fn detach_in_child(path: &Path) -> io::Result<()> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: single-threaded (see above); the child only makes raw system calls and _exits.
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: a valid C string; umount2 and _exit are async-signal-safe.
            let rc = unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) };
            unsafe { libc::_exit(if rc == 0 { 0 } else { 1 }) }
        }
        -1 => Ok(rustix::mount::unmount(path, UnmountFlags::DETACH)?),
        _ => Ok(()),
    }
}

fn split_host(path: &Path) -> io::Result<(&Path, &OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => Ok((p, n)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )),
    }
}
