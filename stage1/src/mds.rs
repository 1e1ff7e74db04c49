//! `AC_METADATA_URL` for pods registered with the metadata service (`--mds-token`): the URL
//! is `http://<host ip>:<port>/<token>`, where the host ip is the host side of the pod's
//! first network (the gateway of its address: the ptp/bridge host end), or 127.0.0.1 with
//! `--net=host`. The port comes from stage0 in `RKT_MDS_PORT` (rkt's 18112 when unset).

use std::net::{IpAddr, Ipv4Addr};

use aci::manifest::EnvVar;

use crate::context::PodContext;
use crate::net::PodNetwork;

pub const URL_ENV: &str = "AC_METADATA_URL";
pub const PORT_ENV: &str = "RKT_MDS_PORT";
pub const DEFAULT_PORT: u16 = 18112;

#[derive(Debug, thiserror::Error)]
pub enum MdsError {
    #[error("{PORT_ENV}={0:?} is not a port number")]
    Port(String),
    #[error(
        "pod {uuid}: --mds-token needs a network whose address has a gateway (the metadata \
         service is reached through it): use --net=default or --net=host"
    )]
    NoHostAddress { uuid: String },
}

/// The service port from the environment.
pub fn port_from_env() -> Result<u16, MdsError> {
    match std::env::var(PORT_ENV) {
        Ok(v) => v.parse().map_err(|_| MdsError::Port(v)),
        Err(_) => Ok(DEFAULT_PORT),
    }
}

/// Where the pod reaches the host: the first network's gateway, or loopback without a
/// network namespace of its own.
pub fn host_address(pod_net: Option<&PodNetwork>) -> Option<IpAddr> {
    match pod_net {
        None => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Some(n) => n
            .attachments
            .iter()
            .find_map(|a| a.result.primary_ip().and_then(|i| i.gateway)),
    }
}

pub fn metadata_url(host: IpAddr, port: u16, token: &str) -> String {
    match host {
        IpAddr::V4(ip) => format!("http://{ip}:{port}/{token}"),
        IpAddr::V6(ip) => format!("http://[{ip}]:{port}/{token}"),
    }
}

/// The pod's `AC_METADATA_URL`, when it is registered (`--mds-token`). Computed on the host
/// side once the networks are up; PID 1 applies it with [`apply_url`].
pub fn url(ctx: &PodContext, pod_net: Option<&PodNetwork>) -> Result<Option<String>, MdsError> {
    let Some(token) = &ctx.args.mds_token else {
        return Ok(None);
    };
    let host = host_address(pod_net).ok_or_else(|| MdsError::NoHostAddress {
        uuid: ctx.args.uuid.clone(),
    })?;
    Ok(Some(metadata_url(host, port_from_env()?, token)))
}

/// Sets `AC_METADATA_URL` to `url` for every app (replacing any value the image set: appc
/// makes it the executor's).
pub fn apply_url(ctx: &mut PodContext, url: &str) {
    for app in &mut ctx.apps {
        app.app.environment.retain(|v| v.name != URL_ENV);
        app.app.environment.push(EnvVar {
            name: URL_ENV.to_string(),
            value: url.to_string(),
        });
    }
}

/// [`url`] then [`apply_url`]. True when the pod is registered (and so the apps' specs
/// changed).
pub fn set_metadata_url(
    ctx: &mut PodContext,
    pod_net: Option<&PodNetwork>,
) -> Result<bool, MdsError> {
    let Some(url) = url(ctx, pod_net)? else {
        return Ok(false);
    };
    apply_url(ctx, &url);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_have_no_trailing_slash() {
        let v4 = metadata_url("172.16.28.1".parse().unwrap(), 18112, "tok");
        assert_eq!(v4, "http://172.16.28.1:18112/tok");
        let v6 = metadata_url("fd00::1".parse().unwrap(), 1, "t");
        assert_eq!(v6, "http://[fd00::1]:1/t");
    }

    #[test]
    fn host_network_uses_loopback() {
        assert_eq!(host_address(None), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
