//! Network selection and CNI spec versions through user confs in `<local-config>/net.d`:
//! `--net=all`, `NAME:K=V` args into `CNI_ARGS`, `--net` conflicts, our plugins refusing
//! 0.1.0/0.2.0 confs, and conf lists at 1.0.0 and 0.3.1 run by Debian's
//! containernetworking-plugins (bridge, ptp, host-local, macvlan), the second implementation
//! our runner must agree with. Every test keeps its leases in its temp dir and removes what the
//! reference bridge plugin leaves by design (the bridge).

mod net_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use functional_tests::{InspectImage, RktCtx};
use net_support::{OutsideHost, links, nat_rules, pod_netns};
use serde_json::{Value, json};

const DEBIAN_PLUGINS: &str = "/usr/lib/cni";

/// Links Debian's `plugins` into `<local>/net.d` (first on the plugin search path).
fn debian_plugins(ctx: &RktCtx, plugins: &[&str]) {
    let net_d = ctx.local_config().join("net.d");
    std::fs::create_dir_all(&net_d).unwrap();
    for p in plugins {
        let src = Path::new(DEBIAN_PLUGINS).join(p);
        assert!(
            src.exists(),
            "{} is missing: install containernetworking-plugins (make deps)",
            src.display()
        );
        std::os::unix::fs::symlink(src, net_d.join(p)).unwrap();
    }
}

fn write_conf(ctx: &RktCtx, file: &str, conf: &Value) {
    let net_d = ctx.local_config().join("net.d");
    std::fs::create_dir_all(&net_d).unwrap();
    std::fs::write(net_d.join(file), conf.to_string()).unwrap();
}

fn ipam(ctx: &RktCtx, subnet: &str) -> Value {
    let leases = ctx.work().join("leases");
    json!({"type": "host-local", "subnet": subnet, "dataDir": leases.display().to_string()})
}

fn lease_count(ctx: &RktCtx, net: &str) -> usize {
    std::fs::read_dir(ctx.work().join("leases").join(net))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .parse::<std::net::IpAddr>()
                .is_ok()
        })
        .count()
}

fn print_ipv4(ctx: &RktCtx, name: &str) -> PathBuf {
    InspectImage::new(&format!("rkt-rs.dev/ft/{name}"))
        .args(&["--print-ipv4"])
        .build(&ctx.work())
}

/// Deletes a bridge the reference plugin made (its DEL keeps bridges).
struct Bridge(&'static str);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", self.0]).output();
    }
}

#[test]
fn our_plugins_refuse_old_spec_versions_by_name() {
    let ctx = RktCtx::new();
    for version in ["0.1.0", "0.2.0"] {
        let name = format!("ftold{}", &version[2..3]);
        let conf = json!({"cniVersion": version, "name": name, "type": "ptp",
            "ipam": ipam(&ctx, "10.216.9.0/24")});
        write_conf(&ctx, &format!("10-{name}.conf"), &conf);
        let img = print_ipv4(&ctx, &name);
        let out = ctx.run(&[&format!("--net={name}"), img.to_str().unwrap()]);
        assert_eq!(out.code, 254, "{out:#?}");
        assert!(
            out.stderr
                .contains(&format!("CNI version \"{version}\" is not supported")),
            "{out:#?}"
        );
        assert!(out.stderr.contains(&format!("network {name}")), "{out:#?}");
    }
    assert_eq!(lease_count(&ctx, "ftold1"), 0);
}

