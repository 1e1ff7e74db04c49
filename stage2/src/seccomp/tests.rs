use super::*;

fn set(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn names_map_to_x86_64_numbers() {
    assert_eq!(syscall_number("read"), Some(0));
    assert_eq!(syscall_number("mount"), Some(165));
    assert_eq!(syscall_number("io_uring_setup"), Some(425));
    assert_eq!(syscall_number("cachestat"), Some(451));
    assert_eq!(syscall_number("chown32"), None);
    let mut numbers: Vec<i64> = X86_64.iter().map(|(_, n)| *n).collect();
    let len = numbers.len();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), len, "a number appears twice");
}

#[test]
fn default_allows_normal_work_and_not_the_escape_calls() {
    let d = default_spec();
    assert_eq!(d.mode, FilterMode::Allow);
    assert_eq!(d.errno, Some(libc::EPERM));
    assert!(d.docker_arg_filters);
    for ok in [
        "read",
        "write",
        "openat",
        "getpid",
        "execve",
        "futex",
        "arch_prctl",
    ] {
        assert!(d.syscalls.iter().any(|s| s == ok), "{ok}");
    }
    for blocked in [
        "mount",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "kexec_load",
        "init_module",
        "open_by_handle_at",
        "bpf",
        "perf_event_open",
        "ptrace",
        "userfaultfd",
        "io_uring_setup",
        "clone",
        "clone3",
    ] {
        assert!(!d.syscalls.iter().any(|s| s == blocked), "{blocked}");
    }
    assert!(d.syscalls.len() > 280, "{}", d.syscalls.len());
    assert_eq!(DOCKER_DEFAULT_DENY.len(), 52);
}

