//! The plugin binary driven as a CNI runtime would drive it, as root, against real network
//! namespaces. Every test uses its own subnet, names and lease dir, and its guards DEL what was
//! added and remove the netns and bridge even when an assertion fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const DEBIAN_PLUGINS: &str = "/usr/lib/cni";

/// A temp dir holding `ptp`, `bridge`, `host-local`, `loopback` links to our binary.
struct Plugins {
    dir: tempfile::TempDir,
}

impl Plugins {
    fn new() -> Plugins {
        let dir = tempfile::tempdir().unwrap();
        for p in ["ptp", "bridge", "host-local", "loopback"] {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rkt-net-plugin"), dir.path().join(p))
                .unwrap();
        }
        Plugins { dir }
    }
    fn bin(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("leases")
    }
}

struct Out {
    ok: bool,
    json: Value,
}

/// Runs `<bin_dir>/<plugin>` with the CNI env and `conf` on stdin.
fn cni(
    bin_dir: &Path,
    plugin: &str,
    command: &str,
    id: &str,
    netns: Option<&Path>,
    conf: &Value,
) -> Out {
    let mut c = Command::new(bin_dir.join(plugin));
    c.env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", id)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", bin_dir)
        .env_remove("CNI_NETNS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(ns) = netns {
        c.env("CNI_NETNS", ns);
    }
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let json = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    Out {
        ok: out.status.success(),
        json,
    }
}

fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A named netns (`ip netns add`), deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("rknt-{tag}-{}", std::process::id());
        let _ = sh(&["ip", "netns", "del", &name]);
        assert!(sh(&["ip", "netns", "add", &name]).0, "ip netns add {name}");
        Netns { name }
    }
    fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }
    fn exec(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        sh(&all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

/// DELs an added container on drop (so a failed assertion leaves nothing behind).
struct Added<'a> {
    bin: PathBuf,
    plugin: &'a str,
    id: String,
    ns: &'a Netns,
    conf: Value,
}

impl Drop for Added<'_> {
    fn drop(&mut self) {
        let _ = cni(
            &self.bin,
            self.plugin,
            "DEL",
            &self.id,
            Some(&self.ns.path()),
            &self.conf,
        );
    }
}

fn ping(from: Option<&Netns>, ip: &str) -> bool {
    (0..3).any(|_| {
        let args = ["ping", "-c1", "-W1", ip];
        match from {
            Some(ns) => ns.exec(&args).0,
            None => sh(&args).0,
        }
    })
}

fn link_exists(name: &str) -> bool {
    sh(&["ip", "link", "show", name]).0
}

/// The container's masquerade chain in our nf_tables table (where the plugin puts it when the
/// kernel has nf_tables, as here), or in the iptables nat table.
fn chain_exists(chain: &str) -> bool {
    sh(&[
        "nft",
        "list",
        "chain",
        "ip",
        networking::plugins::nft::TABLE,
        chain,
    ])
    .0 || sh(&["iptables", "-w", "-t", "nat", "-n", "-L", chain]).0
}

fn ptp_conf(name: &str, subnet: &str, data: &Path, version: &str) -> Value {
    json!({
        "cniVersion": version, "name": name, "type": "ptp", "ipMasq": true,
        "ipam": {"type": "host-local", "subnet": subnet, "routes": [{"dst": "0.0.0.0/0"}], "dataDir": data}
    })
}

