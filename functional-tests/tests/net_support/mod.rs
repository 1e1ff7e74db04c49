//! Shared by the `net_*` functional tests: an "outside host" (a network namespace wired to
//! the host by a veth pair, on a subnet of its own), IPv4 forwarding switched on for the
//! test and restored afterwards, and listings of what pod networking leaves on the host.
//! Everything here is removed when dropped, also when the test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Holders of forwarding in this test process and the value found before the first one.
static FORWARDING: Mutex<(usize, Option<String>)> = Mutex::new((0, None));

/// IPv4 forwarding on while alive; the value found first is written back when the last
/// guard of the process goes (tests of one binary run in parallel).
pub struct Forwarding;

impl Forwarding {
    pub fn on() -> Forwarding {
        let mut g = FORWARDING.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            g.1 = std::fs::read_to_string(IP_FORWARD).ok();
        }
        g.0 += 1;
        std::fs::write(IP_FORWARD, b"1").expect("enabling IPv4 forwarding");
        Forwarding
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        let mut g = FORWARDING.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if g.0 == 0
            && let Some(old) = g.1.take()
        {
            let _ = std::fs::write(IP_FORWARD, old.trim().as_bytes());
        }
    }
}

/// Runs `cmd ARGS`, panicking with its stderr when it fails.
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace `rktft-out<n>` reached from the host over `rkftho<n>` (10.214.<n>.1/24
/// on the host side, 10.214.<n>.2/24 inside, default route back to the host).
pub struct OutsideHost {
    pub netns: String,
    pub host_if: String,
    pub host_ip: String,
    pub ip: String,
    servers: Vec<Child>,
    _fwd: Forwarding,
}

impl OutsideHost {
    pub fn new(n: u8) -> OutsideHost {
        let fwd = Forwarding::on();
        let netns = format!("rktft-out{n}");
        let host_if = format!("rkftho{n}");
        let peer = format!("rkftpo{n}");
        // Leftovers of an interrupted earlier run.
        let _ = Command::new("ip").args(["netns", "del", &netns]).output();
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        let o = OutsideHost {
            netns: netns.clone(),
            host_if: host_if.clone(),
            host_ip: format!("10.214.{n}.1"),
            ip: format!("10.214.{n}.2"),
            servers: Vec::new(),
            _fwd: fwd,
        };
        sh("ip", &["netns", "add", &netns]);
        sh(
            "ip",
            &[
                "link", "add", &host_if, "type", "veth", "peer", "name", &peer,
            ],
        );
        sh("ip", &["link", "set", &peer, "netns", &netns]);
        sh(
            "ip",
            &["addr", "add", &format!("{}/24", o.host_ip), "dev", &host_if],
        );
        sh("ip", &["link", "set", &host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &netns, "ip"];
            all.extend_from_slice(args);
            sh("ip", &all);
        };
        inside(&["addr", "add", &format!("{}/24", o.ip), "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &o.host_ip]);
        o
    }

    /// `inspect ARGS` run inside the namespace.
    pub fn inspect(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns])
            .arg(functional_tests::env_path("RKT_INSPECT_BIN"))
            .args(args);
        cmd
    }

    /// Starts `inspect ARGS` (a server) inside the namespace; it is killed on drop.
    pub fn serve(&mut self, args: &[&str]) {
        let child = self
            .inspect(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the outside server");
        self.servers.push(child);
    }
}

impl Drop for OutsideHost {
    fn drop(&mut self) {
        for c in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Removing the namespace removes the peer and with it the host end.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

/// `ip -o link` names (without the `@peer` part).
pub fn links() -> Vec<String> {
    sh("ip", &["-o", "link"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The host's NAT rules: the iptables nat table (port forwards, masquerade where our plugins
/// fall back to iptables) and our nf_tables table (masquerade), empty when it is absent.
pub fn nat_rules() -> Vec<String> {
    let mut rules: Vec<String> = sh("iptables", &["-w", "-t", "nat", "-S"])
        .lines()
        .map(str::to_string)
        .collect();
    rules.extend(nft_masquerade());
    rules
}

/// `nft list table ip rkt-rs`, one line per line (none when the table does not exist).
pub fn nft_masquerade() -> Vec<String> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", "rkt-rs"])
        .output()
        .expect("running nft (make deps installs nftables)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Pinned pod network namespaces.
pub fn pod_netns() -> Vec<String> {
    dir_names(Path::new("/run/rkt/netns"))
}

/// host-local leases (files named by IP) of network `net` in the default lease dir.
pub fn leases(net: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from("/var/lib/cni/networks").join(net);
    dir_names(&dir)
        .into_iter()
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .map(|n| {
            let holder = std::fs::read_to_string(dir.join(&n)).unwrap_or_default();
            (n, holder)
        })
        .collect()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// The pod's first IPv4 address as `rkt status` shows it (`networks=<net>:ip4=<ip>`).
pub fn status_ip(ctx: &functional_tests::RktCtx, uuid: &str) -> String {
    let status = ctx.rkt(&["status", uuid]);
    let text = status.ok();
    text.lines()
        .find_map(|l| l.strip_prefix("networks="))
        .and_then(|n| n.split(":ip4=").nth(1))
        .map(|ip| ip.split(',').next().unwrap_or(ip).to_string())
        .unwrap_or_else(|| panic!("no network in status: {text}"))
}
