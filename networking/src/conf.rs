//! Which networks a pod joins: the `--net` value ([`NetSpec`]) and the network confs
//! (built-in `default`/`default-restricted`, user confs in `<local-config>/net.d/`).
//!
//! Selection follows rkt: user confs (`*.conf`, `*.conflist`, `*.json`) sorted by file name,
//! then the built-in ones, a user conf with a built-in's name replacing it. The pod's
//! interfaces are numbered in that order (`eth0`, `eth1`, ...), not in `--net` order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

mod result;
pub use result::{CniResult, Dns, IpConfig, Route, parse_result};

/// The built-in confs, compiled in so that no image layout can lose them.
pub const BUILTIN_CONFS: [(&str, &str); 2] = [
    ("99-default.conf", include_str!("../confs/99-default.conf")),
    (
        "99-default-restricted.conf",
        include_str!("../confs/99-default-restricted.conf"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("--net={spec}: {problem}")]
    Spec { spec: String, problem: String },
    #[error("cannot read the network conf {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("network conf {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("network conf {path} is not JSON")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "--net: no conf defines the network(s) {names} (looked in {dir} and the built-in ones)"
    )]
    Missing { names: String, dir: String },
    #[error("network {name} is defined twice: {first} and {second}")]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
}

type Result<T> = std::result::Result<T, ConfError>;

/// One network asked for by name, with its `K=V;K=V` CNI args (empty when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRequest {
    pub name: String,
    pub args: String,
}

/// A parsed `--net` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetSpec {
    /// The host's network namespace.
    Host,
    /// A private namespace with only `lo`.
    None,
    /// Every configured network (and `default`).
    All,
    /// These networks (in conf order).
    Named(Vec<NetRequest>),
}

impl NetSpec {
    /// Parses `--net` (`default` when empty): `host`, `none`, `all`, or
    /// `n1,n2:K=V;K=V`. `host`/`none`/`all` stand alone and take no args; a name only once.
    pub fn parse(spec: &str) -> Result<NetSpec> {
        let err = |problem: String| ConfError::Spec {
            spec: spec.to_string(),
            problem,
        };
        let spec_or_default = if spec.trim().is_empty() {
            "default"
        } else {
            spec
        };
        let mut named: Vec<NetRequest> = Vec::new();
        let mut special = None;
        let items: Vec<&str> = spec_or_default.split(',').collect();
        for item in &items {
            let (name, args) = match item.split_once(':') {
                Some((n, a)) => (n.trim(), Some(a)),
                None => (item.trim(), None),
            };
            if name.is_empty() {
                return Err(err("an empty network name".into()));
            }
            if let s @ ("host" | "none" | "all") = name {
                if args.is_some() {
                    return Err(err(format!("{s} takes no arguments")));
                }
                if items.len() > 1 {
                    return Err(err(format!("{s} cannot be combined with other networks")));
                }
                special = Some(s);
                continue;
            }
            if !valid_name(name) {
                return Err(err(format!("{name:?} is not a valid network name")));
            }
            if named.iter().any(|r| r.name == name) {
                return Err(err(format!("network {name} is given twice")));
            }
            let args = match args {
                Some(a) => check_args(a).map_err(err)?,
                None => String::new(),
            };
            named.push(NetRequest {
                name: name.to_string(),
                args,
            });
        }
        Ok(match special {
            Some("host") => NetSpec::Host,
            Some("none") => NetSpec::None,
            Some(_) => NetSpec::All,
            None => NetSpec::Named(named),
        })
    }

    /// Whether the pod gets CNI networks (and so a netns made before it starts).
    pub fn uses_cni(&self) -> bool {
        matches!(self, NetSpec::All | NetSpec::Named(_))
    }
}

/// A network name: what may appear in a file name and an iptables comment.
fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `K=V;K=V` → the same, checked: every pair has a non-empty key, nothing but printable ASCII.
fn check_args(args: &str) -> std::result::Result<String, String> {
    let mut out = Vec::new();
    for pair in args.split(';').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, _)) if !k.is_empty() && pair.chars().all(|c| c.is_ascii_graphic()) => {
                out.push(pair.to_string())
            }
            _ => return Err(format!("{pair:?} is not KEY=VALUE")),
        }
    }
    Ok(out.join(";"))
}

/// A loaded network conf (a single-plugin conf or a conf list).
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    pub name: String,
    /// Where it came from (`None` for a built-in).
    pub file: Option<PathBuf>,
    /// The file name that orders it (`99-default.conf` for the built-in).
    pub file_name: String,
    /// The whole conf as read.
    pub raw: Value,
    /// `plugins` for a conf list; one element (the conf itself) otherwise.
    pub plugins: Vec<Value>,
    pub is_list: bool,
    /// Whether any plugin masquerades (`ipMasq`): picks the port-forwarding network.
    pub ip_masq: bool,
}