fn ip_only(cidr: &Value) -> String {
    cidr.as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn version_lists_supported_versions() {
    let p = Plugins::new();
    for plugin in ["ptp", "bridge", "host-local", "loopback"] {
        let out = cni(
            &p.bin(),
            plugin,
            "VERSION",
            "",
            None,
            &json!({"cniVersion": "0.4.0"}),
        );
        assert!(out.ok);
        assert_eq!(out.json["cniVersion"], "1.0.0");
        let v = out.json["supportedVersions"].as_array().unwrap();
        for want in ["0.3.1", "0.4.0", "1.0.0"] {
            assert!(v.contains(&json!(want)), "{plugin} {v:?}");
        }
    }
}

#[test]
fn bad_input_gives_error_json() {
    let p = Plugins::new();
    let ns = Netns::new("err");
    let mut c = Command::new(p.bin().join("ptp"));
    c.env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "x")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_NETNS", ns.path());
    let out = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    out.stdin.as_ref().unwrap().write_all(b"{bad").unwrap();
    let out = out.wait_with_output().unwrap();
    assert!(!out.status.success());
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["code"], 6, "{e}");
    assert!(e["msg"].as_str().unwrap().contains("JSON"));

    let old = json!({"cniVersion": "0.1.0", "name": "n", "type": "ptp"});
    let out = cni(&p.bin(), "ptp", "ADD", "x", Some(&ns.path()), &old);
    assert!(!out.ok);
    assert_eq!(out.json["code"], 1);
    let no_ipam = json!({"cniVersion": "1.0.0", "name": "n", "type": "ptp"});
    let out = cni(&p.bin(), "ptp", "ADD", "x", Some(&ns.path()), &no_ipam);
    assert_eq!((out.ok, out.json["code"].clone()), (false, json!(7)));
    let out = cni(&p.bin(), "ptp", "FROB", "x", Some(&ns.path()), &no_ipam);
    assert_eq!((out.ok, out.json["code"].clone()), (false, json!(4)));
    // An IPAM type outside CNI_PATH is refused, not run.
    let escape = json!({"cniVersion": "1.0.0", "name": "n", "type": "ptp", "ipam": {"type": "../../bin/true"}});
    assert!(!cni(&p.bin(), "ptp", "ADD", "x", Some(&ns.path()), &escape).ok);
}

#[test]
fn host_local_binary_leases_and_frees() {
    let p = Plugins::new();
    let conf = json!({"cniVersion": "0.4.0", "name": "hl", "type": "host-local",
        "ipam": {"type": "host-local", "subnet": "10.71.0.0/30", "dataDir": p.data()}});
    let a = cni(&p.bin(), "host-local", "ADD", "a", None, &conf);
    assert!(a.ok, "{}", a.json);
    assert_eq!(
        a.json,
        json!({"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.71.0.2/30", "gateway": "10.71.0.1"}], "dns": {}})
    );
    let b = cni(&p.bin(), "host-local", "ADD", "b", None, &conf);
    assert_eq!(
        (b.ok, b.json["code"].clone()),
        (false, json!(100)),
        "{}",
        b.json
    );
    assert!(cni(&p.bin(), "host-local", "CHECK", "a", None, &conf).ok);
    assert!(cni(&p.bin(), "host-local", "DEL", "a", None, &conf).ok);
    assert!(!p.data().join("hl/10.71.0.2").exists());
    assert!(cni(&p.bin(), "host-local", "DEL", "a", None, &conf).ok);
    assert!(cni(&p.bin(), "host-local", "ADD", "b", None, &conf).ok);
}

#[test]
fn ptp_add_reachable_then_del_removes_everything() {
    let p = Plugins::new();
    let ns = Netns::new("ptp");
    let conf = ptp_conf("rkntptp", "10.72.0.0/24", &p.data(), "1.0.0");
    let id = format!("ptp-{}", std::process::id());
    let added = Added {
        bin: p.bin(),
        plugin: "ptp",
        id: id.clone(),
        ns: &ns,
        conf: conf.clone(),
    };
    let out = cni(&p.bin(), "ptp", "ADD", &id, Some(&ns.path()), &conf);
    assert!(out.ok, "{}", out.json);
    let r = &out.json;
    assert_eq!(r["ips"][0]["address"], "10.72.0.2/24");
    assert_eq!(r["ips"][0]["gateway"], "10.72.0.1");
    assert_eq!(r["ips"][0]["interface"], 1);
    assert_eq!(r["interfaces"][1]["sandbox"], ns.path().to_str().unwrap());
    let host_veth = r["interfaces"][0]["name"].as_str().unwrap().to_string();
    assert!(host_veth.starts_with("veth"));

    assert!(ping(None, "10.72.0.2"), "host cannot ping the container");
    assert!(
        ping(Some(&ns), "10.72.0.1"),
        "container cannot ping its gateway"
    );
    let (_, routes) = ns.exec(&["ip", "route"]);
    assert!(routes.contains("default via 10.72.0.1"), "{routes}");
    let chain = networking::plugins::iptables::chain_name("rkntptp", &id);
    assert!(chain_exists(&chain));
    let (_, listed) = sh(&["nft", "list", "chain", "ip", "rkt-rs", &chain]);
    assert!(
        listed.contains(
            "ip saddr 10.72.0.2 ip daddr != 10.72.0.0/24 ip daddr != 224.0.0.0/4 masquerade"
        ),
        "{listed}"
    );
    assert!(listed.contains(&format!("id: {id}")), "{listed}");
    assert!(p.data().join("rkntptp/10.72.0.2").exists());

    let mut check = conf.clone();
    check["prevResult"] = r.clone();
    assert!(cni(&p.bin(), "ptp", "CHECK", &id, Some(&ns.path()), &check).ok);

    let del = cni(&p.bin(), "ptp", "DEL", &id, Some(&ns.path()), &conf);
    assert!(del.ok, "{}", del.json);
    assert!(!link_exists(&host_veth));
    assert!(!ns.exec(&["ip", "link", "show", "eth0"]).0);
    assert!(!chain_exists(&chain));
    assert!(!p.data().join("rkntptp/10.72.0.2").exists());
    let (_, post) = sh(&["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"]);
    assert!(!post.contains(&chain));
    // Idempotent, also without the netns.
    assert!(cni(&p.bin(), "ptp", "DEL", &id, Some(&ns.path()), &conf).ok);
    assert!(cni(&p.bin(), "ptp", "DEL", &id, None, &conf).ok);
    drop(added);
}

