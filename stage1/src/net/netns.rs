//! The pod's network namespace as a file: `/run/rkt/netns/rkt-<uuid>`, a bind mount of an
//! nsfs inode in the host's mount namespace (the one host mount stage1 makes), so that CNI
//! plugins can open it by path before the pod exists and `gc` can find it after the pod is
//! gone. Its path is recorded in `<pod>/netns`.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the netns files live (host path).
pub const NETNS_DIR: &str = "/run/rkt/netns";

/// The netns file of pod `uuid`.
pub fn netns_path(uuid: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(format!("rkt-{uuid}"))
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// Makes a new network namespace and pins it at `path` (which must not exist). A short-lived
/// thread unshares its own network namespace and bind-mounts it; this thread stays where it
/// was, and the helper is joined before returning.
pub fn create(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)?;
    let target = cstr(path)?;
    let pinned = std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: unshare affects only this thread, which exits right after.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let source = c"/proc/thread-self/ns/net";
        // SAFETY: both strings are NUL-terminated and outlive the call.
        let r = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the netns thread panicked")));
    pinned.inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

/// Unpins (lazily unmounts) and removes the netns file; a missing file is fine. Returns
/// whether something was there.
pub fn remove(path: &Path) -> io::Result<bool> {
    let c = cstr(path)?;
    // Several stacked binds are possible after a retried start: unmount until none is left.
    // SAFETY: a NUL-terminated path; no other memory.
    while unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {}
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Joins the network namespace pinned at `path` (the pod's PID 1 does this after the clone).
pub fn join(fd: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setns on an fd we hold.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
