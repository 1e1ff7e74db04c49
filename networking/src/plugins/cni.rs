//! The CNI protocol as a plugin sees it: the `CNI_*` environment, the network conf on stdin,
//! the result and error JSON on stdout, and the exec of a delegated (IPAM) plugin.
//!
//! Results are built in the 1.0.0 shape and converted to the conf's version on output: 0.3.x and
//! 0.4.0 differ only by the `version` field of each IP.

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The spec versions our plugins accept in a conf and answer in.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// Well-known error codes of the CNI spec.
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const INVALID_ENV: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODE_FAILURE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// Plugin-specific codes start at 100.
    pub const NO_FREE_ADDRESS: u32 = 100;
    pub const NETLINK: u32 = 101;
    pub const IPTABLES: u32 = 102;
    pub const DELEGATE: u32 = 103;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("environment variable {0} is missing or empty")]
    MissingEnv(&'static str),
    #[error("CNI_COMMAND {0:?} is not one of ADD, DEL, CHECK, VERSION")]
    BadCommand(String),
    #[error("network conf on stdin is not valid JSON for this plugin: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("CNI version {0:?} is not supported (supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0)")]
    Version(String),
    #[error("invalid network conf: {0}")]
    Config(String),
    #[error("reading the network conf from stdin: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("plugin {0:?} not found in CNI_PATH {1:?}")]
    PluginNotFound(String, String),
    #[error("running plugin {plugin}: {source}")]
    Exec {
        plugin: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("plugin {plugin} failed (code {code}): {msg}")]
    Delegate {
        plugin: String,
        code: u32,
        msg: String,
    },
    #[error("plugin {plugin} printed a result that is not CNI JSON: {source}")]
    DelegateResult {
        plugin: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub fn code(&self) -> u32 {
        match self {
            Error::MissingEnv(_) | Error::BadCommand(_) => code::INVALID_ENV,
            Error::Decode(_) => code::DECODE_FAILURE,
            Error::Version(_) => code::INCOMPATIBLE_VERSION,
            Error::Config(_) => code::INVALID_CONFIG,
            Error::Stdin(_) | Error::Exec { .. } => code::IO_FAILURE,
            Error::PluginNotFound(..) | Error::DelegateResult { .. } => code::DELEGATE,
            Error::Delegate { code, .. } => *code,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
}

/// The `CNI_*` environment of one invocation.
#[derive(Debug, Clone)]
pub struct Env {
    pub command: Command,
    pub container_id: String,
    /// Absent on DEL when the runtime no longer has the netns.
    pub netns: Option<PathBuf>,
    pub ifname: String,
    pub args: Vec<(String, String)>,
    pub path: Vec<PathBuf>,
    /// Set when this code runs inside the runtime's process instead of as an exec'd plugin:
    /// the CNI_PATH dir whose plugins are this very code (so a delegation to one of them is a
    /// call, not an exec).
    pub builtin_dir: Option<PathBuf>,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Env {
    /// Reads the environment; VERSION needs nothing but CNI_COMMAND.
    pub fn from_process() -> Result<Env, Error> {
        let command = match var("CNI_COMMAND")
            .ok_or(Error::MissingEnv("CNI_COMMAND"))?
            .as_str()
        {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            other => return Err(Error::BadCommand(other.to_string())),
        };
        let required = |name| -> Result<String, Error> {
            match command {
                Command::Version => Ok(var(name).unwrap_or_default()),
                _ => var(name).ok_or(Error::MissingEnv(name)),
            }
        };
        let container_id = required("CNI_CONTAINERID")?;
        let ifname = required("CNI_IFNAME")?;
        let netns = var("CNI_NETNS").map(PathBuf::from);
        let args = var("CNI_ARGS").map(|a| parse_args(&a)).unwrap_or_default();
        let path = var("CNI_PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        Ok(Env {
            command,
            container_id,
            netns,
            ifname,
            args,
            path,
            builtin_dir: None,
        })
    }

    /// `CNI_ARGS` as the runtime passed it (`K=V;K=V`).
    pub fn args_string(&self) -> String {
        self.args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// `K=V;K=V` as in CNI_ARGS; pairs without `=` are ignored.
pub fn parse_args(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The fields every network conf has; plugins parse their own fields from the same bytes.
#[derive(Debug, Clone, Deserialize)]
pub struct NetConf {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub ipam: Option<serde_json::Value>,
    #[serde(default, rename = "prevResult")]
    pub prev_result: Option<serde_json::Value>,
    /// The conf's own DNS settings, passed on in the result when IPAM gives none.
    #[serde(default)]
    pub dns: Option<Dns>,
}

impl NetConf {
    pub fn parse(bytes: &[u8]) -> Result<NetConf, Error> {
        let conf: NetConf = serde_json::from_slice(bytes).map_err(Error::Decode)?;
        check_version(&conf.cni_version)?;
        if conf.name.is_empty() {
            return Err(Error::Config("\"name\" is empty".into()));
        }
        Ok(conf)
    }

    /// The `ipam.type` to delegate to.
    pub fn ipam_type(&self) -> Result<String, Error> {
        self.ipam
            .as_ref()
            .and_then(|i| i.get("type"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::Config("\"ipam\" with a \"type\" is required".into()))
    }
}

pub fn check_version(v: &str) -> Result<(), Error> {
    if SUPPORTED_VERSIONS.contains(&v) {
        Ok(())
    } else {
        Err(Error::Version(v.to_string()))
    }
}

/// A CNI result (1.0.0 shape; `version` on IPs only for older versions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Dns,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// "4" or "6"; only in results before 1.0.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// CIDR notation: the address and its subnet's prefix length.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl CniResult {
    /// The same result in the shape of spec version `v`.
    pub fn in_version(mut self, v: &str) -> CniResult {
        let old = v != "1.0.0";
        for ip in &mut self.ips {
            ip.version = if old {
                let v6 = ip.address.contains(':');
                Some(if v6 { "6" } else { "4" }.to_string())
            } else {
                None
            };
        }
        self.cni_version = v.to_string();
        self
    }

    /// The first IPv4 address with its prefix and gateway.
    pub fn first_v4(&self) -> Option<(Ipv4Net, Option<Ipv4Addr>)> {
        self.ips.iter().find_map(|ip| {
            let net = ip.address.parse::<Ipv4Net>().ok()?;
            let gw = match ip.gateway {
                Some(IpAddr::V4(g)) => Some(g),
                _ => None,
            };
            Some((net, gw))
        })
    }
}

/// An IPv4 address with a prefix length (`10.1.2.3/24`); the address need not be the network's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = Error;
    fn from_str(s: &str) -> Result<Ipv4Net, Error> {
        let bad = || Error::Config(format!("{s:?} is not an IPv4 CIDR like 10.1.0.0/24"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Ipv4Net { addr, prefix })
    }
}

/// The error JSON the spec prints on stdout for a failure.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorReply {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    pub code: u32,
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

pub(crate) fn find_plugin(env: &Env, kind: &str) -> Result<PathBuf, Error> {
    // A type is a file name, never a path: keep delegation inside CNI_PATH.
    if kind.contains('/') || kind == "." || kind == ".." {
        return Err(Error::Config(format!(
            "plugin type {kind:?} must be a plain name"
        )));
    }
    env.path
        .iter()
        .map(|d| d.join(kind))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let path = std::env::join_paths(&env.path).unwrap_or_default();
            Error::PluginNotFound(kind.to_string(), path.to_string_lossy().into_owned())
        })
}

/// Runs the delegated plugin `kind` from CNI_PATH with our environment (CNI_COMMAND set to
/// `command`) and the same conf on stdin; returns its parsed result for ADD.
pub fn delegate(
    env: &Env,
    kind: &str,
    command: &str,
    conf: &[u8],
) -> Result<Option<CniResult>, Error> {
    let exe = find_plugin(env, kind)?;
    let exec_err = |source| Error::Exec {
        plugin: exe.clone(),
        source,
    };
    let mut child = Process::new(&exe);
    // Explicit, not inherited: in-process plugins (see `Env::builtin_dir`) have no CNI_* vars.
    child
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &env.container_id)
        .env("CNI_IFNAME", &env.ifname)
        .env("CNI_ARGS", env.args_string())
        .env(
            "CNI_PATH",
            std::env::join_paths(&env.path).unwrap_or_default(),
        );
    match &env.netns {
        Some(ns) => child.env("CNI_NETNS", ns),
        None => child.env_remove("CNI_NETNS"),
    };
    let mut child = child
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(exec_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(conf).map_err(exec_err)?;
    }
    let out = child.wait_with_output().map_err(exec_err)?;
    if !out.status.success() {
        let reply: Option<ErrorReply> = serde_json::from_slice(&out.stdout).ok();
        return Err(match reply {
            Some(r) => Error::Delegate {
                plugin: kind.into(),
                code: r.code,
                msg: r.msg,
            },
            None => Error::Delegate {
                plugin: kind.into(),
                code: code::DELEGATE,
                msg: format!(
                    "{} with output {:?}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout)
                ),
            },
        });
    }
    if command != "ADD" {
        return Ok(None);
    }
    serde_json::from_slice(&out.stdout)
        .map(Some)
        .map_err(|source| Error::DelegateResult {
            plugin: kind.into(),
            source,
        })
}

/// Whether a path exists (a DEL on a vanished netns is not an error).
pub fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_math() {
        let n: Ipv4Net = "10.1.2.3/24".parse().unwrap();
        assert_eq!(n.network(), Ipv4Addr::new(10, 1, 2, 0));
        assert_eq!(n.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
        assert!(n.contains(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(!n.contains(Ipv4Addr::new(10, 1, 3, 1)));
        assert!("10.1.2.3/33".parse::<Ipv4Net>().is_err());
        assert!("10.1.2.3".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn result_versions() {
        let r = CniResult {
            cni_version: "1.0.0".into(),
            ips: vec![IpConfig {
                version: None,
                address: "10.1.2.3/24".into(),
                gateway: Some("10.1.2.1".parse().unwrap()),
                interface: Some(1),
            }],
            ..Default::default()
        };
        let old = serde_json::to_value(r.clone().in_version("0.4.0")).unwrap();
        assert_eq!(old["ips"][0]["version"], "4");
        assert_eq!(old["cniVersion"], "0.4.0");
        let new = serde_json::to_value(r.in_version("1.0.0")).unwrap();
        assert!(new["ips"][0].get("version").is_none());
        assert_eq!(new["dns"], serde_json::json!({}));
    }

    #[test]
    fn conf_versions_and_args() {
        let ok = br#"{"cniVersion":"0.3.1","name":"n","type":"ptp","ipam":{"type":"host-local"}}"#;
        assert_eq!(
            NetConf::parse(ok).unwrap().ipam_type().unwrap(),
            "host-local"
        );
        let old = br#"{"cniVersion":"0.1.0","name":"n","type":"ptp"}"#;
        assert_eq!(
            NetConf::parse(old).unwrap_err().code(),
            code::INCOMPATIBLE_VERSION
        );
        assert_eq!(
            NetConf::parse(b"{").unwrap_err().code(),
            code::DECODE_FAILURE
        );
        assert_eq!(
            parse_args("A=1;B=x=y;junk"),
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
    }
}
