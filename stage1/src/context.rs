//! What stage1 knows about the pod it runs: the `run` arguments and the files stage0 laid out
//! (see the crate docs for the list). Loaded once, read-only afterwards; every later step
//! (mounts, app specs, the supervisor) takes a [`PodContext`].

use std::path::{Path, PathBuf};

use aci::manifest::{App, ImageManifest, Mount, PodManifest};
use aci::types::AcName;

/// Why the pod could not be loaded; each variant names the file or flag.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid manifest")]
    Manifest {
        path: PathBuf,
        #[source]
        source: aci::manifest::ManifestError,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("stage1 run: {0}")]
    Usage(String),
}

type Result<T> = std::result::Result<T, ContextError>;

/// Set by stage0 for `run` when the pod has no stage1 link farm: the host path of the stage1
/// tree's rootfs in the store, the lower dir of the overlay PID 1 mounts on `stage1/rootfs`.
pub const STAGE1_LOWER_ENV: &str = "RKT_STAGE1_LOWER";

/// `--ipc`: whether the pod gets its own IPC namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpcMode {
    #[default]
    Auto,
    Private,
    Parent,
}

/// The `run` entrypoint's command line (see the crate docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunArgs {
    pub debug: bool,
    /// The `--net` value as stage0 passed it (`default` when absent).
    pub net: String,
    pub local_config: Option<PathBuf>,
    pub hostname: Option<String>,
    pub interactive: bool,
    pub mds_token: Option<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub dns_domain: Option<String>,
    pub hosts_entries: Vec<String>,
    pub ipc: IpcMode,
    pub disable_capabilities: bool,
    pub disable_paths: bool,
    pub disable_seccomp: bool,
    /// `--private-users=<shift>:<count>`: the pod's user namespace id range.
    pub private_users: Option<crate::setup::UidRange>,
    pub uuid: String,
    /// Not a flag: the resolv.conf from the pod's CNI results (set by `init` after the
    /// networks are up; used unless a `--dns` flag decides).
    pub net_resolv_conf: Option<String>,
}

impl RunArgs {
    /// Parses `argv[1..]` of the `run` entrypoint. Flags take `--flag=value` or `--flag value`.
    pub fn parse(args: &[String]) -> Result<RunArgs> {
        let mut out = RunArgs {
            net: "default".to_string(),
            ..RunArgs::default()
        };
        let mut it = args.iter();
        let mut uuid = None;
        while let Some(arg) = it.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                if uuid.replace(arg.clone()).is_some() {
                    return Err(ContextError::Usage(format!("unexpected argument {arg:?}")));
                }
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            let mut value = || -> Result<String> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| ContextError::Usage(format!("--{name} needs a value"))),
                }
            };
            match name {
                "debug" => out.debug = parse_bool(name, inline.as_deref())?,
                "interactive" => out.interactive = parse_bool(name, inline.as_deref())?,
                "disable-capabilities-restriction" => {
                    out.disable_capabilities = parse_bool(name, inline.as_deref())?
                }
                "disable-paths" => out.disable_paths = parse_bool(name, inline.as_deref())?,
                "disable-seccomp" => out.disable_seccomp = parse_bool(name, inline.as_deref())?,
                "net" => out.net = value()?,
                "local-config" => out.local_config = Some(PathBuf::from(value()?)),
                "hostname" => out.hostname = Some(value()?).filter(|h| !h.is_empty()),
                "mds-token" => out.mds_token = Some(value()?).filter(|t| !t.is_empty()),
                "dns" => out.dns.push(value()?),
                "dns-search" => out.dns_search.push(value()?),
                "dns-opt" => out.dns_opt.push(value()?),
                "dns-domain" => out.dns_domain = Some(value()?).filter(|d| !d.is_empty()),
                "hosts-entry" => out.hosts_entries.push(value()?),
                "ipc" => {
                    out.ipc = match value()?.as_str() {
                        "auto" | "" => IpcMode::Auto,
                        "private" => IpcMode::Private,
                        "parent" => IpcMode::Parent,
                        other => {
                            return Err(ContextError::Usage(format!(
                                "--ipc={other}: use auto, private or parent"
                            )));
                        }
                    }
                }
                "private-users" => {
                    let v = value()?;
                    let range = crate::setup::UidRange::parse(&v).map_err(|why| {
                        ContextError::Usage(format!("--private-users={v}: {why}"))
                    })?;
                    out.private_users = Some(range);
                }
                _ => return Err(ContextError::Usage(format!("unknown flag --{name}"))),
            }
        }
        out.uuid = uuid.ok_or_else(|| ContextError::Usage("the pod UUID is missing".into()))?;
        Ok(out)
    }
}

