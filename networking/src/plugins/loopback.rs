//! `loopback`: `lo` up inside the netns (down again on DEL, if the netns is still there).

use super::cni::{self, CniResult, Env, Interface, IpConfig, NetConf};
use super::dispatch::PluginError;
use super::netlink::Netlink;

pub async fn add(env: &Env, conf: &NetConf) -> Result<CniResult, PluginError> {
    let ns = env
        .netns
        .as_deref()
        .ok_or(cni::Error::MissingEnv("CNI_NETNS"))?;
    Netlink::in_netns(ns)?.set_up("lo", None).await?;
    let ip = |a: &str| IpConfig {
        version: None,
        address: a.into(),
        gateway: None,
        interface: Some(0),
    };
    Ok(CniResult {
        cni_version: conf.cni_version.clone(),
        interfaces: vec![Interface {
            name: "lo".into(),
            mac: "00:00:00:00:00:00".into(),
            sandbox: ns.to_string_lossy().into_owned(),
        }],
        ips: vec![ip("127.0.0.1/8"), ip("::1/128")],
        ..Default::default()
    })
}

pub async fn del(env: &Env) -> Result<(), PluginError> {
    if let Some(ns) = env.netns.as_deref().filter(|p| cni::exists(p))
        && let Ok(nl) = Netlink::in_netns(ns)
    {
        nl.set_down("lo").await?;
    }
    Ok(())
}

pub async fn check(env: &Env) -> Result<(), PluginError> {
    let ns = env
        .netns
        .as_deref()
        .ok_or(cni::Error::MissingEnv("CNI_NETNS"))?;
    let link = Netlink::in_netns(ns)?.link("lo").await?;
    let up = link.is_some_and(|l| {
        l.header
            .flags
            .contains(rtnetlink::packet_route::link::LinkFlags::Up)
    });
    if up {
        Ok(())
    } else {
        Err(cni::Error::Config(format!("lo is down in {}", ns.display())).into())
    }
}