#[test]
fn groups_expand_and_other_arch_names_are_skipped() {
    let spec = from_isolator(
        "web",
        SeccompMode::Remove,
        &set(&["@rkt/default-blacklist", "chown32"]),
        Some("ENOSYS"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(spec.mode, FilterMode::Deny);
    assert_eq!(spec.errno, Some(libc::ENOSYS));
    assert!(spec.syscalls.iter().any(|s| s == "mount"));
    assert!(!spec.syscalls.iter().any(|s| s == "vm86" || s == "chown32"));
    // 52 minus stime, umount, vm86, vm86old.
    assert_eq!(spec.syscalls.len(), 48);
    let docker = from_isolator(
        "web",
        SeccompMode::Remove,
        &set(&["@docker/default-blacklist"]),
        None,
    );
    assert_eq!(docker.unwrap().unwrap().syscalls, spec.syscalls);
}

#[test]
fn appc_wildcards() {
    let all = from_isolator("web", SeccompMode::Retain, &set(&["@appc.io/all"]), None);
    assert_eq!(all, Ok(None));
    let empty = from_isolator("web", SeccompMode::Remove, &set(&["@appc.io/empty"]), None);
    assert_eq!(empty, Ok(Some(default_spec())));
    let retain = from_isolator(
        "web",
        SeccompMode::Retain,
        &set(&["@rkt/default-whitelist"]),
        None,
    )
    .unwrap()
    .unwrap();
    assert!(retain.docker_arg_filters && retain.errno.is_none());
}

#[test]
fn bad_names_groups_and_errnos_name_the_app() {
    let err = |set_: &[&str], errno| {
        from_isolator("web", SeccompMode::Retain, &set(set_), errno)
            .unwrap_err()
            .to_string()
    };
    let e = err(&["read", "nosuchcall"], None);
    assert!(e.contains("app web") && e.contains("nosuchcall"), "{e}");
    let e = err(&["@systemd/nosuch"], None);
    assert!(
        e.contains("@systemd/nosuch") && e.contains("@systemd/{clock"),
        "{e}"
    );
    let e = err(&["read"], Some("EFOO9"));
    assert!(e.contains("EFOO9"), "{e}");
    let execve = from_isolator("web", SeccompMode::Remove, &set(&["execve"]), None);
    assert!(matches!(execve, Err(SeccompError::ExecveBlocked { .. })));
    let mut spec = default_spec();
    spec.errno = Some(0);
    assert!(matches!(
        check("web", &spec),
        Err(SeccompError::ErrnoRange { .. })
    ));
}

#[test]
fn program_shape() {
    let spec = SeccompSpec {
        mode: FilterMode::Deny,
        syscalls: set(&["mount", "reboot"]),
        docker_arg_filters: false,
        errno: Some(libc::ENOSYS),
    };
    let p = compile("web", &spec).unwrap();
    // arch check (3), x32 guard (3); mount (165) and reboot (169) are two runs, four bounds:
    // a tree of four comparisons over five leaves.
    assert_eq!(p.len(), 6 + 4 + 5);
    assert_eq!(p[5].k, Action::Errno(38).ret_value());
    let default = compile("web", &default_spec()).unwrap();
    // Docker's ~350 calls as runs: a few hundred instructions, not one pair per call.
    assert!(default.len() < 300, "{} instructions", default.len());
}

const X86_64_ARCH: u32 = 0xc000_003e;

/// What a spec means for a call number (no argument checks), as the tree must answer it.
fn expected(spec: &SeccompSpec, nr: u32) -> u32 {
    let block = match spec.errno {
        Some(e) => Action::Errno(e as u16),
        None => Action::KillProcess,
    };
    let always: &[&str] = match spec.mode {
        FilterMode::Allow => &["execve", "exit", "exit_group", "rt_sigreturn"],
        FilterMode::Deny => &[],
    };
    let listed = spec
        .syscalls
        .iter()
        .map(String::as_str)
        .chain(always.iter().copied())
        .any(|n| syscall_number(n) == Some(i64::from(nr)));
    match (spec.mode, listed) {
        (FilterMode::Allow, true) | (FilterMode::Deny, false) => Action::Allow.ret_value(),
        _ => block.ret_value(),
    }
}

#[test]
fn tree_answers_every_number_as_the_list_does() {
    let specs = [
        default_spec(),
        SeccompSpec {
            mode: FilterMode::Deny,
            syscalls: set(&[
                "read",
                "mount",
                "umount2",
                "reboot",
                "kexec_load",
                "cachestat",
            ]),
            docker_arg_filters: false,
            errno: Some(libc::ENOSYS),
        },
        SeccompSpec {
            mode: FilterMode::Allow,
            syscalls: set(&["read", "write", "getppid"]),
            docker_arg_filters: false,
            errno: None,
        },
        SeccompSpec {
            mode: FilterMode::Deny,
            syscalls: Vec::new(),
            docker_arg_filters: false,
            errno: Some(libc::EPERM),
        },
    ];
    let checked = [
        libc::SYS_clone,
        libc::SYS_clone3,
        libc::SYS_socket,
        libc::SYS_personality,
    ];
    for spec in &specs {
        let p = compile("t", spec).unwrap();
        for nr in (0..1100).chain([0x3fff_ffff, u32::MAX >> 2]) {
            if spec.docker_arg_filters && checked.contains(&i64::from(nr)) {
                continue;
            }
            assert_eq!(
                bpf::evaluate(&p, nr, X86_64_ARCH, 0),
                Some(expected(spec, nr)),
                "{:?} call {nr}",
                spec.mode
            );
        }
        // x32 numbers and foreign architectures never get through a blocking filter.
        let getppid = libc::SYS_getppid as u32;
        let x32 = bpf::evaluate(&p, getppid | 0x4000_0000, X86_64_ARCH, 0);
        assert_ne!(x32, None);
        assert_eq!(
            bpf::evaluate(&p, getppid, 0x4000_0003, 0),
            Some(Action::KillProcess.ret_value())
        );
    }
    // The checked calls of the default filter: clone without namespace flags, AF_VSOCK.
    let p = compile("t", &default_spec()).unwrap();
    let ok = Some(Action::Allow.ret_value());
    let eperm = Some(Action::Errno(1).ret_value());
    assert_eq!(
        bpf::evaluate(&p, libc::SYS_clone as u32, X86_64_ARCH, 0x11),
        ok
    );
    assert_eq!(
        bpf::evaluate(&p, libc::SYS_clone as u32, X86_64_ARCH, 0x1000_0000),
        eperm
    );
    assert_eq!(
        bpf::evaluate(&p, libc::SYS_socket as u32, X86_64_ARCH, 40),
        eperm
    );
    assert_eq!(
        bpf::evaluate(&p, libc::SYS_socket as u32, X86_64_ARCH, 2),
        ok
    );
}

#[test]
fn long_trees_jump_over_far_halves() {
    // Every even number: ~190 runs of one, ~380 bounds; the root's lower half is beyond a
    // conditional jump's reach of 255.
    let names: Vec<String> = X86_64
        .iter()
        .filter(|(_, nr)| nr % 2 == 0)
        .map(|(n, _)| n.to_string())
        .collect();
    let spec = SeccompSpec {
        mode: FilterMode::Deny,
        syscalls: names,
        docker_arg_filters: false,
        errno: Some(libc::EPERM),
    };
    let p = compile("t", &spec).unwrap();
    assert!(p.len() > 255);
    for nr in 0..600 {
        assert_eq!(
            bpf::evaluate(&p, nr, X86_64_ARCH, 0),
            Some(expected(&spec, nr)),
            "{nr}"
        );
    }
}

/// Installs `program` in a forked child (with no_new_privs, so no privilege is needed), makes
/// `call` there and returns what the child saw: `Ok(())`, `Err(errno)`, or the killing signal
/// as `Err(-signal)`.
fn in_child(program: &[SockFilter], call: impl Fn() -> libc::c_long) -> Result<(), i32> {
    // SAFETY: the child only makes raw syscalls and _exits (async-signal-safe after fork).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: prctl with constant arguments.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if install(program).is_err() {
            unsafe { libc::_exit(200) };
        }
        let rc = call();
        let code = if rc >= 0 {
            0
        } else {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(199)
        };
        // SAFETY: ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        return Err(-libc::WTERMSIG(status));
    }
    match libc::WEXITSTATUS(status) {
        0 => Ok(()),
        200 => panic!("the child could not install the filter"),
        e => Err(e),
    }
}