fn parse_bool(name: &str, value: Option<&str>) -> Result<bool> {
    match value {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(ContextError::Usage(format!(
            "--{name}={v}: expected true or false"
        ))),
    }
}

/// One app of the pod, with every path stage1 needs for it.
#[derive(Debug, Clone)]
pub struct AppContext {
    pub name: AcName,
    /// The image manifest (`appsinfo/<app>/manifest`).
    pub image: ImageManifest,
    /// The effective runtime app: the pod manifest's `apps[].app`, else the image's.
    pub app: App,
    /// `appsinfo/<app>/treeStoreID`.
    pub tree_id: String,
    /// Overlay lower dir: `<data>/cas/tree/<tree_id>/rootfs` (host path).
    pub lower: PathBuf,
    /// OCI images: the layer trees stacked below `lower`, top first (from
    /// `appsinfo/<app>/treeStoreIDs`); empty for ACIs.
    pub lower_layers: Vec<PathBuf>,
    /// Overlay upper and work dirs (host paths, created by stage0).
    pub upper: PathBuf,
    pub work: PathBuf,
    /// The app's root as seen inside the stage1 root: `/opt/stage2/<app>/rootfs`.
    pub root_in_stage1: PathBuf,
    /// The same directory on the host: `<pod>/stage1/rootfs/opt/stage2/<app>/rootfs`.
    pub root_on_host: PathBuf,
    pub read_only_rootfs: bool,
    /// The pod manifest's `apps[].mounts` (volume name → target path in the app).
    pub mounts: Vec<Mount>,
}

/// The pod as stage1 sees it at start.
#[derive(Debug, Clone)]
pub struct PodContext {
    /// Absolute, symlink-free path of the pod dir (stage1's cwd at start).
    pub pod_dir: PathBuf,
    /// `<pod_dir>/../../..`, resolved.
    pub data_dir: PathBuf,
    pub manifest: PodManifest,
    /// `<pod_dir>/stage1/rootfs`.
    pub stage1_root: PathBuf,
    /// [`STAGE1_LOWER_ENV`]: the stage1 tree to mount under `stage1_root` (None: a link farm).
    pub stage1_lower: Option<PathBuf>,
    /// Whether `overlay-prepared` exists (else app roots are full copies).
    pub use_overlay: bool,
    pub apps: Vec<AppContext>,
    pub args: RunArgs,
}

impl PodContext {
    /// Loads the pod in `pod_dir` (normally the cwd) for a `run` with `args`.
    pub fn load(pod_dir: &Path, args: RunArgs) -> Result<PodContext> {
        let pod_dir = std::fs::canonicalize(pod_dir).map_err(|source| ContextError::Read {
            path: pod_dir.to_path_buf(),
            source,
        })?;
        let data_dir = pod_dir
            .ancestors()
            .nth(3)
            .ok_or_else(|| ContextError::Invalid {
                path: pod_dir.clone(),
                problem: "is not <data>/pods/<state>/<uuid>".to_string(),
            })?
            .to_path_buf();
        let manifest_path = pod_dir.join("pod");
        let manifest = PodManifest::from_slice(&read(&manifest_path)?).map_err(|source| {
            ContextError::Manifest {
                path: manifest_path.clone(),
                source,
            }
        })?;
        let stage1_root = pod_dir.join("stage1/rootfs");
        let stage1_lower = stage1_lower_from_env()?;
        let use_overlay = pod_dir.join("overlay-prepared").exists();
        let apps = manifest
            .apps
            .iter()
            .map(|ra| load_app(&pod_dir, &data_dir, ra))
            .collect::<Result<Vec<_>>>()?;
        Ok(PodContext {
            pod_dir,
            data_dir,
            manifest,
            stage1_root,
            stage1_lower,
            use_overlay,
            apps,
            args,
        })
    }

    /// The pod's hostname: `--hostname`, else `rkt-<uuid>`.
    pub fn hostname(&self) -> String {
        match &self.args.hostname {
            Some(h) => h.clone(),
            None => format!("rkt-{}", self.args.uuid),
        }
    }
}

