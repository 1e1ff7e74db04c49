//! The `@systemd/…` groups rkt accepted (rkt.md §6): rkt handed them to systemd's
//! `SystemCallFilter=` as its `@clock`, `@mount`, … sets. We expand them ourselves, with the
//! contents those systemd sets have, on x86_64. Two deliberate differences: `@systemd/process`
//! leaves out `execve` (a remove-set with it could never start the app; systemd exempts the
//! exec it makes itself), and `@systemd/mount` includes the new mount API calls, which mount
//! through other entry points.

/// `@systemd/clock`: setting the system clock.
const CLOCK: &[&str] = &[
    "adjtimex",
    "clock_adjtime",
    "clock_settime",
    "settimeofday",
    "stime",
];

/// `@systemd/default-whitelist` (systemd's `@default`): what any program needs to exist.
const DEFAULT: &[&str] = &[
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "execve",
    "exit",
    "exit_group",
    "futex",
    "get_robust_list",
    "get_thread_area",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getsid",
    "gettid",
    "gettimeofday",
    "getuid",
    "membarrier",
    "nanosleep",
    "pause",
    "prlimit64",
    "restart_syscall",
    "rt_sigreturn",
    "sched_yield",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "set_tls",
    "sigreturn",
    "time",
    "ugetrlimit",
];

/// `@systemd/mount`: mounting, unmounting, changing the root.
const MOUNT: &[&str] = &[
    "chroot",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "pivot_root",
    "umount",
    "umount2",
];

/// `@systemd/network-io`: sockets.
const NETWORK_IO: &[&str] = &[
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socket",
    "socketcall",
    "socketpair",
];

/// `@systemd/obsolete`: calls no current program makes.
const OBSOLETE: &[&str] = &[
    "_sysctl",
    "afs_syscall",
    "bdflush",
    "break",
    "create_module",
    "ftime",
    "get_kernel_syms",
    "getpmsg",
    "gtty",
    "idle",
    "lock",
    "mpx",
    "prof",
    "profil",
    "putpmsg",
    "query_module",
    "security",
    "sgetmask",
    "ssetmask",
    "stty",
    "sysfs",
    "tuxcall",
    "ulimit",
    "uselib",
    "ustat",
    "vserver",
];

/// `@systemd/privileged`: calls that need privileges (systemd's list, which takes in
/// `@clock`, `@module` and `@raw-io` too).
const PRIVILEGED: &[&str] = &[
    "acct",
    "bdflush",
    "bpf",
    "capset",
    "chown",
    "chown32",
    "chroot",
    "delete_module",
    "fchown",
    "fchown32",
    "fchownat",
    "finit_module",
    "init_module",
    "kexec_file_load",
    "kexec_load",
    "lchown",
    "lchown32",
    "nfsservctl",
    "pivot_root",
    "quotactl",
    "reboot",
    "setdomainname",
    "setfsuid",
    "setfsuid32",
    "setgroups",
    "setgroups32",
    "sethostname",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setuid",
    "setuid32",
    "swapoff",
    "swapon",
    "_sysctl",
    "vhangup",
];

/// `@systemd/process`: making, changing and signalling processes (without `execve`, above).
const PROCESS: &[&str] = &[
    "arch_prctl",
    "capget",
    "clone",
    "clone3",
    "execveat",
    "fork",
    "getrusage",
    "kill",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "setns",
    "swapcontext",
    "tgkill",
    "times",
    "tkill",
    "unshare",
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
];

/// `@systemd/raw-io`: raw I/O port and PCI configuration access.
const RAW_IO: &[&str] = &[
    "ioperm",
    "iopl",
    "pciconfig_iobase",
    "pciconfig_read",
    "pciconfig_write",
    "s390_pci_mmio_read",
    "s390_pci_mmio_write",
];

/// Names in these groups that no Linux architecture we know of still has, or that only
/// exist elsewhere: skipped like [`super::groups::OTHER_ARCH`].
pub(super) const NOT_ON_X86_64: &[&str] = &[
    "break",
    "ftime",
    "gtty",
    "idle",
    "lock",
    "mpx",
    "nfsservctl",
    "pciconfig_iobase",
    "pciconfig_read",
    "pciconfig_write",
    "prof",
    "profil",
    "stty",
    "swapcontext",
    "ulimit",
    "bdflush",
];

/// The names of `@systemd/<name>`, or `None` for an unknown one.
pub fn group(name: &str) -> Option<Vec<&'static str>> {
    let mut names: Vec<&'static str> = match name {
        "clock" => CLOCK.to_vec(),
        "default-whitelist" => DEFAULT.to_vec(),
        "mount" => MOUNT.to_vec(),
        "network-io" => NETWORK_IO.to_vec(),
        "obsolete" => OBSOLETE.to_vec(),
        "privileged" => PRIVILEGED.to_vec(),
        "process" => PROCESS.to_vec(),
        "raw-io" => RAW_IO.to_vec(),
        _ => return None,
    };
    if name == "privileged" {
        names.extend(CLOCK);
        names.extend(RAW_IO);
    }
    names.retain(|n| !NOT_ON_X86_64.contains(n));
    Some(names)
}

/// Every group name (for tests).
#[cfg(test)]
pub const GROUPS: [&str; 8] = [
    "clock",
    "default-whitelist",
    "mount",
    "network-io",
    "obsolete",
    "privileged",
    "process",
    "raw-io",
];
