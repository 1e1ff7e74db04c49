use super::*;
use serde_json::json;

fn named(list: &[(&str, &str)]) -> NetSpec {
    NetSpec::Named(
        list.iter()
            .map(|(n, a)| NetRequest {
                name: n.to_string(),
                args: a.to_string(),
            })
            .collect(),
    )
}

#[test]
fn net_spec_parsing() {
    assert_eq!(NetSpec::parse("").unwrap(), named(&[("default", "")]));
    assert_eq!(NetSpec::parse("host").unwrap(), NetSpec::Host);
    assert_eq!(NetSpec::parse("none").unwrap(), NetSpec::None);
    assert_eq!(NetSpec::parse("all").unwrap(), NetSpec::All);
    assert_eq!(
        NetSpec::parse("default,n2:IP=10.1.0.9;K=V").unwrap(),
        named(&[("default", ""), ("n2", "IP=10.1.0.9;K=V")])
    );
    assert!(NetSpec::parse("default").unwrap().uses_cni());
    assert!(!NetSpec::parse("host").unwrap().uses_cni());
}

#[test]
fn net_spec_conflicts_are_errors() {
    for bad in [
        "host,default",
        "none,n1",
        "all,n1",
        "host:K=V",
        "all:K=V",
        "n1,n1",
        "n1,n1:K=V",
        "n1,",
        "n1:novalue",
        "n1:=v",
        "bad/name",
        "n1:K=a b",
    ] {
        let err = NetSpec::parse(bad).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--net={bad}: ")), "{bad}: {err}");
    }
}

fn write(dir: &Path, file: &str, conf: Value) {
    std::fs::write(dir.join(file), serde_json::to_vec(&conf).unwrap()).unwrap();
}

fn ptp(name: &str, subnet: &str) -> Value {
    json!({"cniVersion": "0.4.0", "name": name, "type": "ptp",
           "ipam": {"type": "host-local", "subnet": subnet}})
}

#[test]
fn builtins_are_the_documented_defaults() {
    let b = builtin_confs();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].name, "default");
    assert!(b[0].ip_masq);
    assert_eq!(b[0].raw["ipam"]["subnet"], "172.16.28.0/24");
    assert_eq!(b[0].raw["ipam"]["routes"][0]["dst"], "0.0.0.0/0");
    assert_eq!(b[1].name, "default-restricted");
    assert!(!b[1].ip_masq);
    assert_eq!(b[1].raw["ipam"]["subnet"], "172.31.0.0/16");
    assert!(b[1].raw["ipam"].get("routes").is_none());
}

#[test]
fn user_confs_sorted_by_file_name_and_override_default() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20-b.conf", ptp("b", "10.2.0.0/24"));
    write(
        dir.path(),
        "10-a.conflist",
        json!({"cniVersion": "1.0.0", "name": "a",
        "plugins": [ptp("ignored", "10.1.0.0/24"), {"type": "portmap"}]}),
    );
    write(dir.path(), "50-default.conf", ptp("default", "10.9.0.0/24"));
    std::fs::write(dir.path().join("README"), "not a conf").unwrap();
    let user = load_user_confs(dir.path()).unwrap();
    let names: Vec<&str> = user.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "default"]);
    assert!(user[0].is_list);
    assert_eq!(user[0].plugins.len(), 2);

    // Order comes from the files, not from --net; eth numbering follows it.
    let spec = NetSpec::parse("default,b:K=V,a").unwrap();
    let nets = select(&spec, user.clone(), dir.path()).unwrap();
    let got: Vec<(&str, &str, &str)> = nets
        .iter()
        .map(|n| (n.conf.name.as_str(), n.if_name.as_str(), n.args.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("a", "eth0", ""),
            ("b", "eth1", "K=V"),
            ("default", "eth2", "")
        ]
    );
    // The user's `default` replaced ours.
    assert_eq!(nets[2].conf.raw["ipam"]["subnet"], "10.9.0.0/24");

    let all = select(&NetSpec::All, user.clone(), dir.path()).unwrap();
    assert_eq!(all.len(), 3);
    let restricted = select(
        &NetSpec::parse("default-restricted").unwrap(),
        user,
        dir.path(),
    );
    assert_eq!(restricted.unwrap()[0].conf.file, None);
}

