//! CNI networking driven by our runner through a user conf, with Debian's
//! `containernetworking-plugins` (ptp + host-local, linked into `<local-config>/net.d/`, which
//! is on the plugin search path). Each test uses its own network name and subnet, keeps the
//! host-local leases in its temp dir, and checks that `rkt gc` leaves no netns, veth, lease,
//! iptables chain or mount behind.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use functional_tests::{InspectImage, RktCtx};
use serde_json::{Value, json};

const PLUGINS: &str = "/usr/lib/cni";

/// Writes `<local>/net.d/10-<name>.conf` (ptp, host-local on `subnet`, leases under the
/// test dir) and links the plugins next to it. Returns the lease dir.
fn user_network(ctx: &RktCtx, name: &str, subnet: &str) -> PathBuf {
    for p in ["ptp", "host-local"] {
        assert!(
            Path::new(PLUGINS).join(p).exists(),
            "{PLUGINS}/{p} is missing: install containernetworking-plugins (make deps)"
        );
    }
    let net_d = ctx.local_config().join("net.d");
    std::fs::create_dir_all(&net_d).unwrap();
    for p in ["ptp", "host-local"] {
        std::os::unix::fs::symlink(Path::new(PLUGINS).join(p), net_d.join(p)).unwrap();
    }
    let leases = ctx.work().join("leases");
    let conf = json!({
        "cniVersion": "0.4.0",
        "name": name,
        "type": "ptp",
        "ipMasq": false,
        "dns": {"nameservers": ["10.213.0.53"], "search": ["ft.example"]},
        "ipam": {"type": "host-local", "subnet": subnet, "dataDir": leases.display().to_string()}
    });
    std::fs::write(net_d.join(format!("10-{name}.conf")), conf.to_string()).unwrap();
    leases
}

fn uuid_of(ctx: &RktCtx, file: &Path) -> String {
    let _ = ctx;
    std::fs::read_to_string(file).unwrap().trim().to_string()
}

/// Host interfaces (by name) from `ip -o link`.
fn host_links() -> String {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The iptables nat table and our nf_tables masquerade table, as text.
fn nat_rules() -> String {
    let mut text = String::new();
    for (cmd, args) in [
        ("iptables", &["-w", "-t", "nat", "-S"][..]),
        ("nft", &["list", "table", "ip", "rkt-rs"][..]),
    ] {
        let out = Command::new(cmd)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {cmd} (make deps): {e}"));
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    text
}

/// Lease files (named by IP) left in the host-local dir of `net`.
fn lease_files(dir: &Path, net: &str) -> Vec<String> {
    std::fs::read_dir(dir.join(net))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect()
}

/// Everything a pod's networking leaves on the host, for `uuid` and its host veth.
fn assert_clean(uuid: &str, veth: &str, lease_dir: &Path, net: &str) {
    let netns = format!("/run/rkt/netns/rkt-{uuid}");
    assert!(!Path::new(&netns).exists(), "{netns} left behind");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&netns), "netns still mounted");
    assert!(lease_files(lease_dir, net).is_empty(), "leases left");
    assert!(
        !host_links().contains(&format!(" {veth}@")),
        "veth {veth} left behind"
    );
    let short: String = uuid.chars().filter(|c| *c != '-').take(8).collect();
    assert!(!nat_rules().contains(&short), "NAT rules left for {short}");
}

