//! The pod's CNI networks (rkt.md §5), set up by `init` before the pod's namespaces exist and
//! torn down by `gc` (or by `init` when the start fails).
//!
//! Start ([`pin`], before the pod's PID 1 exists): select the networks (`--net`,
//! `<local-config>/net.d`, the built-ins), pin a new network namespace at
//! `/run/rkt/netns/rkt-<uuid>`. The pod's PID 1 then joins the namespace and brings `lo` up
//! while the host side ([`add`]) writes the path to `<pod>/netns`, copies each network's conf
//! to `<pod>/net/eth<i>.conf`, runs the plugins' ADD in order (from the host's namespaces),
//! adds port forwards, writes `<pod>/net-info.json`.
//!
//! Teardown needs only the pod dir: the copied confs (so a changed net.d does not matter),
//! `net-info.json` for the ADD results when present, the UUID for the netns and iptables
//! chains. It works after a crash and is idempotent.
//!
//! Files (relative to the pod dir):
//! - `netns`: the netns file's path.
//! - `net/eth<i>.conf`: the conf (or conf list) network `i` was added with, as read.
//! - `net/ports`: exists when port forwarding was set up (gc then removes the chains).
//! - `net-info.json`: a JSON array, one object per network in interface order:
//!   `netName`, `netConf` (path of the copy), `pluginPath`, `ifName`, `ip`, `mask`, `args`,
//!   `gateway` (when known), `result` (the plugin's ADD result as printed).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use networking::conf::{self, ActiveNet, ConfError, NetConf, NetSpec};
use networking::portfwd::{self, Forward, PortFwdError};
use networking::runner::{Attachment, DEFAULT_TIMEOUT, Runner, RunnerError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::{PodContext, RunArgs};
use crate::status::write_atomic;

pub mod netns;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Conf(#[from] ConfError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error(transparent)]
    PortFwd(#[from] PortFwdError),
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
    #[error("pod {uuid}: cannot {action} the network namespace {}", path.display())]
    Netns {
        uuid: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--port={name}: {problem}")]
    Port { name: String, problem: String },
    #[error("pod {uuid}: network teardown incomplete: {problems}")]
    Teardown { uuid: String, problems: String },
}

type Result<T> = std::result::Result<T, NetError>;

fn file_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> NetError {
    let path = path.to_path_buf();
    move |source| NetError::File {
        action,
        path,
        source,
    }
}

/// rkt's default local config dir.
pub const DEFAULT_LOCAL_CONFIG: &str = "/etc/rkt";
/// Plugins installed on the host for rkt.
pub const HOST_PLUGIN_DIR: &str = "/usr/lib/rkt/plugins/net";

/// One entry of `net-info.json` (a superset of what stage0's `NetInfo` reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetInfo {
    #[serde(rename = "netName")]
    pub net_name: String,
    #[serde(rename = "netConf")]
    pub net_conf: String,
    #[serde(rename = "pluginPath")]
    pub plugin_path: String,
    #[serde(rename = "ifName")]
    pub if_name: String,
    pub ip: Option<String>,
    pub mask: Option<String>,
    #[serde(default)]
    pub args: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default)]
    pub result: Value,
}

/// The pod's network namespace, pinned and open but not yet configured: what PID 1 joins
/// while the host side runs [`add`].
#[derive(Debug)]
pub struct PinnedNet {
    pub netns_path: PathBuf,
    /// Opened before the clone; the child joins it with `setns`.
    pub netns: File,
    nets: Vec<ActiveNet>,
    ports: Vec<PortPlan>,
}

/// A started pod network: what the metadata URL and the apps' `/etc` depend on.
#[derive(Debug)]
pub struct PodNetwork {
    pub attachments: Vec<Attachment>,
    /// From the first network whose result has DNS servers.
    pub resolv_conf: Option<String>,
}

