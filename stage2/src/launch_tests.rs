use super::*;
use crate::fake::{Call, RecordingSys};
use crate::spec::RlimitSpec;
use rustix::process::Resource;

const DEFAULT_MASK: u64 = 0xa80425fb;

fn spec() -> AppSpec {
    let json = r#"{"name":"web","root":"/pod/rootfs","exec":["web","-v"],"user":"0","group":"0",
        "working_directory":"/srv"}"#;
    AppSpec::from_json(json.as_bytes(), "test").unwrap()
}

fn identity(uid: u32, gid: u32) -> Identity {
    Identity {
        uid,
        gid,
        supplementary_gids: vec![10, 20],
        user_name: None,
        home: None,
    }
}

fn run(launch: &Launch, sys: &mut RecordingSys) -> Result<(), LaunchError> {
    if sys.executables.is_empty() {
        sys.executables.push("/usr/bin/web".into());
    }
    launch.run(sys)
}

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn root_app_steps_in_order() {
    let launch = Launch::new(spec(), identity(0, 0));
    let mut sys = RecordingSys::default();
    run(&launch, &mut sys).unwrap();
    let calls = sys.calls_without_drops();
    let envp: Vec<String> = launch
        .env
        .iter()
        .map(|v| format!("{}={}", v.name, v.value))
        .collect();
    let argv = vec!["web".to_string(), "-v".to_string()];
    let exec_at = |path: &str| Call::Execve {
        path: path.into(),
        argv: argv.clone(),
        envp: envp.clone(),
    };
    let expected = vec![
        Call::UnshareMountNs,
        Call::MakeRslave(p("/")),
        Call::BindRecursive(p("/pod/rootfs"), p("/pod/rootfs")),
        Call::Chdir(p("/pod/rootfs")),
        Call::PivotRoot(p("."), p(".")),
        Call::UmountDetach(p(".")),
        Call::Chdir(p("/")),
        Call::Chdir(p("/srv")),
        Call::Getcwd,
        Call::Setgroups(vec![10, 20]),
        Call::Setresgid(0),
        Call::Setresuid(0),
        Call::SetCapabilities {
            effective: DEFAULT_MASK,
            permitted: DEFAULT_MASK,
            inheritable: 0,
        },
        Call::ClearAmbient,
        Call::CloseFds(vec![]),
        exec_at("/usr/local/sbin/web"),
        exec_at("/usr/local/bin/web"),
        exec_at("/usr/sbin/web"),
        exec_at("/usr/bin/web"),
    ];
    assert_eq!(calls, expected);
}

#[test]
fn bounding_drops_are_exactly_the_complement_and_precede_setuid() {
    let launch = Launch::new(spec(), identity(0, 0));
    let mut sys = RecordingSys::default();
    run(&launch, &mut sys).unwrap();
    let dropped: Vec<u32> = sys
        .calls
        .iter()
        .filter_map(|c| match c {
            Call::DropBoundingCap(n) => Some(*n),
            _ => None,
        })
        .collect();
    let expected: Vec<u32> = (0..=40).filter(|n| DEFAULT_MASK & (1 << n) == 0).collect();
    assert_eq!(dropped, expected);
    let last_drop = sys
        .calls
        .iter()
        .rposition(|c| matches!(c, Call::DropBoundingCap(_)));
    let first_id = sys
        .calls
        .iter()
        .position(|c| matches!(c, Call::Setgroups(_)));
    let getcwd = sys.calls.iter().position(|c| *c == Call::Getcwd);
    assert!(getcwd < last_drop && last_drop < first_id);
}

