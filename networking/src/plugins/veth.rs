//! What ptp and bridge share: the veth pair into the container's netns, addresses and routes
//! inside it, IPAM delegation with clean-up, forwarding, and DEL.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::cni::{self, CniResult, Env, Interface, IpConfig, Ipv4Net, NetConf};
use super::dispatch::PluginError;
use super::netlink::Netlink;
use super::{hostlocal, iptables, nft};

/// `veth` and 8 hex digits of a hash of container and interface: stable, so DEL finds it.
pub fn host_veth_name(container_id: &str, ifname: &str) -> String {
    let h = Sha256::digest(format!("{container_id}\0{ifname}").as_bytes());
    format!("veth{}", &hex::encode(h)[..8])
}

/// The container end's name until it is moved and renamed (unique on the host).
fn temp_peer_name(container_id: &str, ifname: &str) -> String {
    let h = Sha256::digest(format!("peer\0{container_id}\0{ifname}").as_bytes());
    format!("rkp{}", &hex::encode(h)[..8])
}

/// The address an IPAM result gave: the IP with its subnet prefix, and the gateway.
pub struct Lease {
    pub ip: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub result: CniResult,
}

impl Lease {
    /// The subnet the address belongs to.
    pub fn subnet(&self) -> Ipv4Net {
        Ipv4Net {
            addr: self.ip.network(),
            prefix: self.ip.prefix,
        }
    }

    /// The ADD result: `interfaces`, and this address on `interfaces[index]`, with the IPAM
    /// result's routes and DNS.
    pub fn add_result(
        &self,
        conf: &NetConf,
        interfaces: Vec<Interface>,
        index: usize,
    ) -> CniResult {
        CniResult {
            cni_version: conf.cni_version.clone(),
            interfaces,
            ips: vec![IpConfig {
                version: None,
                address: self.ip.to_string(),
                gateway: Some(self.gateway.into()),
                interface: Some(index),
            }],
            routes: self.result.routes.clone(),
            dns: if self.result.dns.nameservers.is_empty() {
                conf.dns.clone().unwrap_or_default()
            } else {
                self.result.dns.clone()
            },
        }
    }
}

/// `ipMasq`: masquerade what the container sends outside its subnet, in a chain of its own:
/// through nf_tables directly, or through the `iptables` command where nf_tables refuses
/// (a kernel without it).
pub fn masquerade(env: &Env, conf: &NetConf, lease: &Lease) -> Result<(), PluginError> {
    let chain = iptables::chain_name(&conf.name, &env.container_id);
    let comment = masq_comment(conf, env);
    let (ip, subnet) = (lease.ip.addr, lease.subnet());
    match nft::add_masquerade(&chain, ip, subnet, &comment) {
        Ok(()) => Ok(()),
        Err(nft) => iptables::add_masquerade(&chain, ip, subnet, &comment)
            .map_err(|iptables| PluginError::Masquerade { nft, iptables }),
    }
}

