//! One plugin invocation: environment and stdin in, result or error JSON out, exit code.
//!
//! The multi-call binary `rkt-net-plugin` is installed under each plugin's name (`ptp`,
//! `bridge`, `host-local`, `loopback`); argv[0]'s base name picks the plugin.

use std::io::{Read, Write};

use super::cni::{self, Command, Env, ErrorReply, NetConf};
use super::{bridge, hostlocal, iptables, loopback, netlink, nft, ptp};

/// The plugins this binary implements.
pub const PLUGINS: &[&str] = &["ptp", "bridge", "host-local", "loopback"];

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error(transparent)]
    Cni(#[from] cni::Error),
    #[error(transparent)]
    HostLocal(#[from] hostlocal::Error),
    #[error(transparent)]
    Netlink(#[from] netlink::Error),
    #[error(transparent)]
    Iptables(#[from] iptables::Error),
    #[error(transparent)]
    Nft(#[from] nft::Error),
    #[error("{nft}; the iptables fallback failed too: {iptables}")]
    Masquerade {
        nft: nft::Error,
        iptables: iptables::Error,
    },
    #[error("setting {path}: {source}")]
    Sysctl {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown plugin {0:?}: this binary implements ptp, bridge, host-local, loopback")]
    Unknown(String),
}

impl PluginError {
    pub fn code(&self) -> u32 {
        match self {
            PluginError::Cni(e) => e.code(),
            PluginError::HostLocal(e) => e.code(),
            PluginError::Netlink(e) => e.code(),
            PluginError::Iptables(e) => e.code(),
            PluginError::Nft(e) => e.code(),
            PluginError::Masquerade { nft, .. } => nft.code(),
            PluginError::Sysctl { .. } => cni::code::IO_FAILURE,
            PluginError::Unknown(_) => cni::code::INVALID_CONFIG,
        }
    }
}

/// Runs plugin `name` as the process's CNI invocation; returns the exit code.
pub fn main(name: &str) -> i32 {
    let mut raw = Vec::new();
    let env = Env::from_process();
    // VERSION gets a conf too; reading it keeps the runtime's write from failing.
    let read = std::io::stdin().read_to_end(&mut raw).map(|_| ());
    let version = serde_json::from_slice::<serde_json::Value>(&raw)
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().map(str::to_string))
        .filter(|v| cni::SUPPORTED_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| "1.0.0".to_string());
    let outcome = match (env, read) {
        (Err(e), _) => Err(e.into()),
        (Ok(_), Err(e)) => Err(cni::Error::Stdin(e).into()),
        (Ok(env), Ok(())) => run(name, &env, &raw),
    };
    let (text, code) = match outcome {
        Ok(Some(v)) => (v.to_string(), 0),
        Ok(None) => (String::new(), 0),
        Err(e) => {
            let reply = ErrorReply {
                cni_version: version,
                code: e.code(),
                msg: e.to_string(),
                details: String::new(),
            };
            (serde_json::to_string(&reply).unwrap_or_default(), 1)
        }
    };
    let mut out = std::io::stdout();
    if !text.is_empty() && (writeln!(out, "{text}").is_err() || out.flush().is_err()) {
        return 1;
    }
    code
}

/// One invocation of plugin `name` with `env` and the conf `raw`: its result JSON (ADD,
/// VERSION) or nothing. The exec'd binary and stage1's in-process path both come here, so
/// both behave alike.
pub fn run(name: &str, env: &Env, raw: &[u8]) -> Result<Option<serde_json::Value>, PluginError> {
    if !PLUGINS.contains(&name) {
        return Err(PluginError::Unknown(name.into()));
    }
    // Like the reference plugins: VERSION answers in the newest version we speak.
    if env.command == Command::Version {
        return Ok(Some(serde_json::json!({
            "cniVersion": "1.0.0",
            "supportedVersions": cni::SUPPORTED_VERSIONS,
        })));
    }
    let conf = NetConf::parse(raw)?;
    if name == "host-local" {
        return host_local(env, &conf, raw);
    }
    let rt = netlink::runtime()?;
    rt.block_on(async {
        let result = match (name, env.command) {
            ("ptp", Command::Add) => Some(ptp::add(env, &conf, raw).await?),
            ("ptp", Command::Del) => ptp::del(env, &conf, raw).await.map(|_| None)?,
            ("bridge", Command::Add) => Some(bridge::add(env, &conf, raw).await?),
            ("bridge", Command::Del) => bridge::del(env, &conf, raw).await.map(|_| None)?,
            ("ptp" | "bridge", _) => super::veth::check(env, &conf, raw).await.map(|_| None)?,
            ("loopback", Command::Add) => Some(loopback::add(env, &conf).await?),
            ("loopback", Command::Del) => loopback::del(env).await.map(|_| None)?,
            _ => loopback::check(env).await.map(|_| None)?,
        };
        Ok(result.map(|r| to_json(r.in_version(&conf.cni_version))))
    })
}

fn host_local(
    env: &Env,
    conf: &NetConf,
    raw: &[u8],
) -> Result<Option<serde_json::Value>, PluginError> {
    let ipam = hostlocal::IpamConf::parse(raw)?;
    match env.command {
        Command::Add => Ok(Some(to_json(hostlocal::add(
            &ipam,
            &env.container_id,
            &conf.cni_version,
            &hostlocal::requested_ips(&env.args)?,
        )?))),
        Command::Del => hostlocal::del(&ipam, &env.container_id)
            .map(|_| None)
            .map_err(Into::into),
        _ => hostlocal::check(&ipam, &env.container_id)
            .map(|_| None)
            .map_err(Into::into),
    }
}

fn to_json(r: cni::CniResult) -> serde_json::Value {
    serde_json::to_value(r).unwrap_or(serde_json::Value::Null)
}