#[test]
fn non_root_app_ends_with_no_capabilities() {
    let mut s = spec();
    s.no_new_privileges = true;
    s.readonly_rootfs = true;
    s.oom_score_adj = Some(-100);
    s.rlimits = vec![RlimitSpec {
        resource: "RLIMIT_NOFILE".into(),
        soft: 64,
        hard: 128,
    }];
    s.keep_fds = vec![5];
    let launch = Launch::new(s, identity(1000, 100));
    let mut sys = RecordingSys::default();
    run(&launch, &mut sys).unwrap();
    let calls = sys.calls_without_drops();
    assert_eq!(calls[3], Call::RemountReadonly(p("/pod/rootfs")));
    assert_eq!(calls[4], Call::OomScoreAdj(-100));
    assert_eq!(calls[5], Call::Setrlimit(Resource::Nofile, 64, 128));
    assert_eq!(calls[6], Call::Chdir(p("/pod/rootfs")));
    let tail = &calls[calls.iter().position(|c| *c == Call::Getcwd).unwrap() + 1..];
    assert_eq!(
        &tail[..7],
        &[
            Call::Setgroups(vec![10, 20]),
            Call::Setresgid(100),
            Call::Setresuid(1000),
            Call::SetCapabilities {
                effective: 0,
                permitted: 0,
                inheritable: 0
            },
            Call::ClearAmbient,
            Call::SetNoNewPrivs,
            Call::CloseFds(vec![5]),
        ]
    );
}

#[test]
fn cap_plan_root_and_non_root() {
    let root = cap_plan(DEFAULT_MASK, 0);
    assert_eq!(
        (root.effective, root.permitted, root.inheritable),
        (DEFAULT_MASK, DEFAULT_MASK, 0)
    );
    let user = cap_plan(DEFAULT_MASK, 1);
    assert_eq!(
        (user.bounding, user.effective, user.permitted),
        (DEFAULT_MASK, 0, 0)
    );
}

#[test]
fn working_directory_outside_the_root_is_refused_before_any_identity_change() {
    let launch = Launch::new(spec(), identity(0, 0));
    for cwd in ["(unreachable)/host", "srv"] {
        let mut sys = RecordingSys {
            cwd: Some(p(cwd)),
            ..Default::default()
        };
        let err = run(&launch, &mut sys).unwrap_err();
        assert!(
            matches!(err, LaunchError::WorkingDirOutside { .. }),
            "{err:?}"
        );
        assert_eq!(sys.calls.last(), Some(&Call::Getcwd));
    }
}

#[test]
fn absolute_argv0_is_not_searched_and_missing_programs_are_reported() {
    let mut s = spec();
    s.exec = vec!["/opt/web".into()];
    let launch = Launch::new(s, identity(0, 0));
    let mut sys = RecordingSys::default();
    let err = run(&launch, &mut sys).unwrap_err();
    let execs = sys
        .calls
        .iter()
        .filter(|c| matches!(c, Call::Execve { .. }))
        .count();
    assert_eq!(execs, 1);
    assert!(matches!(err, LaunchError::NotFound { .. }), "{err:?}");
}