/// Undoes [`masquerade`]: the nf_tables chain, else the iptables chain (a pod whose ADD fell
/// back to iptables, or was made by an older version). A host without the `iptables` command
/// has no iptables chain to remove.
pub fn unmasquerade(env: &Env, conf: &NetConf) -> Result<(), PluginError> {
    let chain = iptables::chain_name(&conf.name, &env.container_id);
    match nft::del_masquerade(&chain) {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        // No nf_tables netlink at all: only iptables can hold the chain.
        Err(nft::Error::Socket(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match iptables::del_masquerade(&chain) {
        Err(iptables::Error::Spawn { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(())
        }
        r => r.map_err(Into::into),
    }
}

/// Runs IPAM ADD and takes its first IPv4 address, which must come with a gateway.
pub fn ipam_add(env: &Env, conf: &NetConf, raw: &[u8]) -> Result<Lease, PluginError> {
    let kind = conf.ipam_type()?;
    let result = if ipam_in_process(env, &kind) {
        let ipam = hostlocal::IpamConf::parse(raw)?;
        hostlocal::add(
            &ipam,
            &env.container_id,
            &conf.cni_version,
            &hostlocal::requested_ips(&env.args)?,
        )?
    } else {
        cni::delegate(env, &kind, "ADD", raw)?.unwrap_or_default()
    };
    let Some((ip, Some(gateway))) = result.first_v4() else {
        ipam_del_quietly(env, conf, raw);
        return Err(cni::Error::Config(format!(
            "IPAM {kind} returned no IPv4 address with a gateway"
        ))
        .into());
    };
    Ok(Lease {
        ip,
        gateway,
        result,
    })
}

pub fn ipam_del(env: &Env, conf: &NetConf, raw: &[u8]) -> Result<(), PluginError> {
    let kind = conf.ipam_type()?;
    if ipam_in_process(env, &kind) {
        let ipam = hostlocal::IpamConf::parse(raw)?;
        hostlocal::del(&ipam, &env.container_id)?;
    } else {
        cni::delegate(env, &kind, "DEL", raw)?;
    }
    Ok(())
}

/// Whether the IPAM plugin `kind` that CNI_PATH names is this very code (our `host-local`
/// link): then it runs here, as a call, instead of a fork and exec of ourselves (a few ms of
/// every pod start). Any other plugin of that name (the reference one) is still executed.
/// "This code" is the running executable, or (in-process in stage1) `Env::builtin_dir`.
fn ipam_in_process(env: &Env, kind: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    if kind != "host-local" {
        return false;
    }
    let Ok(found) = cni::find_plugin(env, kind) else {
        return false;
    };
    if let Some(dir) = &env.builtin_dir {
        return found.parent() == Some(dir.as_path());
    }
    match (
        std::fs::metadata(found),
        std::fs::metadata("/proc/self/exe"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Frees the lease after a failed ADD; the ADD's own error is the one reported.
pub fn ipam_del_quietly(env: &Env, conf: &NetConf, raw: &[u8]) {
    if let Err(e) = ipam_del(env, conf, raw) {
        eprintln!("cleaning up after a failed ADD: {e}");
    }
}

/// Both ends of a made pair: names, link indexes and MACs (looked up once, then every
/// address and route is added by index).
pub struct Pair {
    pub host_name: String,
    pub host_index: u32,
    pub host_mac: String,
    pub cont_index: u32,
    pub cont_mac: String,
}

/// Creates the pair with the peer made inside the netns as `ifname`, both ends up.
pub async fn make_pair(
    host: &Netlink,
    cont: &Netlink,
    env: &Env,
    netns: &Path,
    mtu: Option<u32>,
) -> Result<Pair, PluginError> {
    let host_name = host_veth_name(&env.container_id, &env.ifname);
    // The common case first: nothing in the way. Only when a name is taken (EEXIST) look at
    // what is there: saves three lookups on every start.
    match host
        .add_veth_into(&host_name, &env.ifname, netns, mtu)
        .await
    {
        Err(e) if e.errno() == Some(libc::EEXIST) => {
            clear_leftovers(host, cont, env, netns, &host_name).await?;
            host.add_veth_into(&host_name, &env.ifname, netns, mtu)
                .await?;
        }
        r => r?,
    }
    let (host_index, host_mac) = host.link_info(&host_name).await?;
    let (cont_index, cont_mac) = cont.link_info(&env.ifname).await?;
    cont.set_up_at(cont_index, &env.ifname, None).await?;
    Ok(Pair {
        host_name,
        host_index,
        host_mac,
        cont_index,
        cont_mac,
    })
}

/// After a create refused with EEXIST: an `ifname` already in the netns is the caller's
/// error; the host end (or the temporary peer name older versions used) left by an earlier
/// failed ADD with the same ids goes.
async fn clear_leftovers(
    host: &Netlink,
    cont: &Netlink,
    env: &Env,
    netns: &Path,
    host_name: &str,
) -> Result<(), PluginError> {
    if cont.link(&env.ifname).await?.is_some() {
        return Err(cni::Error::Config(format!(
            "interface {} already exists in {}",
            env.ifname,
            netns.display()
        ))
        .into());
    }
    host.del_link(host_name).await?;
    host.del_link(&temp_peer_name(&env.container_id, &env.ifname))
        .await?;
    Ok(())
}

/// The CNI interface entries for the host end and the container end.
pub fn interfaces(pair: &Pair, env: &Env, netns: &Path) -> Vec<Interface> {
    vec![
        Interface {
            name: pair.host_name.clone(),
            mac: pair.host_mac.clone(),
            sandbox: String::new(),
        },
        Interface {
            name: env.ifname.clone(),
            mac: pair.cont_mac.clone(),
            sandbox: netns.to_string_lossy().into_owned(),
        },
    ]
}

/// The IPAM result's routes inside the container (link index `idx`, named `ifname`), through
/// `gateway` unless they name one.
pub async fn add_ipam_routes(
    cont: &Netlink,
    idx: u32,
    ifname: &str,
    result: &CniResult,
    gateway: Ipv4Addr,
) -> Result<(), PluginError> {
    for r in &result.routes {
        let Ok(dst) = r.dst.parse::<Ipv4Net>() else {
            continue;
        };
        let gw = match r.gw {
            Some(IpAddr::V4(g)) => g,
            _ => gateway,
        };
        cont.add_route_at(dst, Some(gw), idx, ifname).await?;
    }
    Ok(())
}

pub fn enable_forwarding() -> Result<(), PluginError> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    std::fs::write(path, "1").map_err(|source| PluginError::Sysctl {
        path: path.into(),
        source,
    })
}

pub fn masq_comment(conf: &NetConf, env: &Env) -> String {
    format!("name: {} id: {}", conf.name, env.container_id)
}

/// DEL for both ptp and bridge: the container end (or the host end if the netns is gone),
/// the NAT chain, then the lease. Nothing missing is an error.
pub async fn del(env: &Env, conf: &NetConf, raw: &[u8], ip_masq: bool) -> Result<(), PluginError> {
    let host = Netlink::current()?;
    if let Some(ns) = env.netns.as_deref().filter(|p| cni::exists(p)) {
        match Netlink::in_netns(ns) {
            Ok(cont) => {
                cont.del_link(&env.ifname).await?;
            }
            Err(e) => eprintln!(
                "netns {} unusable, removing the host end only: {e}",
                ns.display()
            ),
        }
    }
    host.del_link(&host_veth_name(&env.container_id, &env.ifname))
        .await?;
    if ip_masq {
        unmasquerade(env, conf)?;
    }
    ipam_del(env, conf, raw)
}

/// CHECK for both: the container interface exists and carries the leased address.
pub async fn check(env: &Env, conf: &NetConf, raw: &[u8]) -> Result<(), PluginError> {
    let ns = env
        .netns
        .as_deref()
        .ok_or(cni::Error::MissingEnv("CNI_NETNS"))?;
    let cont = Netlink::in_netns(ns)?;
    let addrs = cont.addrs(&env.ifname).await?;
    let prev = conf
        .prev_result
        .as_ref()
        .and_then(|v| serde_json::from_value::<CniResult>(v.clone()).ok());
    if let Some((ip, _)) = prev.and_then(|p| p.first_v4())
        && !addrs.iter().any(|a| a.addr == ip.addr)
    {
        let msg = format!(
            "{} in {} lacks address {}",
            env.ifname,
            ns.display(),
            ip.addr
        );
        return Err(cni::Error::Config(msg).into());
    }
    let kind = conf.ipam_type()?;
    cni::delegate(env, &kind, "CHECK", raw)?;
    Ok(())
}