fn getppid() -> libc::c_long {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_getppid) }
}

fn unshare_uts() -> libc::c_long {
    // SAFETY: a failing or succeeding unshare only affects the child.
    unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS) }
}

#[test]
fn filters_run_in_a_child() {
    let deny = SeccompSpec {
        mode: FilterMode::Deny,
        syscalls: set(&["unshare"]),
        docker_arg_filters: false,
        errno: Some(libc::ENOSYS),
    };
    let p = compile("t", &deny).unwrap();
    assert_eq!(in_child(&p, unshare_uts), Err(libc::ENOSYS));
    assert_eq!(in_child(&p, getppid), Ok(()));

    let allow = SeccompSpec {
        mode: FilterMode::Allow,
        syscalls: set(&["getppid"]),
        docker_arg_filters: false,
        errno: None,
    };
    let p = compile("t", &allow).unwrap();
    assert_eq!(in_child(&p, getppid), Ok(()));
    assert_eq!(in_child(&p, unshare_uts), Err(-libc::SIGSYS));

    let p = compile("t", &default_spec()).unwrap();
    assert_eq!(in_child(&p, getppid), Ok(()));
    assert_eq!(in_child(&p, unshare_uts), Err(libc::EPERM));
    // SAFETY: a namespace clone is refused by the filter before it happens; a plain
    // vfork-style clone is not attempted (the child would share our memory).
    let newns = || unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::CLONE_NEWUSER | libc::SIGCHLD,
            0,
            0,
            0,
            0,
        )
    };
    assert_eq!(in_child(&p, newns), Err(libc::EPERM));
    // SAFETY: clone3 with a null argument: the filter answers before the kernel reads it.
    let clone3 = || unsafe { libc::syscall(libc::SYS_clone3, 0, 0) };
    assert_eq!(in_child(&p, clone3), Err(libc::ENOSYS));
    // SAFETY: socket() creates an fd in the child only.
    let vsock = || unsafe { libc::syscall(libc::SYS_socket, libc::AF_VSOCK, libc::SOCK_STREAM, 0) };
    assert_eq!(in_child(&p, vsock), Err(libc::EPERM));
    // x32 numbering of an allowed call is still refused.
    let x32 = || unsafe { libc::syscall(libc::SYS_getppid | 0x4000_0000) };
    assert_eq!(in_child(&p, x32), Err(libc::EPERM));
}

#[test]
fn systemd_groups_expand_to_known_x86_64_calls() {
    for name in super::systemd::GROUPS {
        let group = format!("@systemd/{name}");
        let names = super::systemd::group(name).unwrap();
        assert!(!names.is_empty(), "{group}");
        for call in &names {
            let known = syscall_number(call).is_some() || OTHER_ARCH.contains(call);
            assert!(
                known,
                "{group}: {call} is neither an x86_64 call nor listed elsewhere"
            );
        }
        let mode = if name == "default-whitelist" {
            SeccompMode::Retain
        } else {
            SeccompMode::Remove
        };
        let spec = from_isolator("web", mode, &set(&[&group]), None)
            .unwrap()
            .unwrap();
        compile("web", &spec).unwrap();
    }
    let clock = from_isolator("web", SeccompMode::Remove, &set(&["@systemd/clock"]), None)
        .unwrap()
        .unwrap();
    assert_eq!(
        clock.syscalls,
        ["adjtimex", "clock_adjtime", "clock_settime", "settimeofday"]
    );
    let privileged = super::systemd::group("privileged").unwrap();
    for call in ["settimeofday", "iopl", "setuid", "init_module"] {
        assert!(privileged.contains(&call), "{call}");
    }
    let process = super::systemd::group("process").unwrap();
    assert!(process.contains(&"unshare") && !process.contains(&"execve"));
}