#[test]
fn app_path_is_used_for_the_search() {
    let mut s = spec();
    s.environment = vec![EnvVar::new("PATH", "/app/bin::/usr/bin")];
    let launch = Launch::new(s, identity(0, 0));
    let mut sys = RecordingSys {
        executables: vec![p("./web")],
        ..Default::default()
    };
    run(&launch, &mut sys).unwrap();
    let paths: Vec<&str> = sys
        .calls
        .iter()
        .filter_map(|c| match c {
            Call::Execve { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(paths, ["/app/bin/web", "./web"]);
}

#[test]
fn a_failing_step_stops_the_launch_and_names_the_step() {
    let launch = Launch::new(spec(), identity(1000, 1000));
    let mut sys = RecordingSys {
        fail: Some(|c| matches!(c, Call::Setresuid(_))),
        ..Default::default()
    };
    let err = run(&launch, &mut sys).unwrap_err();
    assert!(
        matches!(
            err,
            LaunchError::Step {
                step: "set uid",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sys.calls.last(), Some(&Call::Setresuid(1000)));
}

#[test]
fn exec_candidates_follow_execvp() {
    assert_eq!(exec_candidates("a/b", "/x"), [p("a/b")]);
    assert_eq!(exec_candidates("sh", "/x:/y"), [p("/x/sh"), p("/y/sh")]);
    assert_eq!(exec_candidates("sh", ""), [p("./sh")]);
}

fn with_default_filter() -> AppSpec {
    AppSpec {
        seccomp: Some(crate::seccomp::default_spec()),
        ..spec()
    }
}

#[test]
fn root_app_installs_the_filter_last_holding_sys_admin_until_exec() {
    let launch = Launch::new(with_default_filter(), identity(0, 0));
    let mut sys = RecordingSys::default();
    run(&launch, &mut sys).unwrap();
    let calls = sys.calls_without_drops();
    let at = |want: fn(&Call) -> bool| calls.iter().position(want).unwrap();
    // The default filter (a few hundred instructions), not some other one.
    let install = at(|c| matches!(c, Call::InstallSeccomp(n) if *n > 100));
    assert!(at(|c| matches!(c, Call::CloseFds(_))) < install);
    assert_eq!(install + 1, at(|c| matches!(c, Call::Execve { .. })));
    assert!(!calls.contains(&Call::SetNoNewPrivs));
    let sys_admin = 1u64 << 21;
    assert!(calls.contains(&Call::SetCapabilities {
        effective: DEFAULT_MASK | sys_admin,
        permitted: DEFAULT_MASK | sys_admin,
        inheritable: 0,
    }));
}

#[test]
fn non_root_app_with_a_filter_gets_no_new_privs() {
    let launch = Launch::new(with_default_filter(), identity(1000, 1000));
    let mut sys = RecordingSys::default();
    run(&launch, &mut sys).unwrap();
    let calls = sys.calls_without_drops();
    let nnp = calls
        .iter()
        .position(|c| *c == Call::SetNoNewPrivs)
        .unwrap();
    let install = calls
        .iter()
        .position(|c| matches!(c, Call::InstallSeccomp(_)))
        .unwrap();
    assert!(nnp < install);
    assert!(calls.contains(&Call::SetCapabilities {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }));
}

#[test]
fn a_bad_filter_stops_the_launch_before_any_step() {
    let mut spec = with_default_filter();
    if let Some(f) = spec.seccomp.as_mut() {
        f.syscalls.push("nosuchcall".into());
    }
    let launch = Launch::new(spec, identity(0, 0));
    let mut sys = RecordingSys::default();
    let err = run(&launch, &mut sys).unwrap_err();
    assert!(err.to_string().contains("nosuchcall"), "{err}");
    assert!(sys.calls.is_empty());
}

#[test]
fn user_namespace_is_opened_before_the_pivot_and_joined_after_the_mounts() {
    let spec = AppSpec {
        user_namespace: Some(p("/rkt/userns")),
        ..spec()
    };
    let launch = Launch::new(spec, identity(0, 0));
    let mut sys = RecordingSys::default();
    run(&launch, &mut sys).unwrap();
    let calls = sys.calls_without_drops();
    let at = |c: &Call| calls.iter().position(|x| x == c).unwrap();
    let open = at(&Call::OpenUserNs(p("/rkt/userns")));
    let join = at(&Call::JoinUserNs);
    assert!(open < at(&Call::PivotRoot(p("."), p("."))));
    assert!(join > at(&Call::Getcwd));
    // The ids are set inside the namespace, and the bounding set dropped there too.
    assert!(join < at(&Call::Setresuid(0)));
    let first_drop = sys
        .calls
        .iter()
        .position(|c| matches!(c, Call::DropBoundingCap(_)))
        .unwrap();
    let join_all = sys
        .calls
        .iter()
        .position(|c| *c == Call::JoinUserNs)
        .unwrap();
    assert!(join_all < first_drop);
}

#[test]
fn relative_user_namespace_path_is_refused() {
    let json = r#"{"name":"web","root":"/r","exec":["x"],"user":"0","group":"0",
        "user_namespace":"rkt/userns"}"#;
    assert!(AppSpec::from_json(json.as_bytes(), "test").is_err());
}