/// [`STAGE1_LOWER_ENV`], which must be an absolute path when set.
fn stage1_lower_from_env() -> Result<Option<PathBuf>> {
    let Some(v) = std::env::var_os(STAGE1_LOWER_ENV).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(v);
    if !path.is_absolute() {
        return Err(ContextError::Usage(format!(
            "{STAGE1_LOWER_ENV}={} must be an absolute path",
            path.display()
        )));
    }
    Ok(Some(path))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ContextError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A tree id becomes part of mount options: refuse anything but a plain name.
fn check_tree_id(id: &str, path: &Path) -> Result<()> {
    if id.is_empty() || id.starts_with('.') || id.contains(['/', ',', ':', '\0']) {
        return Err(ContextError::Invalid {
            path: path.to_path_buf(),
            problem: format!("{id:?} is not a tree store id"),
        });
    }
    Ok(())
}

fn load_app(pod_dir: &Path, data_dir: &Path, ra: &aci::manifest::RuntimeApp) -> Result<AppContext> {
    let name = ra.name.as_str();
    let info = pod_dir.join("appsinfo").join(name);
    let image_path = info.join("manifest");
    let image = ImageManifest::from_slice(&read(&image_path)?).map_err(|source| {
        ContextError::Manifest {
            path: image_path.clone(),
            source,
        }
    })?;
    let id_path = info.join("treeStoreID");
    let tree_id = String::from_utf8_lossy(&read(&id_path)?).trim().to_string();
    check_tree_id(&tree_id, &id_path)?;
    // OCI images: `treeStoreIDs` lists the image's tree, then its layer trees, top first.
    let ids_path = info.join("treeStoreIDs");
    let mut lower_layers = Vec::new();
    if ids_path.exists() {
        let text = String::from_utf8_lossy(&read(&ids_path)?).into_owned();
        for id in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .skip(1)
        {
            check_tree_id(id, &ids_path)?;
            lower_layers.push(data_dir.join("cas/tree").join(id).join("rootfs"));
        }
    }
    let app = match (&ra.app, image.app()) {
        (Some(app), _) => app.clone(),
        (None, Some(app)) => app.clone(),
        (None, None) => {
            return Err(ContextError::Invalid {
                path: pod_dir.join("pod"),
                problem: format!("app {name} has no app section and neither has its image"),
            });
        }
    };
    let root_in_stage1 = PathBuf::from("/opt/stage2").join(name).join("rootfs");
    Ok(AppContext {
        name: ra.name.clone(),
        image,
        app,
        lower: data_dir.join("cas/tree").join(&tree_id).join("rootfs"),
        lower_layers,
        upper: pod_dir
            .join("overlay")
            .join(&tree_id)
            .join("upper")
            .join(name),
        work: pod_dir
            .join("overlay")
            .join(&tree_id)
            .join("work")
            .join(name),
        tree_id,
        root_on_host: pod_dir
            .join("stage1/rootfs/opt/stage2")
            .join(name)
            .join("rootfs"),
        root_in_stage1,
        read_only_rootfs: ra.read_only_root_fs,
        mounts: ra.mounts.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_rkt_run_flags() {
        let a = RunArgs::parse(&args(&[
            "--debug",
            "--net=none",
            "--hostname",
            "h1",
            "--dns=1.1.1.1",
            "--dns=8.8.8.8",
            "--hosts-entry=10.0.0.1=db",
            "--interactive=false",
            "--ipc=private",
            "0c9a7d3e-1111-2222-3333-444455556666",
        ]))
        .unwrap();
        assert!(a.debug);
        assert!(!a.interactive);
        assert_eq!(a.net, "none");
        assert_eq!(a.hostname.as_deref(), Some("h1"));
        assert_eq!(a.dns, ["1.1.1.1", "8.8.8.8"]);
        assert_eq!(a.hosts_entries, ["10.0.0.1=db"]);
        assert_eq!(a.ipc, IpcMode::Private);
        assert_eq!(a.uuid, "0c9a7d3e-1111-2222-3333-444455556666");
    }

    #[test]
    fn refuses_unknown_flags_and_missing_uuid() {
        assert!(RunArgs::parse(&args(&["--bogus", "u"])).is_err());
        assert!(RunArgs::parse(&args(&["--net=host"])).is_err());
        assert!(RunArgs::parse(&args(&["a", "b"])).is_err());
        assert!(RunArgs::parse(&args(&["--ipc=weird", "u"])).is_err());
    }

    #[test]
    fn default_net_is_default() {
        assert_eq!(RunArgs::parse(&args(&["u"])).unwrap().net, "default");
    }
}