/// The host end of the pod's interface, from `net-info.json`'s ADD result.
fn host_veth(pod_dir: &Path) -> String {
    let info: Value =
        serde_json::from_slice(&std::fs::read(pod_dir.join("net-info.json")).unwrap()).unwrap();
    info[0]["result"]["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i.get("sandbox").is_none_or(|s| s.as_str() == Some("")))
        .and_then(|i| i["name"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn a_pod_on_a_user_network_gets_an_address_and_gc_releases_it() {
    let ctx = RktCtx::new();
    let leases = user_network(&ctx, "ftnet1", "10.213.1.0/24");
    let img = InspectImage::new("rkt-rs.dev/ft/net1")
        .args(&["--print-ipv4", "--read-file=/etc/resolv.conf"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    let out = ctx.run(&["--net=ftnet1", save.as_str(), img.to_str().unwrap()]);
    let stdout = out.ok().to_string();
    let uuid = uuid_of(&ctx, &uuid_file);
    let ip = out.get("IPV4_eth0");
    assert!(ip.starts_with("10.213.1."), "{stdout}");
    assert_eq!(out.get("IPV4_lo"), "127.0.0.1", "lo is up: {stdout}");
    // The CNI result's DNS becomes the app's resolv.conf.
    assert!(
        stdout.contains("READ=nameserver 10.213.0.53\nsearch ft.example"),
        "{stdout}"
    );
    let pod_dir = ctx.pod_dir(&uuid).unwrap();
    assert_eq!(
        std::fs::read_to_string(pod_dir.join("netns")).unwrap(),
        format!("/run/rkt/netns/rkt-{uuid}")
    );
    let info: Value =
        serde_json::from_slice(&std::fs::read(pod_dir.join("net-info.json")).unwrap()).unwrap();
    assert_eq!(info[0]["netName"], "ftnet1");
    assert_eq!(info[0]["ifName"], "eth0");
    assert_eq!(info[0]["ip"], ip);
    assert_eq!(info[0]["mask"], "255.255.255.0");
    assert!(pod_dir.join("net/eth0.conf").exists());
    let veth = host_veth(&pod_dir);
    assert!(
        host_links().contains(&format!(" {veth}@")),
        "{veth} before gc"
    );
    assert_eq!(lease_files(&leases, "ftnet1"), [ip.to_string()]);
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert_eq!(ctx.pod_dir(&uuid), None);
    assert_clean(&uuid, &veth, &leases, "ftnet1");
}

#[test]
fn unknown_network_fails_before_anything_is_made() {
    let ctx = RktCtx::new();
    user_network(&ctx, "ftnet3", "10.213.3.0/24");
    let img = InspectImage::new("rkt-rs.dev/ft/net3").build(&ctx.work());
    let out = ctx.run(&["--net=ftnet3,nosuchnet", img.to_str().unwrap()]);
    assert_eq!(out.code, 254, "{out:#?}");
    assert!(out.stderr.contains("nosuchnet"), "{out:#?}");
}

#[test]
fn list_status_and_port_forwarding_from_localhost() {
    let ctx = RktCtx::new();
    let leases = user_network(&ctx, "ftnet2", "10.213.2.0/24");
    let mut b = InspectImage::new("rkt-rs.dev/ft/net2")
        .args(&["--content=hello from the pod\n", "--serve-tcp=7000"])
        .builder(&std::fs::read(functional_tests::env_path("RKT_INSPECT_BIN")).unwrap());
    b.manifest["app"]["ports"] = json!([{"name": "echo", "protocol": "tcp", "port": 7000}]);
    let img = ctx.work().join("net2.aci");
    b.write(&img).unwrap();
    let pod = ctx.spawn(&["--net=ftnet2", "--port=echo:17931", img.to_str().unwrap()]);
    let uuid = pod.uuid.clone();
    let pod_dir = ctx.pod_dir(&uuid).unwrap();
    let veth = host_veth(&pod_dir);

    let status = ctx.rkt(&["status", &uuid]);
    let text = status.ok();
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("networks=ftnet2:ip4="))
        .unwrap_or_else(|| panic!("no network in status: {text}"))
        .to_string();
    assert!(ip.starts_with("10.213.2."), "{text}");
    let list = ctx.rkt(&["list", "--no-legend", "--full"]);
    assert!(list.ok().contains(&format!("ftnet2:ip4={ip}")), "{list:#?}");
    let json = ctx.pods_json();
    assert!(json.to_string().contains(&ip), "{json}");

    let fetch = |addr: &str| -> String {
        // The server may not listen yet right after `ready`.
        for _ in 0..100 {
            if let Ok(mut s) = TcpStream::connect(addr) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut got = String::new();
                let _ = s.read_to_string(&mut got);
                if !got.is_empty() {
                    return got;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nothing answered on {addr}");
    };
    assert_eq!(fetch(&format!("{ip}:7000")), "hello from the pod\n");
    assert_eq!(fetch("127.0.0.1:17931"), "hello from the pod\n");
    assert!(nat_rules().contains(&format!("--to-destination {ip}:7000")));

    drop(pod);
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert_eq!(ctx.pod_dir(&uuid), None);
    assert_clean(&uuid, &veth, &leases, "ftnet2");
}

#[test]
fn a_failed_start_undoes_the_networks_already_added() {
    let ctx = RktCtx::new();
    let leases = user_network(&ctx, "ftnet4", "10.213.4.0/24");
    let net_d = ctx.local_config().join("net.d");
    // A second network whose plugin always fails, sorted after the good one.
    std::os::unix::fs::symlink("/bin/false", net_d.join("failer")).unwrap();
    let bad = json!({"cniVersion": "0.4.0", "name": "ftbad", "type": "failer"});
    std::fs::write(net_d.join("20-ftbad.conf"), bad.to_string()).unwrap();
    let img = InspectImage::new("rkt-rs.dev/ft/net4").build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    let out = ctx.run(&["--net=ftbad,ftnet4", save.as_str(), img.to_str().unwrap()]);
    assert_eq!(out.code, 254, "{out:#?}");
    assert!(out.stderr.contains("network ftbad: CNI plugin"), "{out:#?}");
    let uuid = uuid_of(&ctx, &uuid_file);
    assert!(!Path::new(&format!("/run/rkt/netns/rkt-{uuid}")).exists());
    assert!(
        lease_files(&leases, "ftnet4").is_empty(),
        "the good network's lease was freed"
    );
    // The cgroups made before the failed ADD went with the pod's PID 1.
    functional_tests::assert_no_pod_cgroups(&uuid);
}

/// The implicit `--net=default`: our own ptp and host-local from the stage1 image, on rkt's
/// 172.16.28.0/24 with IP masquerade. gc must release the lease (in the shared host-local dir,
/// where parallel pods may hold others), the veth, the NAT chain and the netns.
#[test]
fn the_default_network_runs_on_our_own_plugins() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/netdefault")
        .args(&["--print-ipv4"])
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let save = format!("--uuid-file-save={}", uuid_file.display());
    let out = ctx.run(&["--net=default", save.as_str(), img.to_str().unwrap()]);
    let stdout = out.ok().to_string();
    let uuid = uuid_of(&ctx, &uuid_file);
    let ip = out.get("IPV4_eth0").to_string();
    assert!(ip.starts_with("172.16.28."), "{stdout}");
    let pod_dir = ctx.pod_dir(&uuid).unwrap();
    let info: Value =
        serde_json::from_slice(&std::fs::read(pod_dir.join("net-info.json")).unwrap()).unwrap();
    assert_eq!(info[0]["netName"], "default");
    let plugin = info[0]["pluginPath"].as_str().unwrap_or_default();
    // From the stage1 tree in the store (our stage1 has no per-pod link farm).
    let s1_tree = std::fs::read_to_string(pod_dir.join("stage1TreeStoreID")).unwrap();
    assert!(
        plugin.ends_with(&format!(
            "cas/tree/{}/rootfs/usr/lib/rkt/plugins/net/ptp",
            s1_tree.trim()
        )),
        "the stage1 image's ptp: {plugin}"
    );
    let veth = host_veth(&pod_dir);
    let lease = Path::new("/var/lib/cni/networks/default").join(&ip);
    let holder = std::fs::read_to_string(&lease).unwrap_or_default();
    assert!(
        holder.starts_with(&uuid),
        "lease {} holds {holder:?}",
        lease.display()
    );
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    let holder = std::fs::read_to_string(&lease).unwrap_or_default();
    assert!(!holder.starts_with(&uuid), "lease {} kept", lease.display());
    assert_clean(&uuid, &veth, &ctx.work().join("no-user-leases"), "default");
}

/// `--net=none`: a network namespace of its own with only loopback; `--net=host`: the host's
/// interfaces, as `ip -4 addr` lists them (but the veths of pods that come and go).
#[test]
fn none_has_only_loopback_and_host_sees_the_hosts_interfaces() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/netmodes")
        .args(&["--print-ipv4"])
        .build(&ctx.work());
    let none = ctx.run(&["--net=none", img.to_str().unwrap()]);
    let none_out = none.ok().to_string();
    let addrs: Vec<&str> = none_out
        .lines()
        .filter(|l| l.starts_with("IPV4_"))
        .collect();
    assert_eq!(addrs, ["IPV4_lo=127.0.0.1"], "{none_out}");

    let host = ctx.run(&["--net=host", img.to_str().unwrap()]);
    let host_out = host.ok().to_string();
    let listed = Command::new("ip")
        .args(["-o", "-4", "addr"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let mut seen = 0;
    for line in listed.lines() {
        // `2: eth0    inet 10.0.0.5/24 brd ...`
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(addr)) = (words.get(1), words.get(3)) else {
            continue;
        };
        // Pods of tests running in parallel add and remove veths meanwhile.
        if name.starts_with("veth") {
            continue;
        }
        let ip = addr.split('/').next().unwrap_or_default();
        let want = format!("IPV4_{name}={ip}");
        assert!(host_out.contains(&want), "{want} missing: {host_out}");
        seen += 1;
    }
    assert!(seen >= 1, "the host lists no IPv4 address: {listed}");
}
