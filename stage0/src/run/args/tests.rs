use super::*;

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn run(s: &str) -> RunArgs {
    parse(Command::Run, &argv(s)).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> ArgsError {
    match parse(Command::Run, &argv(s)) {
        Ok(r) => panic!("{s} should fail, got {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn images_and_app_args() {
    let r = run("a.aci --exec /bin/x -- -l --foo=1 --- b.aci -- z");
    assert_eq!(r.apps.len(), 2);
    assert_eq!(r.apps[0].image, "a.aci");
    assert_eq!(r.apps[0].flags.exec.as_deref(), Some("/bin/x"));
    assert_eq!(
        r.apps[0].flags.args,
        Some(vec!["-l".to_string(), "--foo=1".to_string()])
    );
    assert_eq!(r.apps[1].image, "b.aci");
    assert_eq!(r.apps[1].flags.args, Some(vec!["z".to_string()]));
    assert_eq!(r.apps[1].flags.exec, None);
    // `--` with nothing after it still means "no args" explicitly.
    assert_eq!(run("a.aci --").apps[0].flags.args, Some(vec![]));
    assert_eq!(run("a.aci").apps[0].flags.args, None);
}

#[test]
fn app_args_may_contain_pod_flags_verbatim() {
    let r = run("a.aci -- --net=host --stage1-path=x --- --net=none");
    assert_eq!(
        r.apps[0].flags.args,
        Some(argv("--net=host --stage1-path=x"))
    );
    assert_eq!(r.pod.net, vec!["none"]);
    assert!(r.pod.stage1.is_none());
}

#[test]
fn flags_before_first_image_apply_to_all_and_app_wins() {
    let r = run(
        "--user=1 --environment=A=1 --environment=B=2 --memory=64M a.aci --user 2 \
         --environment B=3 b.aci --cpu=500m",
    );
    let a = &r.apps[0].flags;
    let b = &r.apps[1].flags;
    assert_eq!(a.user.as_deref(), Some("2"));
    assert_eq!(b.user.as_deref(), Some("1"));
    assert_eq!(
        a.environment,
        vec![("A".into(), "1".into()), ("B".into(), "3".into())]
    );
    assert_eq!(
        b.environment,
        vec![("A".into(), "1".into()), ("B".into(), "2".into())]
    );
    assert_eq!(a.isolators.len(), 1);
    assert_eq!(b.isolators.len(), 2);
    assert!(b.isolators.iter().any(|i| i.name() == "resource/memory"));
}

#[test]
fn same_isolator_twice_last_wins() {
    let r = run("a.aci --memory=64M --memory=128M");
    assert_eq!(r.apps[0].flags.isolators.len(), 1);
    assert_eq!(
        r.apps[0].flags.isolators[0].to_json()["limit"],
        serde_json::json!("128M")
    );
}

#[test]
fn pod_flags_anywhere_and_both_value_forms() {
    let r = run(
        "a.aci --hostname h --set-env=X=1 b.aci --volume=v,kind=host,source=/srv \
         --dns 8.8.8.8 --dns=1.1.1.1 --net=host --interactive=false --no-overlay",
    );
    assert_eq!(r.apps.len(), 2);
    assert_eq!(r.pod.hostname.as_deref(), Some("h"));
    assert_eq!(r.pod.set_env, vec![("X".into(), "1".into())]);
    assert_eq!(r.pod.volumes[0].name.as_str(), "v");
    assert_eq!(r.pod.dns, vec!["8.8.8.8", "1.1.1.1"]);
    assert_eq!(r.pod.net_spec(), "host");
    assert!(!r.pod.interactive);
    assert!(r.pod.no_overlay);
}

#[test]
fn net_alone_does_not_eat_the_image() {
    let r = run("--net a.aci");
    assert_eq!(r.apps[0].image, "a.aci");
    assert_eq!(r.pod.net_spec(), "default");
    assert_eq!(run("a.aci").pod.net_spec(), "default");
    assert_eq!(run("--net=a --net=b x").pod.net_spec(), "a,b");
}

#[test]
fn booleans() {
    assert!(run("--inherit-env a").pod.inherit_env);
    assert!(run("--inherit-env=true a").pod.inherit_env);
    assert!(!run("--inherit-env=0 a").pod.inherit_env);
    // A boolean never takes the next word: `true` here is an image.
    assert_eq!(run("--inherit-env true").apps[0].image, "true");
    assert!(matches!(
        err("--inherit-env=maybe a"),
        ArgsError::BadValue { .. }
    ));
    assert_eq!(
        run("a --readonly-rootfs").apps[0].flags.readonly_rootfs,
        Some(true)
    );
}

#[test]
fn global_flags_anywhere() {
    let r = run(
        "a.aci --debug --dir=/d --insecure-options image --local-config=/l b.aci --user-config /u --system-config=/s --trust-keys-from-https",
    );
    assert_eq!(r.global.debug, Some(true));
    assert_eq!(r.global.dir, Some(PathBuf::from("/d")));
    assert_eq!(r.global.insecure_options.as_deref(), Some("image"));
    assert_eq!(r.global.local_config, Some(PathBuf::from("/l")));
    assert_eq!(r.global.user_config, Some(PathBuf::from("/u")));
    assert_eq!(r.global.system_config, Some(PathBuf::from("/s")));
    assert_eq!(r.global.trust_keys_from_https, Some(true));
    assert_eq!(r.apps.len(), 2);
}

#[test]
fn help() {
    assert!(run("--help").help);
    assert!(run("-h").help);
    assert!(run("a --help").help);
}

#[test]
fn per_app_value_parsing() {
    let r = run(
        "a --supplementary-gids=1,2,3 --working-dir=/w --name=web --mount volume=data,target=/d \
         --annotation=example.com/x=y --user-annotation=k=v --user-label=l=w --group=g \
         --caps-retain=CAP_KILL --seccomp mode=retain,read,write --oom-score-adj=5 --cpu-shares=512",
    );
    let f = &r.apps[0].flags;
    assert_eq!(f.supplementary_gids, Some(vec![1, 2, 3]));
    assert_eq!(f.working_dir.as_deref(), Some("/w"));
    assert_eq!(f.name.as_ref().unwrap().as_str(), "web");
    assert_eq!(f.mounts[0].volume.as_str(), "data");
    assert_eq!(f.mounts[0].target, "/d");
    assert_eq!(f.annotations[0].0.as_str(), "example.com/x");
    assert_eq!(f.annotations[0].1, "y");
    assert_eq!(f.user_annotations, vec![("k".into(), "v".into())]);
    assert_eq!(f.user_labels, vec![("l".into(), "w".into())]);
    assert_eq!(f.group.as_deref(), Some("g"));
    assert_eq!(f.isolators.len(), 4);
    for bad in [
        "a --supplementary-gids=1,x",
        "a --working-dir=rel",
        "a --name=Bad_Name",
        "a --mount=volume=v",
        "a --mount=target=/x,volume=v,extra=1",
        "a --annotation=noequals",
        "a --environment==v",
        "a --memory=1m",
        "a --caps-retain=CAP_FLY",
        "a --port=http",
        "a --port=http:1.2.3:80",
        "a --ipc=shared",
        "a --pull-policy=sometimes",
        "a --volume=v,kind=weird",
    ] {
        assert!(
            matches!(err(bad), ArgsError::BadValue { .. }),
            "{bad}: {:?}",
            parse(Command::Run, &argv(bad))
        );
    }
}

#[test]
fn ports() {
    let r = run("a --port=http:8080 --port=dns:127.0.0.1:53");
    assert_eq!(r.pod.ports[0].name.as_str(), "http");
    assert_eq!(r.pod.ports[0].host_port, 8080);
    assert_eq!(r.pod.ports[1].host_ip, Some("127.0.0.1".parse().unwrap()));
}

#[test]
fn usage_errors() {
    assert_eq!(err("-- a"), ArgsError::ArgsWithoutImage);
    assert_eq!(err("a --- b"), ArgsError::StrayTerminator);
    assert_eq!(err(""), ArgsError::NoImages);
    assert_eq!(err("--hostname=x"), ArgsError::NoImages);
    assert!(matches!(err("a --bogus"), ArgsError::UnknownFlag { .. }));
    assert!(matches!(err("a -x"), ArgsError::UnknownFlag { .. }));
    assert!(matches!(err("a --exec"), ArgsError::MissingValue { .. }));
    // `--quiet` is prepare's.
    assert!(matches!(err("a --quiet"), ArgsError::UnknownFlag { .. }));
    let p = parse(Command::Prepare, &argv("a --quiet")).unwrap();
    assert!(p.pod.quiet);
    let prep = parse(Command::Prepare, &argv("a --private-users"));
    assert!(matches!(prep, Err(ArgsError::Unsupported { .. })));
}

#[test]
fn private_users_and_pids_limit() {
    let p = parse(Command::Run, &argv("--private-users --pids-limit=64 a")).unwrap();
    assert!(p.pod.private_users);
    assert_eq!(p.pod.pids_limit.as_deref(), Some("64"));
    let p = parse(Command::Run, &argv("--pids-limit=max a")).unwrap();
    assert_eq!(p.pod.pids_limit.as_deref(), Some("max"));
    for bad in ["0", "-1", "lots", ""] {
        let r = parse(Command::Run, &argv(&format!("--pids-limit={bad} a")));
        assert!(r.is_err(), "--pids-limit={bad} accepted");
    }
}

#[test]
fn conflicts_name_both_flags() {
    let msg = |s: &str| err(s).to_string();
    let m = msg("--stage1-path=/x --stage1-name=y a");
    assert!(
        m.contains("--stage1-path") && m.contains("--stage1-name"),
        "{m}"
    );
    // The same stage1 flag twice: the last wins, as with any flag.
    assert_eq!(
        run("--stage1-name=x --stage1-name=y a").pod.stage1,
        Some(Stage1Flag::Name("y".into()))
    );
    let m = msg("--interactive a b");
    assert!(m.contains("--interactive"), "{m}");
    run("--interactive a");
    let m = msg("--pod-manifest=/p a");
    assert!(m.contains("--pod-manifest") && m.contains("IMAGE"), "{m}");
    let m = msg("--pod-manifest=/p --volume=v,kind=empty");
    assert!(m.contains("--volume"), "{m}");
    let m = msg("--pod-manifest=/p --set-env=A=1");
    assert!(m.contains("--set-env"), "{m}");
    let m = msg("--pod-manifest=/p --inherit-env");
    assert!(m.contains("--inherit-env"), "{m}");
    let m = msg("--pod-manifest=/p --port=http:80");
    assert!(m.contains("--port"), "{m}");
    let m = msg("--pod-manifest=/p --exec=/x");
    assert!(m.contains("per-app"), "{m}");
    assert!(run("--pod-manifest=/p").pod.pod_manifest.is_some());
    let m = msg("--net=host --port=http:80 a");
    assert!(m.contains("--port") && m.contains("--net=host"), "{m}");
    let m = msg("--net=none --mds-register a");
    assert!(
        m.contains("--mds-register") && m.contains("--net=none"),
        "{m}"
    );
    let m = msg("a --name=x b --name=x");
    assert!(m.contains("--name=x"), "{m}");
    let m = msg("--signature=s a b");
    assert!(m.contains("--signature"), "{m}");
    let r = run("a --signature=s b");
    assert_eq!(r.apps[0].flags.signature, Some(PathBuf::from("s")));
    assert_eq!(r.apps[1].flags.signature, None);
}

#[test]
fn mounts_merge_by_target_app_first() {
    let r =
        run("--mount=volume=g,target=/d --mount=volume=h,target=/e a --mount=volume=own,target=/d");
    let m = &r.apps[0].flags.mounts;
    assert_eq!(m.len(), 2);
    assert!(
        m.iter()
            .any(|x| x.volume.as_str() == "own" && x.target == "/d")
    );
    assert!(m.iter().any(|x| x.volume.as_str() == "h"));
}