/// `--local-config`, else `/etc/rkt`.
pub fn local_config(args: &RunArgs) -> PathBuf {
    args.local_config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOCAL_CONFIG))
}

/// The stage1 image's own plugin dir, as a host path (`stage1_rootfs`: see
/// [`stage1_host_rootfs`]).
fn stage1_plugin_dir(stage1_rootfs: &Path) -> PathBuf {
    stage1_rootfs.join(HOST_PLUGIN_DIR.trim_start_matches('/'))
}

/// The plugin search path: `<local-config>/net.d`, the host's rkt plugins, then the stage1
/// image's own (`stage1_rootfs` is the host path of the stage1 rootfs: see
/// [`stage1_host_rootfs`]).
pub fn plugin_dirs(local_config: &Path, stage1_rootfs: &Path) -> Vec<PathBuf> {
    vec![
        local_config.join("net.d"),
        PathBuf::from(HOST_PLUGIN_DIR),
        stage1_plugin_dir(stage1_rootfs),
    ]
}

/// The stage1 rootfs on the host, where this binary runs from: the pod's link farm
/// (`<pod>/stage1/rootfs`) or the store's stage1 tree when the pod has none. Derived from our
/// own executable (`<rootfs>/usr/lib/rkt/stage1/rkt-stage1`), which `gc` needs as it gets no
/// word from stage0 about the layout; the farm path when that cannot be read.
pub fn stage1_host_rootfs(pod_dir: &Path) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(5).map(Path::to_path_buf))
        .filter(|root| root.join("usr/lib/rkt/stage1").is_dir())
        .unwrap_or_else(|| pod_dir.join("stage1/rootfs"))
}

fn runner(uuid: &str, local_config: &Path, pod_dir: &Path, debug: bool) -> Runner {
    let stage1_rootfs = stage1_host_rootfs(pod_dir);
    Runner {
        container_id: uuid.to_string(),
        netns: netns::netns_path(uuid),
        plugin_dirs: plugin_dirs(local_config, &stage1_rootfs),
        timeout: DEFAULT_TIMEOUT,
        debug,
        // The image's `rkt-net-plugin` is built from this very code: where the search lands
        // there (no override in net.d or the host dir), call it instead of exec'ing it.
        builtin_dir: Some(stage1_plugin_dir(&stage1_rootfs)),
    }
}

/// A port to forward, before the pod's IP is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    pub name: String,
    pub protocol: String,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub pod_port: u16,
}

/// The pod manifest's `ports` resolved against the apps' ports (or `podPort`).
pub fn port_plan(ctx: &PodContext) -> Result<Vec<PortPlan>> {
    let mut out = Vec::new();
    for exposed in &ctx.manifest.ports {
        let name = exposed.name.as_str();
        let port = match &exposed.pod_port {
            Some(p) => p.clone(),
            None => ctx
                .apps
                .iter()
                .flat_map(|a| a.app.ports.iter())
                .find(|p| p.name.as_str() == name)
                .cloned()
                .ok_or_else(|| NetError::Port {
                    name: name.to_string(),
                    problem: "no app of the pod has a port with this name".into(),
                })?,
        };
        let protocol = port.protocol.to_ascii_lowercase();
        if protocol != "tcp" && protocol != "udp" {
            return Err(NetError::Port {
                name: name.to_string(),
                problem: format!(
                    "protocol {:?}: only tcp and udp are forwarded",
                    port.protocol
                ),
            });
        }
        out.push(PortPlan {
            name: name.to_string(),
            protocol,
            host_ip: exposed.host_ip,
            host_port: exposed.host_port,
            pod_port: port.port,
        });
    }
    Ok(out)
}