impl NetConf {
    /// Parses one conf file's bytes.
    pub fn from_slice(bytes: &[u8], file: Option<&Path>, file_name: &str) -> Result<NetConf> {
        let shown = file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(format!("<built-in>/{file_name}")));
        let invalid = |problem: &str| ConfError::Invalid {
            path: shown.clone(),
            problem: problem.to_string(),
        };
        let raw: Value = serde_json::from_slice(bytes).map_err(|source| ConfError::Json {
            path: shown.clone(),
            source,
        })?;
        let obj = raw
            .as_object()
            .ok_or_else(|| invalid("not a JSON object"))?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| valid_name(n) && !n.is_empty())
            .ok_or_else(|| invalid("\"name\" is missing or not a valid network name"))?
            .to_string();
        let (plugins, is_list) = match obj.get("plugins") {
            Some(Value::Array(list)) if !list.is_empty() => (list.clone(), true),
            Some(_) => return Err(invalid("\"plugins\" must be a non-empty list")),
            None => (vec![raw.clone()], false),
        };
        for p in &plugins {
            let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
            if ty.is_empty() || ty.contains('/') || ty.starts_with('.') {
                return Err(invalid(
                    "every plugin needs a plain \"type\" (a plugin file name)",
                ));
            }
        }
        let ip_masq = plugins
            .iter()
            .any(|p| p.get("ipMasq").and_then(Value::as_bool) == Some(true));
        Ok(NetConf {
            name,
            file: file.map(Path::to_path_buf),
            file_name: file_name.to_string(),
            raw,
            plugins,
            is_list,
            ip_masq,
        })
    }

    /// The conf's `cniVersion` (`0.1.0` when absent, as CNI reads it).
    pub fn cni_version(&self) -> &str {
        self.raw
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or("0.1.0")
    }

    /// The JSON plugin `index` receives on stdin: the plugin's conf with the list's `name` and
    /// `cniVersion` (conf lists), plus `prevResult` when chaining.
    pub fn plugin_stdin(&self, index: usize, prev: Option<&Value>) -> Value {
        let mut conf: Map<String, Value> = self
            .plugins
            .get(index)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if self.is_list {
            conf.remove("plugins");
        }
        conf.insert("name".into(), Value::String(self.name.clone()));
        conf.insert(
            "cniVersion".into(),
            Value::String(self.cni_version().to_string()),
        );
        if let Some(prev) = prev {
            conf.insert("prevResult".into(), prev.clone());
        }
        Value::Object(conf)
    }
}

/// The built-in confs, parsed.
pub fn builtin_confs() -> Vec<NetConf> {
    BUILTIN_CONFS
        .iter()
        .filter_map(|(file, text)| NetConf::from_slice(text.as_bytes(), None, file).ok())
        .collect()
}

/// The user confs in `dir` (`*.conf`, `*.conflist`, `*.json`), sorted by file name; none when
/// `dir` does not exist.
pub fn load_user_confs(dir: &Path) -> Result<Vec<NetConf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let ext = Path::new(&name).extension()?.to_str()?;
            matches!(ext, "conf" | "conflist" | "json").then(|| (name, e.path()))
        })
        .collect();
    files.sort();
    let mut out: Vec<NetConf> = Vec::new();
    for (name, path) in files {
        let bytes = std::fs::read(&path).map_err(|source| ConfError::Read {
            path: path.clone(),
            source,
        })?;
        let conf = NetConf::from_slice(&bytes, Some(&path), &name)?;
        if let Some(first) = out.iter().find(|c| c.name == conf.name) {
            return Err(ConfError::Duplicate {
                name: conf.name,
                first: first.file.clone().unwrap_or_default(),
                second: path,
            });
        }
        out.push(conf);
    }
    Ok(out)
}

/// A network the pod joins: its conf, CNI args and interface name.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveNet {
    pub conf: NetConf,
    /// `K=V;K=V` from `--net=name:K=V;...` (empty when none).
    pub args: String,
    pub if_name: String,
}

/// The networks `spec` selects from `user` confs (in file-name order) and the built-ins,
/// numbered `eth0`... Errors name every requested network that no conf defines.
pub fn select(spec: &NetSpec, user: Vec<NetConf>, user_dir: &Path) -> Result<Vec<ActiveNet>> {
    let mut all = user;
    for b in builtin_confs() {
        if !all.iter().any(|c| c.name == b.name) {
            all.push(b);
        }
    }
    let chosen: Vec<(NetConf, String)> = match spec {
        NetSpec::Host | NetSpec::None => Vec::new(),
        NetSpec::All => all
            .into_iter()
            // `all` is every user network plus `default`, not the restricted one.
            .filter(|c| c.file.is_some() || c.name == "default")
            .map(|c| (c, String::new()))
            .collect(),
        NetSpec::Named(reqs) => {
            let known: BTreeSet<&str> = all.iter().map(|c| c.name.as_str()).collect();
            let missing: Vec<&str> = reqs
                .iter()
                .map(|r| r.name.as_str())
                .filter(|n| !known.contains(n))
                .collect();
            if !missing.is_empty() {
                return Err(ConfError::Missing {
                    names: missing.join(", "),
                    dir: user_dir.display().to_string(),
                });
            }
            all.into_iter()
                .filter_map(|c| {
                    let r = reqs.iter().find(|r| r.name == c.name)?;
                    let args = r.args.clone();
                    Some((c, args))
                })
                .collect()
        }
    };
    Ok(chosen
        .into_iter()
        .enumerate()
        .map(|(i, (conf, args))| ActiveNet {
            conf,
            args,
            if_name: format!("eth{i}"),
        })
        .collect())
}

#[cfg(test)]
mod tests;
