//! Namespaces: which ones a pod gets (from the `run` flags), making them, bringing `lo` up in a
//! fresh network namespace, and joining a running pod's namespaces (`enter`).
//!
//! Plain `libc` calls: each is one syscall, and the start path is measured against crun.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use crate::context::{IpcMode, RunArgs};

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error(transparent)]
    NetSpec(#[from] networking::conf::ConfError),
    #[error("cannot fork into the pod's new namespaces ({flags})")]
    Fork {
        flags: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot bring up the loopback interface lo in the pod's network namespace")]
    Loopback(#[source] io::Error),
    #[error("cannot open the {kind} namespace of pid {pid} ({path})")]
    Open {
        kind: &'static str,
        pid: i32,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot join the {kind} namespace of pid {pid}")]
    Join {
        kind: &'static str,
        pid: i32,
        #[source]
        source: io::Error,
    },
}

/// How the pod is networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// The host's network namespace.
    Host,
    /// A private network namespace holding only `lo`.
    None,
    /// CNI networks: a namespace made and pinned before the clone (see [`crate::net`]),
    /// which the pod's PID 1 joins.
    Cni,
}

impl NetMode {
    /// Reads `--net` (conflicts such as `host,default` are errors).
    pub fn from_arg(net: &str) -> Result<NetMode, NsError> {
        Ok(NetMode::from_spec(&networking::conf::NetSpec::parse(net)?))
    }

    pub fn from_spec(spec: &networking::conf::NetSpec) -> NetMode {
        use networking::conf::NetSpec;
        match spec {
            NetSpec::Host => NetMode::Host,
            NetSpec::None => NetMode::None,
            NetSpec::All | NetSpec::Named(_) => NetMode::Cni,
        }
    }
}

/// The namespace flags of a pod: always mount, uts and pid; ipc unless `--ipc=parent`; a new
/// net namespace for `--net=none` (CNI pods join theirs with `setns` instead).
pub fn pod_namespace_flags(args: &RunArgs, net: NetMode) -> libc::c_int {
    let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWPID;
    if args.ipc != IpcMode::Parent {
        flags |= libc::CLONE_NEWIPC;
    }
    if net == NetMode::None {
        flags |= libc::CLONE_NEWNET;
    }
    flags
}

/// Names of the namespace bits in `flags`, for messages.
pub fn describe_flags(flags: libc::c_int) -> String {
    NAMESPACES
        .iter()
        .filter(|(_, bit)| flags & bit != 0)
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// Forks into new namespaces `flags` (fork semantics: the child runs on a copy of our memory
/// and stack), and straight into the v2 cgroup `cgroup` (a directory fd) when given. Returns
/// the child's pid in the parent, 0 in the child, and in both whether the child was born in
/// `cgroup`. The parent stays in all of its namespaces: had it joined the pod's mount
/// namespace, the pod's `pivot_root` would move its root too.
pub fn fork_into(flags: libc::c_int, cgroup: Option<RawFd>) -> Result<(i32, bool), NsError> {
    clone_fork(flags, cgroup).map_err(|source| NsError::Fork {
        flags: describe_flags(flags),
        source,
    })
}

/// `CLONE_INTO_CGROUP` (the libc crate's constant has the wrong type for `clone_args`).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The kernel's `struct clone_args` up to `cgroup` (version 2, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// The fork of [`fork_into`], as an `io::Result`; also used by the supervisor (whose forked
/// child only makes async-signal-safe calls, so nothing here allocates after the clone).
///
/// With a cgroup: `clone3(CLONE_INTO_CGROUP)`. A migration (`write` to `cgroup.procs`) takes
/// the kernel's global threadgroup lock for writing, which first waits for an RCU grace period
/// (5-10 ms); being born into the cgroup takes it only for reading. Old kernels (ENOSYS), an
/// unusable target (EBUSY, EOPNOTSUPP, EACCES...) fall back to a plain fork, reported as not
/// placed: the caller then migrates the child the old way.
pub fn clone_fork(flags: libc::c_int, cgroup: Option<RawFd>) -> io::Result<(i32, bool)> {
    if let Some(fd) = cgroup.filter(|fd| *fd >= 0) {
        let args = CloneArgs {
            flags: flags as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: fd as u64,
            ..CloneArgs::default()
        };
        // SAFETY: clone3 without CLONE_VM and with a null stack is fork(2); `args` outlives the
        // call and its size is passed. The caller is single-threaded, so no lock is held by a
        // thread that would not exist in the child.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if pid >= 0 {
            return Ok((pid as i32, true));
        }
        let err = io::Error::last_os_error();
        crate::debug!("clone3 into cgroup fd {fd}: {err}; falling back to fork + migration");
    }
    // SAFETY: clone without CLONE_VM and with a null stack is fork(2) plus namespaces; see
    // above for the single thread.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((pid as i32, false))
}

/// Sets `IFF_UP` on `lo` in the current network namespace.
pub fn loopback_up() -> Result<(), NsError> {
    // SAFETY: socket() returns a new fd or -1; ownership moves into OwnedFd right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(NsError::Loopback(io::Error::last_os_error()));
    }
    // SAFETY: raw is a fresh, valid fd owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(NsError::Loopback(io::Error::last_os_error()));
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(NsError::Loopback(io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The namespaces `enter` joins, in join order: mount first (its root is the stage1 root),
/// pid last (it only applies to children).
pub const NAMESPACES: [(&str, libc::c_int); 5] = [
    ("mnt", libc::CLONE_NEWNS),
    ("uts", libc::CLONE_NEWUTS),
    ("ipc", libc::CLONE_NEWIPC),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
];

/// One namespace of another process, opened and not yet joined.
pub struct NsHandle {
    pub kind: &'static str,
    pub flag: libc::c_int,
    file: File,
}

/// Opens every namespace of `pid` that differs from ours (all opened before any is joined:
/// after joining the mount namespace, `/proc` may be another one).
pub fn open_namespaces(pid: i32) -> Result<Vec<NsHandle>, NsError> {
    let mut out = Vec::new();
    for (kind, flag) in NAMESPACES {
        let path = format!("/proc/{pid}/ns/{kind}");
        let open_err = |source| NsError::Open {
            kind,
            pid,
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(open_err)?;
        let theirs = file.metadata().map_err(open_err)?;
        let ours = std::fs::metadata(format!("/proc/self/ns/{kind}")).map_err(open_err)?;
        if (theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino()) {
            out.push(NsHandle { kind, flag, file });
        }
    }
    Ok(out)
}

/// Joins one namespace opened by [`open_namespaces`].
pub fn join(ns: &NsHandle, pid: i32) -> Result<(), NsError> {
    // SAFETY: setns on an fd we own; no memory is passed.
    if unsafe { libc::setns(ns.file.as_raw_fd(), ns.flag) } != 0 {
        return Err(NsError::Join {
            kind: ns.kind,
            pid,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// `sethostname(name)` in the current UTS namespace.
pub fn set_hostname(name: &str) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the pointer and length describe `c`, which outlives the call.
    if unsafe { libc::sethostname(c.as_ptr(), name.len()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(ipc: IpcMode) -> RunArgs {
        RunArgs {
            ipc,
            ..RunArgs::default()
        }
    }

    #[test]
    fn net_modes() {
        assert_eq!(NetMode::from_arg("host").unwrap(), NetMode::Host);
        assert_eq!(NetMode::from_arg("none").unwrap(), NetMode::None);
        for net in ["default", "", "mynet", "default:IP=1.2.3.4", "all"] {
            assert_eq!(NetMode::from_arg(net).unwrap(), NetMode::Cni, "{net}");
        }
        let err = NetMode::from_arg("host,default").unwrap_err().to_string();
        assert!(err.contains("--net=host,default"), "{err}");
    }

    #[test]
    fn namespace_flags_follow_net_and_ipc() {
        let base = libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWPID;
        let host = pod_namespace_flags(&args(IpcMode::Auto), NetMode::Host);
        assert_eq!(host, base | libc::CLONE_NEWIPC);
        let none = pod_namespace_flags(&args(IpcMode::Private), NetMode::None);
        assert_eq!(none, base | libc::CLONE_NEWIPC | libc::CLONE_NEWNET);
        let cni = pod_namespace_flags(&args(IpcMode::Auto), NetMode::Cni);
        assert_eq!(cni, base | libc::CLONE_NEWIPC);
        let parent = pod_namespace_flags(&args(IpcMode::Parent), NetMode::None);
        assert_eq!(parent, base | libc::CLONE_NEWNET);
        assert_eq!(describe_flags(parent), "mnt,uts,net,pid");
    }

    /// Forks with `cgroup`, the child exiting at once; returns whether it was placed.
    fn fork_and_reap(cgroup: Option<RawFd>) -> bool {
        let (pid, placed) = clone_fork(0, cgroup).unwrap();
        if pid == 0 {
            // SAFETY: the child of a fork only exits.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waitpid writes only into `status`.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        placed
    }

    #[test]
    fn clone_into_a_non_cgroup_falls_back_to_a_fork() {
        assert!(!fork_and_reap(None));
        let dir = tempfile::tempdir().unwrap();
        let fd = File::open(dir.path()).unwrap();
        assert!(
            !fork_and_reap(Some(fd.as_raw_fd())),
            "not a cgroup directory"
        );
    }

    #[test]
    fn own_namespaces_are_not_rejoined() {
        let me = std::process::id() as i32;
        assert!(open_namespaces(me).unwrap().is_empty());
    }
}