#[test]
fn bridge_connects_two_containers() {
    let p = Plugins::new();
    let br = format!("rkbr{}", std::process::id() % 100_000);
    let conf = json!({"cniVersion": "0.4.0", "name": "rkntbr", "type": "bridge", "bridge": br,
        "isGateway": true, "hairpinMode": true,
        "ipam": {"type": "host-local", "subnet": "10.73.0.0/24", "dataDir": p.data()}});
    let (ns1, ns2) = (Netns::new("br1"), Netns::new("br2"));
    struct Bridge(String);
    impl Drop for Bridge {
        fn drop(&mut self) {
            let _ = sh(&["ip", "link", "del", &self.0]);
        }
    }
    let _bridge = Bridge(br.clone());
    let mut ips = Vec::new();
    let mut guards = Vec::new();
    for (i, ns) in [&ns1, &ns2].into_iter().enumerate() {
        let id = format!("br{i}-{}", std::process::id());
        guards.push(Added {
            bin: p.bin(),
            plugin: "bridge",
            id: id.clone(),
            ns,
            conf: conf.clone(),
        });
        let out = cni(&p.bin(), "bridge", "ADD", &id, Some(&ns.path()), &conf);
        assert!(out.ok, "{}", out.json);
        assert_eq!(out.json["interfaces"][0]["name"], br.as_str());
        assert_eq!(out.json["ips"][0]["version"], "4");
        assert_eq!(out.json["ips"][0]["interface"], 2);
        ips.push(ip_only(&out.json["ips"][0]["address"]));
    }
    assert_eq!(ips, ["10.73.0.2", "10.73.0.3"]);
    assert!(
        ping(Some(&ns1), &ips[1]),
        "container 1 cannot reach container 2"
    );
    assert!(
        ping(Some(&ns2), &ips[0]),
        "container 2 cannot reach container 1"
    );
    assert!(
        ping(None, &ips[0]),
        "host (gateway on the bridge) cannot reach container 1"
    );
    let (_, addrs) = sh(&["ip", "-4", "addr", "show", &br]);
    assert!(addrs.contains("10.73.0.1/24"), "{addrs}");
    drop(guards);
    let (_, ports) = sh(&["ip", "link", "show", "master", &br]);
    assert!(ports.trim().is_empty(), "ports left on {br}: {ports}");
    assert!(!p.data().join("rkntbr/10.73.0.2").exists());
}

#[test]
fn loopback_comes_up() {
    let p = Plugins::new();
    let ns = Netns::new("lo");
    let conf = json!({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"});
    assert!(
        !ns.exec(&["ping", "-c1", "-W1", "127.0.0.1"]).0,
        "lo up before ADD"
    );
    let out = cni(&p.bin(), "loopback", "ADD", "l", Some(&ns.path()), &conf);
    assert!(out.ok, "{}", out.json);
    assert_eq!(out.json["interfaces"][0]["name"], "lo");
    assert_eq!(out.json["ips"][0]["address"], "127.0.0.1/8");
    assert!(ns.exec(&["ping", "-c1", "-W1", "127.0.0.1"]).0);
    assert!(cni(&p.bin(), "loopback", "CHECK", "l", Some(&ns.path()), &conf).ok);
    assert!(cni(&p.bin(), "loopback", "DEL", "l", Some(&ns.path()), &conf).ok);
    assert!(!ns.exec(&["ping", "-c1", "-W1", "127.0.0.1"]).0);
}

/// The result with the values that differ per run (names, MACs, paths) blanked.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let blank = matches!(k.as_str(), "mac" | "name" | "sandbox");
                    (k.clone(), if blank { json!("-") } else { shape(v) })
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        other => other.clone(),
    }
}