/// The forwards for `plan` into the first network with `ipMasq`, else the last one; with the
/// host ends of that network's interfaces (for `route_localnet`).
pub fn forwards(
    uuid: &str,
    plan: &[PortPlan],
    done: &[Attachment],
) -> Result<(Vec<Forward>, Vec<String>)> {
    if plan.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let target = done
        .iter()
        .find(|a| a.net.conf.ip_masq)
        .or_else(|| done.last());
    let (pod_ip, host_ifs) = match target {
        Some(a) => match a.result.ips.iter().find_map(|i| match i.address {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        }) {
            Some(ip) => (ip, a.result.host_interfaces().map(String::from).collect()),
            None => {
                return Err(NetError::Port {
                    name: plan[0].name.clone(),
                    problem: format!(
                        "network {} gave pod {uuid} no IPv4 address",
                        a.net.conf.name
                    ),
                });
            }
        },
        None => {
            return Err(NetError::Port {
                name: plan[0].name.clone(),
                problem: "the pod has no network to forward into".into(),
            });
        }
    };
    let fwd = plan
        .iter()
        .map(|p| Forward {
            protocol: p.protocol.clone(),
            host_ip: p.host_ip,
            host_port: p.host_port,
            pod_ip,
            pod_port: p.pod_port,
        })
        .collect();
    Ok((fwd, host_ifs))
}

/// The `net-info.json` entries for `done`.
pub fn net_infos(pod_dir: &Path, done: &[Attachment]) -> Vec<NetInfo> {
    done.iter()
        .map(|a| {
            let ip = a.result.primary_ip();
            NetInfo {
                net_name: a.net.conf.name.clone(),
                net_conf: conf_copy(pod_dir, &a.net.if_name).display().to_string(),
                plugin_path: a.plugin_path.display().to_string(),
                if_name: a.net.if_name.clone(),
                ip: ip.map(|i| i.address.to_string()),
                mask: ip.map(|i| i.mask()),
                args: a.net.args.clone(),
                gateway: ip.and_then(|i| i.gateway).map(|g| g.to_string()),
                result: a.raw_result.clone(),
            }
        })
        .collect()
}

/// `<pod>/net/<ifname>.conf`.
pub fn conf_copy(pod_dir: &Path, if_name: &str) -> PathBuf {
    pod_dir.join("net").join(format!("{if_name}.conf"))
}

/// Checks the networks and port forwards `--net` asks for, then pins the pod's new network
/// namespace and opens it. Nothing is configured in it yet: see [`add`]. On failure nothing
/// is left behind.
pub fn pin(ctx: &PodContext, spec: &NetSpec) -> Result<PinnedNet> {
    let uuid = &ctx.args.uuid;
    let user_dir = local_config(&ctx.args).join("net.d");
    let nets = conf::select(spec, conf::load_user_confs(&user_dir)?, &user_dir)?;
    let ports = port_plan(ctx)?;
    let path = netns::netns_path(uuid);
    let netns_err = |action, path: &Path| {
        let (uuid, path) = (uuid.clone(), path.to_path_buf());
        move |source| NetError::Netns {
            uuid,
            action,
            path,
            source,
        }
    };
    netns::create(&path).map_err(netns_err("create", &path))?;
    let netns = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            let _ = netns::remove(&path);
            return Err(netns_err("open", &path)(e));
        }
    };
    Ok(PinnedNet {
        netns_path: path,
        netns,
        nets,
        ports,
    })
}

/// Adds the pod's networks into the pinned namespace (see the module docs). On failure the
/// caller tears down (`teardown`: the runner already undid a failed ADD).
pub fn add(ctx: &PodContext, pinned: &PinnedNet) -> Result<PodNetwork> {
    let local = local_config(&ctx.args);
    let run = runner(&ctx.args.uuid, &local, &ctx.pod_dir, ctx.args.debug);
    let mut done = Vec::new();
    start(ctx, &run, &pinned.nets, &pinned.ports, &mut done)?;
    Ok(PodNetwork {
        resolv_conf: done
            .iter()
            .find(|a| !a.result.dns.is_empty())
            .map(|a| a.result.dns.resolv_conf()),
        attachments: done,
    })
}

