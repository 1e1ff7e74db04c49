//! Flag values: booleans, `NAME=VALUE`, gids, `--mount`, `--port`.

use aci::manifest::ExposedPort;
use aci::types::AcName;

use super::{ArgsError, MountFlag, Result};

/// Go's `strconv.ParseBool` spellings, as rkt's flags accept them.
pub(super) fn parse_bool(flag: &str, v: Option<&str>) -> Result<bool> {
    match v {
        None | Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(bad(flag, other, "expected true or false")),
    }
}

pub(super) fn bad(flag: &str, value: &str, rule: impl Into<String>) -> ArgsError {
    ArgsError::BadValue {
        flag: flag.to_string(),
        value: value.to_string(),
        rule: rule.into(),
    }
}

/// `NAME=VALUE` with a non-empty name.
pub(super) fn name_value(flag: &str, v: &str) -> Result<(String, String)> {
    match v.split_once('=') {
        Some((n, val)) if !n.is_empty() => Ok((n.to_string(), val.to_string())),
        _ => Err(bad(flag, v, "expected NAME=VALUE")),
    }
}

pub(super) fn parse_gids(flag: &str, v: &str) -> Result<Vec<u32>> {
    v.split(',')
        .map(|g| {
            g.trim()
                .parse::<u32>()
                .map_err(|_| bad(flag, v, "expected comma-separated numeric group IDs"))
        })
        .collect()
}

pub(super) fn parse_mount(flag: &str, v: &str) -> Result<MountFlag> {
    let (mut volume, mut target) = (None, None);
    for part in v.split(',') {
        match part.split_once('=') {
            Some(("volume", n)) if volume.is_none() => volume = Some(n),
            Some(("target", t)) if target.is_none() => target = Some(t),
            _ => return Err(bad(flag, v, "expected volume=NAME,target=PATH")),
        }
    }
    match (volume, target) {
        (Some(n), Some(t)) if !t.is_empty() => Ok(MountFlag {
            volume: AcName::new(n).map_err(|e| bad(flag, v, e.to_string()))?,
            target: t.to_string(),
        }),
        _ => Err(bad(flag, v, "expected volume=NAME,target=PATH")),
    }
}

/// `NAME:[HOSTIP:]HOSTPORT`.
pub(super) fn parse_port(flag: &str, v: &str) -> Result<ExposedPort> {
    let rule = "expected NAME:[HOSTIP:]HOSTPORT";
    let parts: Vec<&str> = v.split(':').collect();
    let (name, ip, port) = match parts.as_slice() {
        [n, p] => (*n, None, *p),
        [n, ip, p] => (*n, Some(*ip), *p),
        _ => return Err(bad(flag, v, rule)),
    };
    let name = AcName::new(name).map_err(|e| bad(flag, v, e.to_string()))?;
    let host_ip = match ip {
        Some(ip) => Some(ip.parse().map_err(|_| bad(flag, v, rule))?),
        None => None,
    };
    let host_port = port.parse().map_err(|_| bad(flag, v, rule))?;
    Ok(ExposedPort {
        name,
        host_port,
        host_ip,
        pod_port: None,
    })
}