/// Debian's containernetworking-plugins and ours give the same result for the same conf, and
/// configure the container the same way.
#[test]
fn ptp_and_loopback_agree_with_reference_plugins() {
    if !Path::new(DEBIAN_PLUGINS).join("ptp").exists() {
        eprintln!("skipped: needs containernetworking-plugins (make deps)");
        return;
    }
    let p = Plugins::new();
    for version in ["0.3.1", "1.0.0"] {
        let mut results = Vec::new();
        let mut addrs = Vec::new();
        for (bin, tag) in [(PathBuf::from(DEBIAN_PLUGINS), "deb"), (p.bin(), "our")] {
            let ns = Netns::new(&format!("cmp{tag}"));
            let data = p.data().join(format!("{tag}-{version}"));
            let conf = ptp_conf(&format!("rkntcmp{tag}"), "10.74.0.0/24", &data, version);
            let id = format!("cmp-{tag}-{}", std::process::id());
            let _g = Added {
                bin: bin.clone(),
                plugin: "ptp",
                id: id.clone(),
                ns: &ns,
                conf: conf.clone(),
            };
            let out = cni(&bin, "ptp", "ADD", &id, Some(&ns.path()), &conf);
            assert!(out.ok, "{tag}: {}", out.json);
            results.push(shape(&out.json));
            addrs.push((
                ns.exec(&["ip", "-4", "-o", "addr", "show", "eth0"])
                    .1
                    .contains("10.74.0.2/24"),
                ns.exec(&["ip", "route"])
                    .1
                    .contains("default via 10.74.0.1"),
            ));
            let del = cni(&bin, "ptp", "DEL", &id, Some(&ns.path()), &conf);
            assert!(del.ok, "{tag}: {}", del.json);
        }
        assert_eq!(results[0], results[1], "ptp {version}");
        assert_eq!(addrs, [(true, true), (true, true)]);
    }
    let ns = Netns::new("cmplo");
    let conf = json!({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"});
    let deb = cni(
        Path::new(DEBIAN_PLUGINS),
        "loopback",
        "ADD",
        "l",
        Some(&ns.path()),
        &conf,
    );
    let our = cni(&p.bin(), "loopback", "ADD", "l", Some(&ns.path()), &conf);
    assert_eq!(deb.json, our.json);
}

/// Two containers' masquerade chains: removing one leaves the other (the table is deleted
/// only non-recursively, so never under a running pod), and a second removal is a no-op.
#[test]
fn nft_masquerade_chains_are_removed_one_by_one() {
    use networking::plugins::{iptables::chain_name, nft};
    let id = std::process::id();
    let (a, b) = (
        chain_name("rkntnft", &format!("a{id}")),
        chain_name("rkntnft", &format!("b{id}")),
    );
    let subnet = "10.74.0.0/24".parse().unwrap();
    nft::add_masquerade(&a, "10.74.0.2".parse().unwrap(), subnet, "test a").unwrap();
    nft::add_masquerade(&b, "10.74.0.3".parse().unwrap(), subnet, "test b").unwrap();
    // A repeated ADD (a retried start) replaces the rule instead of doubling it.
    nft::add_masquerade(&b, "10.74.0.3".parse().unwrap(), subnet, "test b").unwrap();
    let (_, listed) = sh(&["nft", "list", "chain", "ip", nft::TABLE, &b]);
    assert_eq!(listed.matches("masquerade").count(), 1, "{listed}");
    assert!(nft::del_masquerade(&a).unwrap());
    assert!(!chain_exists(&a));
    assert!(chain_exists(&b), "the other container's chain stays");
    assert!(!nft::del_masquerade(&a).unwrap(), "already gone");
    assert!(nft::del_masquerade(&b).unwrap());
    assert!(!chain_exists(&b));
}
