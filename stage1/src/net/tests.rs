use super::*;
use networking::conf::parse_result;
use serde_json::json;

fn attachment(name: &str, if_name: &str, masq: bool, result: Value) -> Attachment {
    let conf = json!({"cniVersion": "0.4.0", "name": name, "type": "ptp", "ipMasq": masq});
    Attachment {
        net: ActiveNet {
            conf: NetConf::from_slice(conf.to_string().as_bytes(), None, "x.conf").unwrap(),
            args: "K=V".into(),
            if_name: if_name.into(),
        },
        plugin_path: "/p/ptp".into(),
        result: parse_result(&result, "0.4.0").unwrap(),
        raw_result: result,
    }
}

fn result(ip: &str) -> Value {
    json!({"cniVersion": "0.4.0",
           "interfaces": [{"name": format!("veth-{ip}")}, {"name": "eth0", "sandbox": "/ns"}],
           "ips": [{"version": "4", "address": format!("{ip}/24"), "gateway": "10.0.0.1"}]})
}

fn plan(host_port: u16) -> PortPlan {
    PortPlan {
        name: "http".into(),
        protocol: "tcp".into(),
        host_ip: None,
        host_port,
        pod_port: 80,
    }
}

#[test]
fn forwards_target_the_first_masquerading_network_else_the_last() {
    let a = attachment("a", "eth0", false, result("10.0.0.2"));
    let b = attachment("b", "eth1", true, result("10.0.1.2"));
    let c = attachment("c", "eth2", false, result("10.0.2.2"));
    let (f, ifs) = forwards("u", &[plan(8080)], &[a.clone(), b, c.clone()]).unwrap();
    assert_eq!(f[0].pod_ip.to_string(), "10.0.1.2");
    assert_eq!(f[0].host_port, 8080);
    assert_eq!(ifs, ["veth-10.0.1.2"]);
    let (f, _) = forwards("u", &[plan(1)], &[a, c]).unwrap();
    assert_eq!(f[0].pod_ip.to_string(), "10.0.2.2");
    assert!(forwards("u", &[plan(1)], &[]).is_err());
    assert!(forwards("u", &[], &[]).unwrap().0.is_empty());
}

#[test]
fn net_info_is_what_stage0_reads_and_teardown_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let pod = dir.path();
    let done = [
        attachment("a", "eth0", false, result("10.0.0.2")),
        attachment("b", "eth1", true, result("10.0.1.2")),
    ];
    let infos = net_infos(pod, &done);
    let text = serde_json::to_string(&infos).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v[1]["netName"], "b");
    assert_eq!(v[1]["ifName"], "eth1");
    assert_eq!(v[1]["ip"], "10.0.1.2");
    assert_eq!(v[1]["mask"], "255.255.255.0");
    assert_eq!(v[1]["args"], "K=V");
    assert_eq!(v[1]["pluginPath"], "/p/ptp");
    assert_eq!(
        v[1]["netConf"],
        pod.join("net/eth1.conf").display().to_string()
    );
    std::fs::create_dir(pod.join("net")).unwrap();
    for a in &done {
        std::fs::write(conf_copy(pod, &a.net.if_name), a.net.conf.raw.to_string()).unwrap();
    }
    // eth10 sorts after eth2 by number, not by name.
    let c = attachment("c", "eth10", false, result("10.0.3.2"));
    std::fs::write(conf_copy(pod, "eth10"), c.net.conf.raw.to_string()).unwrap();
    std::fs::write(pod.join("net/ports"), "").unwrap();
    std::fs::write(pod.join("net-info.json"), text).unwrap();
    let rec = recorded(pod).unwrap();
    let names: Vec<(&str, &str)> = rec
        .iter()
        .map(|(n, _)| (n.conf.name.as_str(), n.if_name.as_str()))
        .collect();
    assert_eq!(names, [("a", "eth0"), ("b", "eth1"), ("c", "eth10")]);
    assert_eq!(rec[1].0.args, "K=V");
    assert_eq!(
        rec[1].1.as_ref().unwrap()["ips"][0]["address"],
        "10.0.1.2/24"
    );
    assert_eq!(rec[2].1, None);
}

#[test]
fn plugin_search_path() {
    let dirs = plugin_dirs(
        Path::new("/etc/rkt"),
        Path::new("/d/pods/run/u/stage1/rootfs"),
    );
    assert_eq!(
        dirs,
        [
            PathBuf::from("/etc/rkt/net.d"),
            PathBuf::from("/usr/lib/rkt/plugins/net"),
            PathBuf::from("/d/pods/run/u/stage1/rootfs/usr/lib/rkt/plugins/net"),
        ]
    );
    // Only the stage1 image's own dir holds plugins that may run in-process.
    let r = runner(
        "u",
        Path::new("/etc/rkt"),
        Path::new("/d/pods/run/u"),
        false,
    );
    assert_eq!(r.builtin_dir.as_ref(), dirs.last());
}

#[test]
fn a_pinned_netns_is_a_separate_namespace_and_goes_away() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ns/rkt-test");
    netns::create(&path).unwrap();
    let pinned = std::fs::metadata(&path).unwrap();
    let ours = std::fs::metadata("/proc/self/ns/net").unwrap();
    assert_ne!(pinned.ino(), ours.ino());
    // A second create on the same path refuses (the file exists).
    assert!(netns::create(&path).is_err());
    assert!(netns::remove(&path).unwrap());
    assert!(!path.exists());
    assert!(!netns::remove(&path).unwrap());
}
