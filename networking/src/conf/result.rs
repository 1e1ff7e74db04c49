//! CNI ADD results, normalised over the spec versions: 0.1.0/0.2.0 (`ip4`/`ip6` objects) and
//! 0.3.x/0.4.0/1.0.0 (`interfaces`, `ips`, `routes`, `dns`).

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

/// One address the plugin assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    pub address: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    /// Index into [`CniResult::interfaces`] (0.3.0 and later).
    pub interface: Option<usize>,
}

impl IpConfig {
    /// The netmask in dotted form (IPv4) or as a prefix length (IPv6).
    pub fn mask(&self) -> String {
        match self.address {
            IpAddr::V4(_) => {
                let bits = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix.min(32)))
                };
                std::net::Ipv4Addr::from(bits).to_string()
            }
            IpAddr::V6(_) => self.prefix.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: String,
    pub gw: Option<IpAddr>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Dns {
    pub nameservers: Vec<String>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
    }

    /// A resolv.conf for these settings (only words without blanks are kept).
    pub fn resolv_conf(&self) -> String {
        let word = |w: &&String| !w.is_empty() && !w.chars().any(|c| c.is_whitespace() || c == '#');
        let mut out = String::new();
        for ns in self.nameservers.iter().filter(word) {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        for (key, list) in [("search", &self.search), ("options", &self.options)] {
            let list: Vec<&str> = list.iter().filter(word).map(String::as_str).collect();
            if !list.is_empty() {
                out.push_str(&format!("{key} {}\n", list.join(" ")));
            }
        }
        if let Some(d) = self.domain.as_ref().filter(word) {
            out.push_str(&format!("domain {d}\n"));
        }
        out
    }
}

/// An interface the plugin created (`sandbox` set for the pod's side).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    pub sandbox: String,
}

/// A parsed ADD result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniResult {
    pub cni_version: String,
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

impl CniResult {
    /// The first IPv4 address, else the first address.
    pub fn primary_ip(&self) -> Option<&IpConfig> {
        self.ips
            .iter()
            .find(|i| i.address.is_ipv4())
            .or_else(|| self.ips.first())
    }

    /// Host-side interfaces (no sandbox), e.g. the host end of a veth.
    pub fn host_interfaces(&self) -> impl Iterator<Item = &str> {
        self.interfaces
            .iter()
            .filter(|i| i.sandbox.is_empty() && !i.name.is_empty())
            .map(|i| i.name.as_str())
    }
}

#[derive(Deserialize)]
struct RawIp {
    address: String,
    #[serde(default)]
    gateway: Option<String>,
    #[serde(default)]
    interface: Option<usize>,
}

#[derive(Deserialize)]
struct RawRoute {
    dst: String,
    #[serde(default)]
    gw: Option<String>,
}

/// 0.1.0/0.2.0's `ip4`/`ip6`.
#[derive(Deserialize)]
struct LegacyIp {
    ip: String,
    #[serde(default)]
    gateway: Option<String>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

fn cidr(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not ADDRESS/PREFIX"))?;
    let address: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("{text:?} has a bad prefix length"))?;
    Ok((address, prefix))
}

fn opt_ip(text: Option<String>) -> Result<Option<IpAddr>, String> {
    text.filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(|_| format!("{t:?} is not an IP address")))
        .transpose()
}

fn field<T: serde::de::DeserializeOwned>(v: &Value, key: &str) -> Result<Option<T>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => serde_json::from_value(x.clone())
            .map(Some)
            .map_err(|e| format!("\"{key}\": {e}")),
    }
}

fn routes(raw: Vec<RawRoute>) -> Result<Vec<Route>, String> {
    raw.into_iter()
        .map(|r| {
            Ok(Route {
                dst: r.dst,
                gw: opt_ip(r.gw)?,
            })
        })
        .collect()
}

/// Parses a plugin's ADD output. `version_hint` is the conf's `cniVersion`, used when the
/// result does not say.
pub fn parse_result(v: &Value, version_hint: &str) -> Result<CniResult, String> {
    if !v.is_object() {
        return Err("the result is not a JSON object".into());
    }
    let version = v
        .get("cniVersion")
        .and_then(Value::as_str)
        .unwrap_or(version_hint)
        .to_string();
    let mut out = CniResult {
        cni_version: version.clone(),
        dns: field(v, "dns")?.unwrap_or_default(),
        ..CniResult::default()
    };
    if version.starts_with("0.1.") || version.starts_with("0.2.") {
        for key in ["ip4", "ip6"] {
            if let Some(l) = field::<LegacyIp>(v, key)? {
                let (address, prefix) = cidr(&l.ip)?;
                out.ips.push(IpConfig {
                    address,
                    prefix,
                    gateway: opt_ip(l.gateway)?,
                    interface: None,
                });
                out.routes.extend(routes(l.routes)?);
            }
        }
        return Ok(out);
    }
    out.interfaces = field(v, "interfaces")?.unwrap_or_default();
    for ip in field::<Vec<RawIp>>(v, "ips")?.unwrap_or_default() {
        let (address, prefix) = cidr(&ip.address)?;
        out.ips.push(IpConfig {
            address,
            prefix,
            gateway: opt_ip(ip.gateway)?,
            interface: ip.interface,
        });
    }
    out.routes = routes(field(v, "routes")?.unwrap_or_default())?;
    Ok(out)
}
