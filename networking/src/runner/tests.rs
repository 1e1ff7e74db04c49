use super::*;
use crate::conf::NetConf;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

fn runner(dirs: Vec<PathBuf>) -> Runner {
    Runner {
        container_id: "u-1".into(),
        netns: "/run/rkt/netns/rkt-u-1".into(),
        plugin_dirs: dirs,
        timeout: Duration::from_secs(5),
        debug: false,
        builtin_dir: None,
    }
}

fn net(conf: Value, args: &str) -> ActiveNet {
    ActiveNet {
        conf: NetConf::from_slice(conf.to_string().as_bytes(), None, "t.conf").unwrap(),
        args: args.into(),
        if_name: "eth1".into(),
    }
}

fn script(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn env_has_every_cni_variable() {
    let r = runner(vec!["/a".into(), "/b/c".into()]);
    let env = r.env(CniCommand::Add, "eth0", "IP=10.0.0.9;X=1");
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("CNI_COMMAND"), Some("ADD"));
    assert_eq!(get("CNI_CONTAINERID"), Some("u-1"));
    assert_eq!(get("CNI_NETNS"), Some("/run/rkt/netns/rkt-u-1"));
    assert_eq!(get("CNI_IFNAME"), Some("eth0"));
    assert_eq!(get("CNI_ARGS"), Some("IgnoreUnknown=1;IP=10.0.0.9;X=1"));
    assert_eq!(get("CNI_PATH"), Some("/a:/b/c"));
    let env = r.env(CniCommand::Del, "eth1", "");
    assert!(env.contains(&("CNI_ARGS".into(), "IgnoreUnknown=1".into())));
    assert!(env.contains(&("CNI_COMMAND".into(), "DEL".into())));
}

#[test]
fn plugins_are_searched_in_order() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    script(d2.path(), "ptp", "exit 0");
    std::fs::write(d1.path().join("ptp"), "not executable").unwrap();
    let r = runner(vec![d1.path().into(), d2.path().into()]);
    assert_eq!(r.find_plugin("n", "ptp").unwrap(), d2.path().join("ptp"));
    script(d1.path(), "ptp", "exit 0");
    assert_eq!(r.find_plugin("n", "ptp").unwrap(), d1.path().join("ptp"));
    let err = r.find_plugin("n", "bridge").unwrap_err().to_string();
    assert!(err.contains("\"bridge\" not found"), "{err}");
}

#[test]
fn add_passes_env_and_stdin_and_parses_the_result() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("log");
    // The fake plugin records its input and answers a 1.0.0 result.
    script(
        d.path(),
        "fake",
        &format!(
            "cat > {log}.$CNI_COMMAND; env | grep ^CNI_ | sort >> {log}.$CNI_COMMAND\n\
             [ \"$CNI_COMMAND\" = DEL ] && exit 0\n\
             echo '{{\"cniVersion\":\"1.0.0\",\"ips\":[{{\"address\":\"10.5.0.2/24\",\"gateway\":\"10.5.0.1\"}}],\"dns\":{{\"nameservers\":[\"10.5.0.1\"]}}}}'",
            log = log.display()
        ),
    );
    let r = runner(vec![d.path().into()]);
    let n = net(
        json!({"cniVersion": "1.0.0", "name": "t", "type": "fake"}),
        "A=b",
    );
    let a = r.add(&n).unwrap();
    assert_eq!(a.plugin_path, d.path().join("fake"));
    assert_eq!(
        a.result.primary_ip().unwrap().address.to_string(),
        "10.5.0.2"
    );
    let seen = std::fs::read_to_string(format!("{}.ADD", log.display())).unwrap();
    assert!(
        seen.starts_with("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"type\":\"fake\"}"),
        "{seen}"
    );
    assert!(seen.contains("CNI_ARGS=IgnoreUnknown=1;A=b\n"), "{seen}");
    assert!(seen.contains("CNI_IFNAME=eth1\n"), "{seen}");
    r.del(&n, Some(&a.raw_result)).unwrap();
    let seen = std::fs::read_to_string(format!("{}.DEL", log.display())).unwrap();
    assert!(seen.contains("\"prevResult\":{"), "{seen}");
    assert!(seen.contains("CNI_COMMAND=DEL"), "{seen}");
}

#[test]
fn failures_carry_the_cni_message_and_undo_what_was_added() {
    let d = tempfile::tempdir().unwrap();
    let dels = d.path().join("dels");
    script(
        d.path(),
        "ok",
        &format!(
            "[ \"$CNI_COMMAND\" = DEL ] && {{ echo $CNI_IFNAME >> {}; exit 0; }}\n\
             echo '{{\"cniVersion\":\"0.4.0\",\"ips\":[{{\"version\":\"4\",\"address\":\"10.0.0.2/8\"}}]}}'",
            dels.display()
        ),
    );
    script(
        d.path(),
        "bad",
        &format!(
            "[ \"$CNI_COMMAND\" = DEL ] && {{ echo bad-$CNI_IFNAME >> {}; exit 0; }}\n\
             echo '{{\"code\":11,\"msg\":\"no addresses left\",\"details\":\"subnet full\"}}'; exit 1",
            dels.display()
        ),
    );
    let r = runner(vec![d.path().into()]);
    let mut n1 = net(
        json!({"cniVersion": "0.4.0", "name": "a", "type": "ok"}),
        "",
    );
    n1.if_name = "eth0".into();
    let n2 = net(
        json!({"cniVersion": "0.4.0", "name": "b", "type": "bad"}),
        "",
    );
    let err = r.add_all(&[n1, n2]).unwrap_err().to_string();
    assert!(
        err.contains("no addresses left: subnet full (CNI error 11)"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&dels).unwrap(), "bad-eth1\neth0\n");
}