/// A 1.0.0 conf list (bridge + host-local, then the reference `tuning` plugin chained on its
/// result) and a 0.3.1 single conf (ptp), both from Debian.
#[test]
fn reference_plugins_at_1_0_0_and_0_3_1() {
    let _br = Bridge("rkftbr0");
    let ctx = RktCtx::new();
    debian_plugins(&ctx, &["bridge", "ptp", "host-local", "tuning"]);
    let list = json!({"cniVersion": "1.0.0", "name": "ftbr", "plugins": [
        {"type": "bridge", "bridge": "rkftbr0", "isGateway": true, "ipMasq": false,
         "ipam": ipam(&ctx, "10.216.3.0/24")},
        {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.rp_filter": "0"}}
    ]});
    write_conf(&ctx, "10-ftbr.conflist", &list);
    let ptp = json!({"cniVersion": "0.3.1", "name": "ftptp31", "type": "ptp",
        "ipam": ipam(&ctx, "10.216.4.0/24")});
    write_conf(&ctx, "20-ftptp31.conf", &ptp);

    let pod = ctx.spawn(&[
        "--net=ftbr,ftptp31",
        InspectImage::new("rkt-rs.dev/ft/refplugins")
            .args(&["--print-ipv4", "--sleep=600"])
            .build(&ctx.work())
            .to_str()
            .unwrap(),
    ]);
    let uuid = pod.uuid.clone();
    let pod_dir = ctx.pod_dir(&uuid).unwrap();
    let info: Value =
        serde_json::from_slice(&std::fs::read(pod_dir.join("net-info.json")).unwrap()).unwrap();
    assert_eq!(info[0]["netName"], "ftbr");
    assert_eq!(info[0]["result"]["cniVersion"], "1.0.0");
    assert!(
        info[0]["ip"].as_str().unwrap().starts_with("10.216.3."),
        "{info}"
    );
    assert_eq!(info[0]["gateway"], "10.216.3.1", "{info}");
    assert_eq!(info[1]["netName"], "ftptp31");
    assert_eq!(info[1]["result"]["cniVersion"], "0.3.1");
    assert!(
        info[1]["ip"].as_str().unwrap().starts_with("10.216.4."),
        "{info}"
    );
    assert_eq!(info[1]["mask"], "255.255.255.0");
    let status = ctx.rkt(&["status", &uuid]);
    assert!(status.ok().contains("ftbr:ip4=10.216.3."), "{status:#?}");
    assert_eq!(lease_count(&ctx, "ftbr"), 1);
    assert_eq!(lease_count(&ctx, "ftptp31"), 1);
    drop(pod);
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert_eq!(lease_count(&ctx, "ftbr"), 0, "bridge lease freed");
    assert_eq!(lease_count(&ctx, "ftptp31"), 0, "ptp lease freed");
    assert!(!pod_netns().iter().any(|n| n.contains(&uuid)));
}

#[test]
fn all_joins_the_user_networks_and_default() {
    let ctx = RktCtx::new();
    let conf = json!({"cniVersion": "0.4.0", "name": "ftall", "type": "ptp",
        "ipam": ipam(&ctx, "10.216.5.0/24")});
    write_conf(&ctx, "10-ftall.conf", &conf);
    let out = ctx.run(&["--net=all", print_ipv4(&ctx, "netall").to_str().unwrap()]);
    let stdout = out.ok();
    assert!(out.get("IPV4_eth0").starts_with("10.216.5."), "{stdout}");
    assert!(out.get("IPV4_eth1").starts_with("172.16.28."), "{stdout}");
    assert!(
        !stdout.contains("IPV4_eth2"),
        "not default-restricted: {stdout}"
    );
}

/// `--net=NAME:IP=...` reaches the IPAM plugin as CNI_ARGS: the reference host-local hands
/// out exactly the address asked for.
#[test]
fn net_args_reach_the_plugins() {
    let ctx = RktCtx::new();
    debian_plugins(&ctx, &["ptp", "host-local"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "ftargs", "type": "ptp",
        "ipam": ipam(&ctx, "10.216.6.0/24")});
    write_conf(&ctx, "10-ftargs.conf", &conf);
    let img = print_ipv4(&ctx, "netargs");
    let out = ctx.run(&["--net=ftargs:IP=10.216.6.77", img.to_str().unwrap()]);
    assert_eq!(out.get("IPV4_eth0"), "10.216.6.77", "{out:#?}");
    // A bad pair is refused before anything starts.
    let out = ctx.run(&["--net=ftargs:novalue", img.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("novalue"), "{out:#?}");
}

/// Our own host-local (no Debian plugins linked) hands out the address asked for with
/// `IP=`, and refuses, naming the address, one that is taken or outside the range.
#[test]
fn our_host_local_honours_requested_ip() {
    let ctx = RktCtx::new();
    let conf = json!({"cniVersion": "1.0.0", "name": "ftourip", "type": "ptp",
        "ipam": ipam(&ctx, "10.216.7.0/24")});
    write_conf(&ctx, "10-ftourip.conf", &conf);
    let img = print_ipv4(&ctx, "ourip");
    let img = img.to_str().unwrap();
    let out = ctx.run(&["--net=ftourip:IP=10.216.7.99", img]);
    assert_eq!(out.get("IPV4_eth0"), "10.216.7.99", "{out:#?}");
    assert_eq!(
        std::fs::read_dir(ctx.work().join("leases/ftourip"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() == "10.216.7.99")
            .count(),
        1,
        "leased until gc"
    );
    // The exited pod still holds .99 (freed by gc): a second pod cannot have it.
    let out = ctx.run(&["--net=ftourip:IP=10.216.7.99", img]);
    assert_eq!(out.code, 254, "{out:#?}");
    assert!(
        out.stderr.contains("10.216.7.99") && out.stderr.contains("already leased"),
        "{out:#?}"
    );
    let out = ctx.run(&["--net=ftourip:IP=10.216.8.5", img]);
    assert_eq!(out.code, 254, "{out:#?}");
    assert!(
        out.stderr.contains("10.216.8.5") && out.stderr.contains("outside the range"),
        "{out:#?}"
    );
    assert_eq!(
        lease_count(&ctx, "ftourip"),
        1,
        "refused pods leave no lease"
    );
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert_eq!(lease_count(&ctx, "ftourip"), 0);
    let out = ctx.run(&["--net=ftourip:IP=10.216.7.99", img]);
    assert_eq!(out.get("IPV4_eth0"), "10.216.7.99", "free again: {out:#?}");
}

/// Refused by stage0 before a pod dir exists: exit 254, a message naming the problem, and
/// nothing in `rkt list`.
#[test]
fn net_conflicts_are_errors() {
    let ctx = RktCtx::new();
    let img = print_ipv4(&ctx, "netconflict");
    for (flags, words) in [
        (&["--net=default,default"][..], "given twice"),
        (&["--net=default", "--net=default"][..], "given twice"),
        (&["--net=host,default"][..], "host cannot be combined"),
        (
            &["--net=default", "--net=none"][..],
            "none cannot be combined",
        ),
        (&["--net=none:K=V"][..], "takes no arguments"),
        (&["--net=a/b"][..], "not a valid network name"),
        (
            &["--net=host", "--port=http:8080"][..],
            "--port and --net=host",
        ),
        (
            &["--net=none", "--port=http:8080"][..],
            "--port and --net=none",
        ),
        (&["--net=nosuchnet"][..], "nosuchnet"),
    ] {
        let mut args: Vec<&str> = flags.to_vec();
        args.push(img.to_str().unwrap());
        let out = ctx.run(&args);
        assert_eq!(out.code, 254, "{flags:?}: {out:#?}");
        assert!(out.stderr.contains(words), "{flags:?}: {out:#?}");
        let list = ctx.rkt(&["list", "--no-legend"]);
        assert_eq!(list.ok().trim(), "", "{flags:?}: no pod is left");
    }
}

/// What a spawned pod printed so far (`rkt run`'s stdout file in the test's work dir), once it
/// holds `key` or an error; panics after 30s.
fn spawned_output_with(ctx: &RktCtx, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text: String = std::fs::read_dir(ctx.work())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".out"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        if text.contains(key) || text.contains("ERROR=") || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Debian's macvlan (with its host-local) through a user conf. The master is a link the test
/// makes: the host end of a veth whose peer is in the "outside host" namespace. The pod's
/// eth0 is a macvlan on it, so the pod is on the outside host's link itself: its address
/// comes from the conf's range, the outside host sees that address (no NAT, no routing by the
/// host) and learns the pod's MAC on its link. `rkt status`/`list --format=json` show the IP;
/// after `rkt gc` no lease, link, netns, rule or mount of the pod is left and the master is
/// untouched.
#[test]
fn reference_macvlan_on_a_link_of_the_test() {
    let mut out = OutsideHost::new(5);
    out.serve(&["--serve-tcp-peer=7405"]);
    let ctx = RktCtx::new();
    debian_plugins(&ctx, &["macvlan", "host-local"]);
    let mut ipam = ipam(&ctx, "10.214.5.0/24");
    ipam["rangeStart"] = json!("10.214.5.100");
    ipam["rangeEnd"] = json!("10.214.5.120");
    ipam["gateway"] = json!(out.ip);
    let conf = json!({"cniVersion": "1.0.0", "name": "ftmacvlan", "type": "macvlan",
        "master": out.host_if, "mode": "bridge", "ipam": ipam});
    write_conf(&ctx, "10-ftmacvlan.conf", &conf);
    let connect = format!("--connect-tcp={}:7405", out.ip);
    let img = InspectImage::new("rkt-rs.dev/ft/macvlan")
        .args(&[
            "--print-ipv4",
            "--print-mac",
            &connect,
            "--sleep=600",
            "--silent-sigterm",
        ])
        .build(&ctx.work());
    let pod = ctx.spawn(&["--net=ftmacvlan", img.to_str().unwrap()]);
    let uuid = pod.uuid.clone();
    let printed = spawned_output_with(&ctx, "CONNECTED=");
    let kv = |k: &str| functional_tests::kv(&printed, k).unwrap_or("").to_string();
    let ip = kv("IPV4_eth0");
    assert!(
        ip.starts_with("10.214.5.1"),
        "from the conf's range: {printed}"
    );
    assert_eq!(kv("CONNECTED"), format!("PEER={ip}"), "{printed}");
    let mac = kv("MAC_eth0");
    assert_eq!(mac.len(), 17, "{printed}");
    // The outside host reached the pod on its own link: it knows the pod's MAC for its IP.
    let neigh = Command::new("ip")
        .args(["netns", "exec", &out.netns, "ip", "neigh", "show", &ip])
        .output()
        .unwrap();
    let neigh = String::from_utf8_lossy(&neigh.stdout);
    assert!(neigh.contains(&mac), "{neigh:?} lacks {mac}");

    let status = ctx.status(&uuid);
    assert_eq!(
        status["networks"],
        format!("ftmacvlan:ip4={ip}"),
        "{status:?}"
    );
    let pods = ctx.pods_json();
    let me = pods
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == uuid.as_str()))
        .unwrap_or_else(|| panic!("{uuid} not listed: {pods}"));
    assert_eq!(me["networks"][0]["netName"], "ftmacvlan", "{me}");
    assert_eq!(me["networks"][0]["ip"], ip.as_str(), "{me}");
    let info: Value = serde_json::from_slice(
        &std::fs::read(ctx.pod_dir(&uuid).unwrap().join("net-info.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        info[0]["result"]["interfaces"][0]["mac"],
        mac.as_str(),
        "{info}"
    );
    assert_eq!(lease_count(&ctx, "ftmacvlan"), 1);

    drop(pod);
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert_eq!(ctx.pod_dir(&uuid), None, "collected");
    assert_eq!(lease_count(&ctx, "ftmacvlan"), 0, "lease freed");
    assert!(!pod_netns().iter().any(|n| n.contains(&uuid)), "netns");
    // Other tests of this binary add and remove host links and rules at the same time, so
    // only what could be this pod's is compared: macvlan makes no host link, and no NAT rule
    // may name the pod or its network.
    let ours = |r: &String| r.contains(uuid.as_str()) || r.contains("ftmacvlan");
    assert!(
        !nat_rules().iter().any(ours),
        "a NAT rule of the pod is left: {:?}",
        nat_rules()
    );
    assert!(links().contains(&out.host_if), "the master stays");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&uuid), "a mount of {uuid} is left");
}
