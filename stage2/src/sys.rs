//! The syscall seam: every call that changes the process goes through [`Sys`], so the launch
//! order and arguments are unit-tested with [`crate::fake::RecordingSys`] and only the
//! integration test needs root.
//!
//! The identity calls (`setgroups`, `setresgid`, `setresuid`, `capset`) are the raw per-thread
//! syscalls. That is correct here only because stage2 never starts a second thread.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::seccomp::SockFilter;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::process::{Resource, Rlimit};
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};

/// The process-changing calls stage2 makes, in the vocabulary of the launch steps.
pub trait Sys {
    /// `unshare(CLONE_NEWNS)`.
    fn unshare_mount_ns(&mut self) -> io::Result<()>;
    /// `mount(NULL, path, NULL, MS_REC|MS_SLAVE, NULL)`.
    fn make_rslave(&mut self, path: &Path) -> io::Result<()>;
    /// `mount(src, dst, NULL, MS_BIND|MS_REC, NULL)`.
    fn bind_recursive(&mut self, src: &Path, dst: &Path) -> io::Result<()>;
    /// Remount the bind at `path` read-only, keeping its nosuid/nodev/noexec/atime flags.
    fn remount_readonly(&mut self, path: &Path) -> io::Result<()>;
    fn chdir(&mut self, path: &Path) -> io::Result<()>;
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    /// `umount2(path, MNT_DETACH)`.
    fn umount_detach(&mut self, path: &Path) -> io::Result<()>;
    fn getcwd(&mut self) -> io::Result<PathBuf>;
    /// Writes `/proc/self/oom_score_adj`.
    fn set_oom_score_adj(&mut self, value: i32) -> io::Result<()>;
    /// `setrlimit`; `u64::MAX` means unlimited.
    fn setrlimit(&mut self, resource: Resource, soft: u64, hard: u64) -> io::Result<()>;
    /// `prctl(PR_CAPBSET_DROP, cap)`; `EINVAL` once `cap` is past the kernel's last capability.
    fn drop_bounding_cap(&mut self, cap: u32) -> io::Result<()>;
    fn setgroups(&mut self, gids: &[u32]) -> io::Result<()>;
    /// `setresgid(gid, gid, gid)`.
    fn setresgid(&mut self, gid: u32) -> io::Result<()>;
    /// `setresuid(uid, uid, uid)`.
    fn setresuid(&mut self, uid: u32) -> io::Result<()>;
    /// `capset` of the effective, permitted and inheritable masks (bit n = capability n).
    fn set_capabilities(
        &mut self,
        effective: u64,
        permitted: u64,
        inheritable: u64,
    ) -> io::Result<()>;
    /// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`.
    fn clear_ambient(&mut self) -> io::Result<()>;
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    fn set_no_new_privs(&mut self) -> io::Result<()>;
    /// Installs a seccomp filter on the calling thread (needs no_new_privs or CAP_SYS_ADMIN).
    fn install_seccomp(&mut self, program: &[SockFilter]) -> io::Result<()>;
    /// Closes every fd above 2 except `keep` (which lose `FD_CLOEXEC` so they reach the app).
    fn close_fds(&mut self, keep: &[i32]) -> io::Result<()>;
    /// Opens a pinned user namespace (an nsfs file), close-on-exec.
    fn open_user_ns(&mut self, path: &Path) -> io::Result<OwnedFd>;
    /// `setns(fd, CLONE_NEWUSER)`: afterwards the process holds every capability in that
    /// namespace and none in its parent.
    fn join_user_ns(&mut self, fd: &OwnedFd) -> io::Result<()>;
    /// `execve`. The real one only returns on failure; `Ok` is the fake's "would have run".
    fn execve(&mut self, path: &CStr, argv: &[CString], envp: &[CString]) -> io::Result<()>;
}

/// The real syscalls, via rustix (and libc for the two rustix lacks: `close_range`, `execve`).
pub struct RealSys;

impl Sys for RealSys {
    fn unshare_mount_ns(&mut self) -> io::Result<()> {
        // SAFETY: CLONE_NEWNS does not unshare the fd table, the hazard the unsafe marks.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }?;
        Ok(())
    }

    fn make_rslave(&mut self, path: &Path) -> io::Result<()> {
        let flags = MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC;
        Ok(rustix::mount::mount_change(path, flags)?)
    }

    fn bind_recursive(&mut self, src: &Path, dst: &Path) -> io::Result<()> {
        Ok(rustix::mount::mount_bind_recursive(src, dst)?)
    }

