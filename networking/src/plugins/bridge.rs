//! `bridge`: containers on one Linux bridge (`rkt0` unless `bridge` says otherwise).
//!
//! Container: the leased IP with its subnet prefix (the subnet is on-link through the bridge),
//! IPAM routes via the gateway, a default route if `isDefaultGateway`. Host: the bridge, up,
//! with the gateway address if `isGateway`; the host end of the veth as a bridge port.

use std::path::Path;

use serde::Deserialize;

use super::cni::{self, CniResult, Env, Interface, Ipv4Net, NetConf};
use super::dispatch::PluginError;
use super::netlink::Netlink;
use super::veth;

pub const DEFAULT_BRIDGE: &str = "rkt0";

#[derive(Debug, Default, Deserialize)]
pub struct BridgeConf {
    #[serde(default)]
    pub bridge: Option<String>,
    #[serde(default, rename = "isGateway")]
    pub is_gateway: bool,
    #[serde(default, rename = "isDefaultGateway")]
    pub is_default_gateway: bool,
    #[serde(default, rename = "ipMasq")]
    pub ip_masq: bool,
    #[serde(default, rename = "hairpinMode")]
    pub hairpin_mode: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
}

impl BridgeConf {
    fn name(&self) -> Result<&str, cni::Error> {
        let n = self.bridge.as_deref().unwrap_or(DEFAULT_BRIDGE);
        if n.is_empty() || n.len() > 15 || n.contains(['/', ' ']) {
            return Err(cni::Error::Config(format!(
                "bridge name {n:?} is not a valid interface name"
            )));
        }
        Ok(n)
    }
}

pub async fn add(env: &Env, conf: &NetConf, raw: &[u8]) -> Result<CniResult, PluginError> {
    let bc: BridgeConf = serde_json::from_slice(raw).map_err(cni::Error::Decode)?;
    bc.name()?;
    let netns = env
        .netns
        .as_deref()
        .ok_or(cni::Error::MissingEnv("CNI_NETNS"))?;
    let lease = veth::ipam_add(env, conf, raw)?;
    match configure(env, conf, &bc, netns, &lease).await {
        Ok(r) => Ok(r),
        Err(e) => {
            if let Err(c) = veth::del(env, conf, raw, bc.ip_masq).await {
                eprintln!("cleaning up after a failed ADD: {c}");
            }
            Err(e)
        }
    }
}

async fn configure(
    env: &Env,
    conf: &NetConf,
    bc: &BridgeConf,
    netns: &Path,
    lease: &veth::Lease,
) -> Result<CniResult, PluginError> {
    let br = bc.name()?;
    let host = Netlink::current()?;
    let cont = Netlink::in_netns(netns)?;
    let br_idx = host.ensure_bridge(br, bc.mtu).await?;
    let pair = veth::make_pair(&host, &cont, env, netns, bc.mtu).await?;
    host.set_master(&pair.host_name, br_idx, bc.hairpin_mode)
        .await?;
    let (ip, gw) = (lease.ip, lease.gateway);
    let (ifname, cidx) = (env.ifname.as_str(), pair.cont_index);

    cont.add_addr_at(cidx, ifname, ip, false).await?;
    veth::add_ipam_routes(&cont, cidx, ifname, &lease.result, gw).await?;
    if bc.is_default_gateway {
        let default = Ipv4Net {
            addr: [0, 0, 0, 0].into(),
            prefix: 0,
        };
        cont.add_route_at(default, Some(gw), cidx, ifname).await?;
    }
    if bc.is_gateway || bc.is_default_gateway {
        host.add_addr(
            br,
            Ipv4Net {
                addr: gw,
                prefix: ip.prefix,
            },
        )
        .await?;
        veth::enable_forwarding()?;
    }
    if bc.ip_masq {
        veth::masquerade(env, conf, lease)?;
    }

    let mut interfaces = vec![Interface {
        name: br.into(),
        mac: host.mac(br).await?,
        sandbox: String::new(),
    }];
    interfaces.extend(veth::interfaces(&pair, env, netns));
    Ok(lease.add_result(conf, interfaces, 2))
}

pub async fn del(env: &Env, conf: &NetConf, raw: &[u8]) -> Result<(), PluginError> {
    let bc: BridgeConf = serde_json::from_slice(raw).map_err(cni::Error::Decode)?;
    veth::del(env, conf, raw, bc.ip_masq).await
}