#[test]
fn missing_networks_and_bad_confs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = select(
        &NetSpec::parse("nope,default,other").unwrap(),
        vec![],
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("nope, other"), "{err}");
    write(dir.path(), "1.conf", json!({"name": "x"}));
    let err = load_user_confs(dir.path()).unwrap_err().to_string();
    assert!(err.contains("1.conf") && err.contains("\"type\""), "{err}");
    write(dir.path(), "1.conf", ptp("x", "10.0.0.0/8"));
    write(dir.path(), "2.conf", ptp("x", "10.0.0.0/8"));
    let err = load_user_confs(dir.path()).unwrap_err().to_string();
    assert!(err.contains("defined twice"), "{err}");
    std::fs::write(dir.path().join("2.conf"), "{").unwrap();
    assert!(load_user_confs(dir.path()).is_err());
    assert!(
        load_user_confs(&dir.path().join("absent"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn plugin_stdin_injects_name_version_and_prev_result() {
    let list = NetConf::from_slice(
        json!({"cniVersion": "1.0.0", "name": "l",
               "plugins": [{"type": "ptp", "mtu": 1400}, {"type": "tuning"}]})
        .to_string()
        .as_bytes(),
        None,
        "l.conflist",
    )
    .unwrap();
    let prev = json!({"cniVersion": "1.0.0", "ips": []});
    let s = list.plugin_stdin(1, Some(&prev));
    assert_eq!(
        s,
        json!({"type": "tuning", "name": "l", "cniVersion": "1.0.0", "prevResult": prev})
    );
    assert_eq!(list.plugin_stdin(0, None)["mtu"], 1400);
    let old = NetConf::from_slice(br#"{"name":"o","type":"ptp"}"#, None, "o.conf").unwrap();
    assert_eq!(old.plugin_stdin(0, None)["cniVersion"], "0.1.0");
}

#[test]
fn results_of_every_spec_version() {
    let v031 = json!({"cniVersion": "0.3.1",
        "interfaces": [{"name": "veth1", "mac": "aa:bb"}, {"name": "eth0", "sandbox": "/run/ns"}],
        "ips": [{"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 1}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["10.1.0.1"], "search": ["a.example"]}});
    let r = parse_result(&v031, "0.3.1").unwrap();
    let ip = r.primary_ip().unwrap();
    assert_eq!(ip.address.to_string(), "10.1.0.5");
    assert_eq!(ip.mask(), "255.255.255.0");
    assert_eq!(ip.gateway.unwrap().to_string(), "10.1.0.1");
    assert_eq!(ip.interface, Some(1));
    assert_eq!(r.host_interfaces().collect::<Vec<_>>(), ["veth1"]);
    assert_eq!(r.routes[0].dst, "0.0.0.0/0");
    assert_eq!(
        r.dns.resolv_conf(),
        "nameserver 10.1.0.1\nsearch a.example\n"
    );

    let v040 = json!({"cniVersion": "0.4.0",
        "ips": [{"version": "6", "address": "fd00::5/64"}, {"version": "4", "address": "172.16.28.7/16"}]});
    let r = parse_result(&v040, "0.4.0").unwrap();
    assert_eq!(r.primary_ip().unwrap().address.to_string(), "172.16.28.7");
    assert_eq!(r.primary_ip().unwrap().mask(), "255.255.0.0");
    assert!(r.dns.is_empty());

    let v100 = json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mac": "02:00", "sandbox": "/run/x"}],
        "ips": [{"address": "192.168.3.4/30", "gateway": "192.168.3.1", "interface": 0}],
        "routes": [{"dst": "10.0.0.0/8", "gw": "192.168.3.1"}]});
    let r = parse_result(&v100, "1.0.0").unwrap();
    assert_eq!(r.primary_ip().unwrap().mask(), "255.255.255.252");
    assert_eq!(r.routes[0].gw.unwrap().to_string(), "192.168.3.1");
    assert_eq!(r.host_interfaces().count(), 0);

    let v010 = json!({"ip4": {"ip": "10.0.0.2/8", "gateway": "10.0.0.1",
        "routes": [{"dst": "0.0.0.0/0"}]}, "dns": {"nameservers": ["8.8.8.8"]}});
    let r = parse_result(&v010, "0.1.0").unwrap();
    assert_eq!(r.primary_ip().unwrap().address.to_string(), "10.0.0.2");
    assert_eq!(r.routes.len(), 1);
    assert!(!r.dns.is_empty());
}

#[test]
fn bad_results_are_refused() {
    for bad in [
        json!([]),
        json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1"}]}),
        json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1/33"}]}),
        json!({"cniVersion": "1.0.0", "ips": [{"address": "x/8"}]}),
        json!({"cniVersion": "1.0.0", "ips": "nope"}),
        json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.1/8", "gateway": "g"}}),
    ] {
        assert!(parse_result(&bad, "1.0.0").is_err(), "{bad}");
    }
}

/// Results as Debian's containernetworking-plugins print them (bridge 1.0.0 with the bridge,
/// the host veth and the pod's interface; ptp 0.3.1 with `version` on each IP; a 0.4.0 conf
/// list whose last plugin, portmap, passes the bridge's result on).
#[test]
fn results_as_the_reference_plugins_print_them() {
    let bridge = r#"{"cniVersion":"1.0.0","interfaces":[{"name":"rktbr0","mac":"b2:3c:7e:11:22:33"},
        {"name":"veth5c1d2e3f","mac":"6a:01:02:03:04:05"},
        {"name":"eth0","mac":"0e:aa:bb:cc:dd:ee","sandbox":"/run/rkt/netns/rkt-0c9a7d3e"}],
        "ips":[{"interface":2,"address":"10.22.0.2/16","gateway":"10.22.0.1"}],
        "routes":[{"dst":"0.0.0.0/0","gw":"10.22.0.1"}],"dns":{}}"#;
    let v: Value = serde_json::from_str(bridge).unwrap();
    let r = parse_result(&v, "1.0.0").unwrap();
    assert_eq!(r.cni_version, "1.0.0");
    assert_eq!(
        r.host_interfaces().collect::<Vec<_>>(),
        ["rktbr0", "veth5c1d2e3f"]
    );
    let ip = r.primary_ip().unwrap();
    assert_eq!(
        (ip.address.to_string(), ip.mask(), ip.interface),
        ("10.22.0.2".into(), "255.255.0.0".into(), Some(2))
    );
    assert!(r.dns.is_empty());

    let ptp = r#"{"cniVersion":"0.3.1","interfaces":[{"name":"veth9f8e7d6c","mac":"5e:00:00:00:00:01"},
        {"name":"eth0","mac":"5e:00:00:00:00:02","sandbox":"/run/rkt/netns/rkt-1"}],
        "ips":[{"version":"4","interface":1,"address":"10.213.1.2/24","gateway":"10.213.1.1"}],
        "dns":{"nameservers":["10.213.0.53"],"search":["ft.example"]}}"#;
    let v: Value = serde_json::from_str(ptp).unwrap();
    let r = parse_result(&v, "0.3.1").unwrap();
    assert_eq!(
        r.primary_ip().unwrap().gateway.unwrap().to_string(),
        "10.213.1.1"
    );
    assert_eq!(
        r.dns.resolv_conf(),
        "nameserver 10.213.0.53\nsearch ft.example\n"
    );

    // The conf says 0.4.0 but the result does not repeat it: the conf's version is used.
    let chained = r#"{"interfaces":[{"name":"eth0","sandbox":"/x"}],
        "ips":[{"version":"4","interface":0,"address":"10.9.0.3/24"}]}"#;
    let v: Value = serde_json::from_str(chained).unwrap();
    let r = parse_result(&v, "0.4.0").unwrap();
    assert_eq!(r.cni_version, "0.4.0");
    assert_eq!(r.primary_ip().unwrap().gateway, None);
}