#[test]
fn a_hanging_plugin_is_killed() {
    let d = tempfile::tempdir().unwrap();
    script(d.path(), "hang", "exec sleep 30");
    let mut r = runner(vec![d.path().into()]);
    r.timeout = Duration::from_millis(300);
    let n = net(
        json!({"cniVersion": "0.4.0", "name": "h", "type": "hang"}),
        "",
    );
    let start = std::time::Instant::now();
    let err = r.add(&n).unwrap_err();
    assert!(matches!(err, RunnerError::Timeout { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn garbage_output_is_a_bad_result() {
    let d = tempfile::tempdir().unwrap();
    script(d.path(), "junk", "echo hello");
    let r = runner(vec![d.path().into()]);
    let n = net(
        json!({"cniVersion": "0.4.0", "name": "j", "type": "junk"}),
        "",
    );
    let err = r.add(&n).unwrap_err().to_string();
    assert!(err.contains("unusable result"), "{err}");
}

/// A conf for our host-local with its lease store under `data`.
fn host_local_net(data: &Path, subnet: &str) -> ActiveNet {
    net(
        json!({"cniVersion": "1.0.0", "name": "inproc", "type": "host-local",
               "ipam": {"type": "host-local", "subnet": subnet,
                        "dataDir": data.display().to_string()}}),
        "",
    )
}

#[test]
fn builtins_in_the_builtin_dir_run_in_process() {
    let d = tempfile::tempdir().unwrap();
    let builtin = d.path().join("stage1-plugins");
    std::fs::create_dir(&builtin).unwrap();
    // Exec'd, this stand-in would fail: a result proves the call never left the process.
    script(&builtin, "host-local", "echo exec-was-used >&2; exit 1");
    let mut r = runner(vec![builtin.clone()]);
    r.builtin_dir = Some(builtin.clone());
    let data = d.path().join("leases");
    let n = host_local_net(&data, "10.77.0.0/24");
    let a = r.add(&n).unwrap();
    assert_eq!(a.plugin_path, builtin.join("host-local"));
    let ip = a.result.primary_ip().unwrap().address.to_string();
    assert_eq!(ip, "10.77.0.2");
    assert_eq!(a.raw_result["ips"][0]["address"], "10.77.0.2/24");
    let lease = data.join("inproc").join(&ip);
    assert_eq!(std::fs::read_to_string(&lease).unwrap().trim(), "u-1");
    r.del(&n, Some(&a.raw_result)).unwrap();
    assert!(!lease.exists(), "DEL in-process frees the lease");
}

#[test]
fn builtin_errors_read_like_the_exec_path() {
    let d = tempfile::tempdir().unwrap();
    script(d.path(), "host-local", "exit 1");
    let mut r = runner(vec![d.path().into()]);
    r.builtin_dir = Some(d.path().into());
    let n = host_local_net(&d.path().join("leases"), "not-a-subnet");
    let e = r.add(&n).unwrap_err().to_string();
    assert!(
        e.contains("CNI plugin") && e.contains("(ADD) failed"),
        "{e}"
    );
    assert!(e.contains("(CNI error "), "{e}");
}

#[test]
fn overrides_and_other_types_are_still_executed() {
    let d = tempfile::tempdir().unwrap();
    let (user, builtin) = (d.path().join("net.d"), d.path().join("builtin"));
    for dir in [&user, &builtin] {
        std::fs::create_dir(dir).unwrap();
    }
    let answer = "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.9.0.9/24\"}]}'";
    // A user's host-local earlier on the path wins over the built-in one...
    script(&user, "host-local", answer);
    script(&builtin, "host-local", "exit 1");
    // ...and a type we do not implement is exec'd even from the built-in dir.
    script(&builtin, "fake", answer);
    let mut r = runner(vec![user.clone(), builtin.clone()]);
    r.builtin_dir = Some(builtin.clone());
    let data = d.path().join("leases");
    let a = r.add(&host_local_net(&data, "10.77.0.0/24")).unwrap();
    assert_eq!(a.plugin_path, user.join("host-local"));
    assert_eq!(a.raw_result["ips"][0]["address"], "10.9.0.9/24");
    assert!(!data.exists(), "the built-in host-local did not run");
    let f = net(
        json!({"cniVersion": "1.0.0", "name": "f", "type": "fake"}),
        "",
    );
    assert_eq!(r.add(&f).unwrap().plugin_path, builtin.join("fake"));
}
