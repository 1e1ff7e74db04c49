//! Creating a user namespace for real: a forked child unshares it and waits while we write
//! its id maps and open its namespace file; then it exits.
//!
//! This runs in the pod's PID 1, which is in the pod's pid namespace but still sees the host's
//! `/proc` (the pod's is mounted later): the child's pid from `fork` is not its `/proc` name.
//! The child therefore sends `readlink("/proc/self")`, which that `/proc` answers with the
//! pid it knows it by.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};

use super::UidRange;
use super::real::target;
use super::sys::Target;

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The forked child: only async-signal-safe calls. Reports its `/proc` name (empty on
/// failure), then blocks until the parent closes `hold`. `parent_ends` are the parent's
/// pipe ends, closed first: a copy of the write end of `hold` here would keep it open.
fn child(report: i32, hold: i32, parent_ends: [i32; 2]) -> ! {
    let mut buf = [0u8; 32];
    // SAFETY: plain syscalls on fds and a stack buffer the child owns.
    unsafe {
        for fd in parent_ends {
            libc::close(fd);
        }
        let mut n = 0isize;
        if libc::unshare(libc::CLONE_NEWUSER) == 0 {
            n = libc::readlink(c"/proc/self".as_ptr(), buf.as_mut_ptr().cast(), buf.len());
        }
        libc::write(report, buf.as_ptr().cast(), n.max(0) as usize);
        libc::close(report);
        let mut b = 0u8;
        libc::read(hold, (&mut b as *mut u8).cast(), 1);
        libc::_exit(0)
    }
}

/// A user namespace mapping `0..count` to host `shift..`, as an open `ns/user` file.
pub(super) fn create(range: UidRange) -> io::Result<Target> {
    let (report_r, report_w) = pipe()?;
    let (hold_r, hold_w) = pipe()?;
    // SAFETY: the child only makes async-signal-safe calls and exits (see `child`).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        use std::os::fd::AsRawFd;
        let parent_ends = [report_r.as_raw_fd(), hold_w.as_raw_fd()];
        child(report_w.as_raw_fd(), hold_r.as_raw_fd(), parent_ends);
    }
    drop((report_w, hold_r));
    let result = map_and_open(report_r, range);
    drop(hold_w); // Lets the child exit.
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    result
}

fn map_and_open(report: OwnedFd, range: UidRange) -> io::Result<Target> {
    let mut name = String::new();
    File::from(report).read_to_string(&mut name)?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(io::Error::other(
            "the helper could not unshare a user namespace (are user namespaces enabled: \
             /proc/sys/user/max_user_namespaces?)",
        ));
    }
    let dir = PathBuf::from("/proc").join(&name);
    let line = range.map_line();
    std::fs::write(dir.join("uid_map"), &line)?;
    std::fs::write(dir.join("gid_map"), &line)?;
    let path = dir.join("ns/user");
    let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    target(path, fd)
}