    fn remount_readonly(&mut self, path: &Path) -> io::Result<()> {
        use rustix::fs::StatVfsMountFlags as V;
        let current = rustix::fs::statvfs(path)?.f_flag;
        let mut flags = MountFlags::BIND | MountFlags::RDONLY;
        for (have, keep) in [
            (V::NOSUID, MountFlags::NOSUID),
            (V::NODEV, MountFlags::NODEV),
            (V::NOEXEC, MountFlags::NOEXEC),
            (V::NOATIME, MountFlags::NOATIME),
            (V::NODIRATIME, MountFlags::NODIRATIME),
            (V::RELATIME, MountFlags::RELATIME),
        ] {
            if current.contains(have) {
                flags |= keep;
            }
        }
        Ok(rustix::mount::mount_remount(path, flags, "")?)
    }

    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        Ok(rustix::process::chdir(path)?)
    }

    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        Ok(rustix::process::pivot_root(new_root, put_old)?)
    }

    fn umount_detach(&mut self, path: &Path) -> io::Result<()> {
        Ok(rustix::mount::unmount(path, UnmountFlags::DETACH)?)
    }

    fn getcwd(&mut self) -> io::Result<PathBuf> {
        use std::os::unix::ffi::OsStringExt;
        let cwd = rustix::process::getcwd(Vec::new())?;
        Ok(PathBuf::from(std::ffi::OsString::from_vec(
            cwd.into_bytes(),
        )))
    }

    fn open_user_ns(&mut self, path: &Path) -> io::Result<OwnedFd> {
        use rustix::fs::{Mode, OFlags};
        Ok(rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?)
    }

    fn join_user_ns(&mut self, fd: &OwnedFd) -> io::Result<()> {
        use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
        move_into_link_name_space(std::os::fd::AsFd::as_fd(fd), Some(LinkNameSpaceType::User))?;
        Ok(())
    }

    fn set_oom_score_adj(&mut self, value: i32) -> io::Result<()> {
        std::fs::write("/proc/self/oom_score_adj", value.to_string())
    }

    fn setrlimit(&mut self, resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
        let finite = |v: u64| (v != u64::MAX).then_some(v);
        let limit = Rlimit {
            current: finite(soft),
            maximum: finite(hard),
        };
        Ok(rustix::process::setrlimit(resource, limit)?)
    }

    fn drop_bounding_cap(&mut self, cap: u32) -> io::Result<()> {
        let set = CapabilitySet::from_bits_retain(1u64 << cap);
        Ok(rustix::thread::remove_capability_from_bounding_set(set)?)
    }

    fn setgroups(&mut self, gids: &[u32]) -> io::Result<()> {
        let gids: Vec<_> = gids
            .iter()
            .map(|g| rustix::process::Gid::from_raw(*g))
            .collect();
        Ok(rustix::thread::set_thread_groups(&gids)?)
    }

    fn setresgid(&mut self, gid: u32) -> io::Result<()> {
        let g = rustix::process::Gid::from_raw(gid);
        rustix::thread::set_thread_res_gid(g, g, g)?;
        Ok(())
    }

    fn setresuid(&mut self, uid: u32) -> io::Result<()> {
        let u = rustix::process::Uid::from_raw(uid);
        rustix::thread::set_thread_res_uid(u, u, u)?;
        Ok(())
    }

    fn set_capabilities(
        &mut self,
        effective: u64,
        permitted: u64,
        inheritable: u64,
    ) -> io::Result<()> {
        let sets = CapabilitySets {
            effective: CapabilitySet::from_bits_retain(effective),
            permitted: CapabilitySet::from_bits_retain(permitted),
            inheritable: CapabilitySet::from_bits_retain(inheritable),
        };
        Ok(rustix::thread::set_capabilities(None, sets)?)
    }

    fn clear_ambient(&mut self) -> io::Result<()> {
        Ok(rustix::thread::clear_ambient_capability_set()?)
    }

    fn set_no_new_privs(&mut self) -> io::Result<()> {
        Ok(rustix::thread::set_no_new_privs(true)?)
    }

    fn install_seccomp(&mut self, program: &[SockFilter]) -> io::Result<()> {
        crate::seccomp::install(program)
    }

    fn close_fds(&mut self, keep: &[i32]) -> io::Result<()> {
        let mut keep: Vec<u32> = keep
            .iter()
            .filter(|fd| **fd > 2)
            .map(|fd| *fd as u32)
            .collect();
        keep.sort_unstable();
        keep.dedup();
        let mut first = 3u32;
        for fd in keep {
            if fd > first {
                close_range(first, fd - 1)?;
            }
            // SAFETY: `fd` is a caller-listed descriptor that stays open; only its flag changes.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd as i32) };
            rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::empty())?;
            first = fd + 1;
        }
        close_range(first, u32::MAX)
    }

    fn execve(&mut self, path: &CStr, argv: &[CString], envp: &[CString]) -> io::Result<()> {
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        // SAFETY: both arrays are NULL-terminated and point into CStrings that outlive the call.
        unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
        Err(io::Error::last_os_error())
    }
}

/// `close_range(first, last, 0)` (Linux 5.9+).
fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: closing descriptors cannot violate memory safety; stage2 holds no fd above 2 that
    // any live Rust object still owns at this point of the launch.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