fn start(
    ctx: &PodContext,
    run: &Runner,
    nets: &[ActiveNet],
    ports: &[PortPlan],
    done: &mut Vec<Attachment>,
) -> Result<()> {
    let pod = &ctx.pod_dir;
    write_atomic(&pod.join("netns"), run.netns.as_os_str().as_encoded_bytes())?;
    let net_dir = pod.join("net");
    std::fs::create_dir_all(&net_dir).map_err(file_err("create", &net_dir))?;
    for net in nets {
        let copy = conf_copy(pod, &net.if_name);
        let bytes = serde_json::to_vec_pretty(&net.conf.raw).unwrap_or_default();
        std::fs::write(&copy, bytes).map_err(file_err("write", &copy))?;
    }
    *done = run.add_all(nets)?;
    let (fwd, host_ifs) = forwards(&ctx.args.uuid, ports, done)?;
    if !fwd.is_empty() {
        let marker = net_dir.join("ports");
        std::fs::write(&marker, b"").map_err(file_err("write", &marker))?;
        portfwd::setup(&ctx.args.uuid, &fwd, &host_ifs)?;
    }
    let info_path = pod.join("net-info.json");
    let info = serde_json::to_vec_pretty(&net_infos(pod, done)).unwrap_or_default();
    std::fs::write(&info_path, info).map_err(file_err("write", &info_path))
}

/// The networks recorded in the pod dir, in interface order, with their ADD results.
fn recorded(pod_dir: &Path) -> Result<Vec<(ActiveNet, Option<Value>)>> {
    let net_dir = pod_dir.join("net");
    let entries = match std::fs::read_dir(&net_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_err("read", &net_dir)(e)),
    };
    let infos: Vec<NetInfo> = std::fs::read(pod_dir.join("net-info.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut out = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(index) = file
            .strip_prefix("eth")
            .and_then(|s| s.strip_suffix(".conf"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let if_name = format!("eth{index}");
        let bytes = std::fs::read(e.path()).map_err(file_err("read", &e.path()))?;
        let conf = NetConf::from_slice(&bytes, Some(&e.path()), &file)?;
        let info = infos.iter().find(|i| i.if_name == if_name);
        out.push((
            index,
            ActiveNet {
                conf,
                args: info.map(|i| i.args.clone()).unwrap_or_default(),
                if_name,
            },
            info.map(|i| i.result.clone()),
        ));
    }
    out.sort_by_key(|(i, _, _)| *i);
    Ok(out.into_iter().map(|(_, n, r)| (n, r)).collect())
}

/// Undoes everything [`setup`] may have made for pod `uuid` (port forwards, CNI DEL in
/// reverse, the netns); idempotent. Every step is tried; the errors are reported together.
pub fn teardown(pod_dir: &Path, uuid: &str, local_config: &Path, debug: bool) -> Result<()> {
    let mut problems: Vec<String> = Vec::new();
    if pod_dir.join("net/ports").exists() {
        match portfwd::teardown(uuid) {
            Ok(_) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    let run = runner(uuid, local_config, pod_dir, debug);
    match recorded(pod_dir) {
        Ok(nets) => {
            for (net, prev) in nets.iter().rev() {
                crate::debug!("pod {uuid}: CNI DEL {} ({})", net.conf.name, net.if_name);
                match run.del(net, prev.as_ref()) {
                    // Done with it: a later gc does not DEL (or look for its plugin) again.
                    Ok(()) => {
                        if let Some(f) = &net.conf.file {
                            let _ = std::fs::remove_file(f);
                        }
                    }
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    if let Err(e) = netns::remove(&run.netns) {
        problems.push(format!("remove {}: {e}", run.netns.display()));
    }
    for f in ["netns", "net/ports"] {
        let _ = std::fs::remove_file(pod_dir.join(f));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(NetError::Teardown {
        uuid: uuid.to_string(),
        problems: problems.join("; "),
    })
}

#[cfg(test)]
mod tests;
