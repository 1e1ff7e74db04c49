//! `ptp`: a veth pair per container, routed (not bridged) by the host.
//!
//! Container: the leased IP with its prefix but no on-link subnet route, an on-link route to the gateway (the host end's address),
//! the subnet and the IPAM routes through it. Host: the gateway IP /32 on the host end and an
//! on-link /32 route to the container. `ipMasq` adds the NAT chain.

use std::path::Path;

use serde::Deserialize;

use super::cni::{self, CniResult, Env, Ipv4Net, NetConf};
use super::dispatch::PluginError;
use super::netlink::Netlink;
use super::veth;

#[derive(Debug, Default, Deserialize)]
pub struct PtpConf {
    #[serde(default, rename = "ipMasq")]
    pub ip_masq: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
}

pub async fn add(env: &Env, conf: &NetConf, raw: &[u8]) -> Result<CniResult, PluginError> {
    let pc: PtpConf = serde_json::from_slice(raw).map_err(cni::Error::Decode)?;
    let netns = env
        .netns
        .as_deref()
        .ok_or(cni::Error::MissingEnv("CNI_NETNS"))?;
    let lease = veth::ipam_add(env, conf, raw)?;
    match configure(env, conf, &pc, netns, &lease).await {
        Ok(r) => Ok(r),
        Err(e) => {
            if let Err(c) = veth::del(env, conf, raw, pc.ip_masq).await {
                eprintln!("cleaning up after a failed ADD: {c}");
            }
            Err(e)
        }
    }
}

async fn configure(
    env: &Env,
    conf: &NetConf,
    pc: &PtpConf,
    netns: &Path,
    lease: &veth::Lease,
) -> Result<CniResult, PluginError> {
    let host = Netlink::current()?;
    let cont = Netlink::in_netns(netns)?;
    let pair = veth::make_pair(&host, &cont, env, netns, pc.mtu).await?;
    let (ip, gw) = (lease.ip, lease.gateway);
    let gw32 = Ipv4Net {
        addr: gw,
        prefix: 32,
    };
    let subnet = lease.subnet();
    let (ifname, cidx) = (env.ifname.as_str(), pair.cont_index);

    cont.add_addr_at(cidx, ifname, ip, true).await?;
    cont.add_route_at(gw32, None, cidx, ifname).await?;
    if ip.prefix < 32 {
        cont.add_route_at(subnet, Some(gw), cidx, ifname).await?;
    }
    veth::add_ipam_routes(&cont, cidx, ifname, &lease.result, gw).await?;

    let (hidx, hname) = (pair.host_index, pair.host_name.as_str());
    host.add_addr_at(hidx, hname, gw32, false).await?;
    let host_route = Ipv4Net {
        addr: ip.addr,
        prefix: 32,
    };
    host.add_route_at(host_route, None, hidx, hname).await?;
    veth::enable_forwarding()?;
    if pc.ip_masq {
        veth::masquerade(env, conf, lease)?;
    }
    Ok(lease.add_result(conf, veth::interfaces(&pair, env, netns), 1))
}

pub async fn del(env: &Env, conf: &NetConf, raw: &[u8]) -> Result<(), PluginError> {
    let pc: PtpConf = serde_json::from_slice(raw).map_err(cni::Error::Decode)?;
    veth::del(env, conf, raw, pc.ip_masq).await
}
