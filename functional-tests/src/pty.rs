//! Running a command on a fresh pseudo-terminal (for `rkt run --interactive`): its stdin,
//! stdout and stderr are the pty's slave side, the test writes input into the master side and
//! reads everything the command printed (the terminal's echo included).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ctx::Out;

/// Run `cmd` on a new pty as its session's controlling terminal, type `input`, and collect the
/// output until the command ends (killed and failed after `timeout`). Output goes to
/// [`Out::stdout`]; [`Out::stderr`] stays empty (a terminal has one output stream).
pub fn run_in_pty(mut cmd: Command, input: &[u8], timeout: Duration) -> Out {
    let (master, slave) = open_pty();
    let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("duplicating the pty fd"));
    cmd.stdin(stdio(&slave))
        .stdout(stdio(&slave))
        .stderr(stdio(&slave));
    // SAFETY: setsid and ioctl are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("starting the command on a pty");
    drop(cmd);
    drop(slave);
    let mut master = File::from(master);
    let mut writer = master.try_clone().expect("duplicating the pty master");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        // Ends with EIO once every slave fd is closed.
        let _ = master.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    // Give the command time to set the terminal up before typing.
    std::thread::sleep(Duration::from_millis(300));
    let _ = writer.write_all(input);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    drop(writer);
    let out = Out {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: reader.join().unwrap_or_default(),
        stderr: String::new(),
    };
    assert!(status.is_some(), "the command on the pty hung: {out:#?}");
    out
}

fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: out-pointers to two ints; no name buffer, default termios and window size.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    for fd in [master, slave] {
        // SAFETY: fd is open; close-on-exec keeps the raw fds out of the command (its stdio
        // gets duplicates).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: openpty returned two fresh fds that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}
