//! Preparing a pod: resolve the images, choose the stage1, then, under the store's shared
//! prepare lock, create the embryo, move it to `prepare` and lay out its directory exactly as
//! the stage1 ABI (`stage1/src/lib.rs`) documents. A failure leaves the pod in `prepare`; once
//! its lock is gone it is an aborted prepare that `rkt gc` removes.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aci::manifest::{ImageManifest, PodManifest};
use aci::types::{AcName, ImageId};

use super::args::RunArgs;
use super::layout::{FileMode, replicate, upper_dirs};
use super::manifest::{AppInput, EnvLayers, parse_env_file, pod_manifest};
use super::stage1::{Stage1Request, select_stage1};
use super::{RunError, io_err};
use crate::fetch::{Fetcher, PullPolicy};
use crate::fsutil::LockMode;
use crate::pod::{Pod, Pods};
use crate::store::{ImageInfo, Store};

const DIR_MODE: u32 = 0o750;
const FILE_MODE: u32 = 0o640;

/// What [`prepare`] needs.
pub struct PrepareConfig<'a> {
    pub data_dir: PathBuf,
    /// Store, keystore and insecure options; the pull policy and signatures are set per image
    /// from the flags.
    pub fetcher: Fetcher,
    pub args: &'a RunArgs,
    pub stage1: Stage1Request<'a>,
}

/// A pod laid out in `prepare`, still locked exclusively by `pod`.
#[derive(Debug)]
pub struct Prepared {
    pub pod: Pod,
    pub manifest: PodManifest,
    pub stage1: ImageInfo,
}

impl Prepared {
    /// Make the pod's files durable (for a pod that outlives this process: `rkt prepare`).
    pub fn persist(&self) -> Result<(), RunError> {
        let dir = self.pod.path();
        let f = fs::File::open(&dir).map_err(io_err("open", &dir))?;
        rustix::fs::syncfs(&f).map_err(|e| io_err("sync", &dir)(e.into()))
    }
}

/// rkt's check: pods are made and run by root only.
pub fn require_root(command: &'static str) -> Result<(), RunError> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err(RunError::Unprivileged { command })
    }
}

/// An app of the pod with its image resolved in the store.
struct Resolved {
    name: AcName,
    info: ImageInfo,
}

/// Prepare a pod from `cfg` (see the module docs).
pub fn prepare(cfg: &PrepareConfig) -> Result<Prepared, RunError> {
    let store = &cfg.fetcher.store;
    let (manifest, apps) = match &cfg.args.pod.pod_manifest {
        Some(path) => from_pod_manifest(store, path)?,
        None => from_images(cfg)?,
    };
    if cfg.args.pod.interactive && manifest.apps.len() != 1 {
        return Err(RunError::Args(super::args::ArgsError::Conflict {
            first: "--interactive".into(),
            second: format!("a pod of {} apps", manifest.apps.len()),
            why: "an interactive pod runs exactly one app".into(),
        }));
    }
    let stage1 = select_stage1(&cfg.fetcher, &cfg.stage1)?;
    let overlay = !cfg.args.pod.no_overlay && overlay_supported();
    let _prepare_lock = store
        .prepare_lock(LockMode::Shared)
        .map_err(|error| RunError::Store {
            image: "(prepare lock)".into(),
            error,
        })?;
    let pods = Pods::new(&cfg.data_dir)?;
    let mut pod = Pod::create_embryo(&pods)?;
    pod.to_prepare()?;
    lay_out(store, &pod, &stage1, &apps, overlay)?;
    let bytes = manifest.to_vec().map_err(|e| RunError::PodManifest {
        path: pod.path().join("pod"),
        problem: e.to_string(),
    })?;
    write_file(&pod.path().join("pod"), &bytes)?;
    if overlay {
        write_file(&pod.path().join("overlay-prepared"), b"")?;
    }
    pod.mark_created()?;
    for key in apps.iter().map(|a| &a.info.key).chain([&stage1.key]) {
        if let Err(e) = store.touch(key) {
            tracing::warn!(image = %key, error = %e, "cannot record the image's use");
        }
    }
    Ok(Prepared {
        pod,
        manifest,
        stage1,
    })
}

fn from_images(cfg: &PrepareConfig) -> Result<(PodManifest, Vec<Resolved>), RunError> {
    let pod = &cfg.args.pod;
    let policy: PullPolicy = match &pod.pull_policy {
        Some(p) => p.parse().map_err(|e: crate::fetch::UnknownPullPolicy| {
            RunError::Stage1(format!("--pull-policy: {e}"))
        })?,
        None => PullPolicy::New,
    };
    let mut infos = Vec::new();
    let mut manifests = Vec::new();
    for app in &cfg.args.apps {
        let mut fetcher = cfg.fetcher.clone();
        fetcher.pull_policy = policy;
        fetcher.signature = app.flags.signature.clone();
        let info = fetcher.fetch(&app.image)?;
        let manifest = image_manifest(&cfg.fetcher.store, &info)?;
        infos.push(info);
        manifests.push(manifest);
    }
    let inputs: Vec<AppInput> = cfg
        .args
        .apps
        .iter()
        .zip(&manifests)
        .zip(&infos)
        .map(|((a, m), i)| {
            Ok(AppInput {
                flags: &a.flags,
                image: m,
                id: ImageId::new(i.id.as_str()).map_err(|e| RunError::Image {
                    image: i.name.clone(),
                    problem: e.to_string(),
                })?,
            })
        })
        .collect::<Result<_, RunError>>()?;
    let env = env_layers(pod)?;
    let uid_gid = (
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw(),
    );
    let manifest = pod_manifest(&inputs, pod, &env, uid_gid)?;
    let apps = manifest
        .apps
        .iter()
        .zip(infos)
        .map(|(ra, info)| Resolved {
            name: ra.name.clone(),
            info,
        })
        .collect();
    Ok((manifest, apps))
}

/// The image's manifest, with rkt's check that it names an OS and an architecture.
fn image_manifest(store: &Store, info: &ImageInfo) -> Result<ImageManifest, RunError> {
    let m = store.manifest(&info.key).map_err(|error| RunError::Store {
        image: info.name.clone(),
        error,
    })?;
    for label in ["os", "arch"] {
        if m.labels.get(label).is_none() {
            return Err(RunError::Image {
                image: info.name.clone(),
                problem: format!("the image manifest has no {label} label; it cannot run"),
            });
        }
    }
    Ok(m)
}

fn env_layers(pod: &super::args::PodFlags) -> Result<EnvLayers, RunError> {
    let mut layers = EnvLayers {
        set_env: pod.set_env.clone(),
        ..EnvLayers::default()
    };
    if pod.inherit_env {
        layers.inherited = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
    }
    for file in &pod.set_env_files {
        let text = fs::read_to_string(file).map_err(io_err("read the --set-env-file", file))?;
        layers.files.extend(parse_env_file(&text));
    }
    Ok(layers)
}

/// `--pod-manifest FILE`: used as given, once every image it names is in the store.
fn from_pod_manifest(store: &Store, path: &Path) -> Result<(PodManifest, Vec<Resolved>), RunError> {
    let bad = |problem: String| RunError::PodManifest {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = fs::read(path).map_err(io_err("read the pod manifest", path))?;
    let manifest = PodManifest::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if manifest.apps.is_empty() {
        return Err(bad("it has no apps".into()));
    }
    let mut apps = Vec::new();
    for ra in &manifest.apps {
        let info = store
            .find_by_id(ra.image.id.as_str())
            .map_err(|e| bad(format!("app {}: {e}", ra.name)))?;
        let m = image_manifest(store, &info)?;
        if ra.app.is_none() && m.app.is_none() {
            return Err(bad(format!(
                "app {}: neither the pod manifest nor image {} has an app section",
                ra.name, info.name
            )));
        }
        apps.push(Resolved {
            name: ra.name.clone(),
            info,
        });
    }
    Ok((manifest, apps))
}

/// Whether the kernel has overlayfs (else apps get copied roots, as with `--no-overlay`).
fn overlay_supported() -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        })
        .unwrap_or(false)
}

/// Whether the pod's stage1 root is an overlay mounted by stage1 (our stage1 image, and a
/// store path that overlayfs options can carry) rather than a link farm built here.
fn overlay_rootfs(manifest: &[u8], lower: &Path) -> bool {
    let ours = ImageManifest::from_slice(manifest)
        .is_ok_and(|m| crate::stage1_abi::wants_overlay_rootfs(&m));
    ours && lower
        .to_str()
        .is_some_and(|s| !s.contains([',', ':', '\\']))
}

/// A new pod file. Not synced one by one: a pod that does not survive a crash in preparation
/// is an aborted one anyway; `rkt prepare` syncs the whole pod once ([`Prepared::persist`]).
/// The image's manifest (`bytes`) at `dst`: a hard link to the store's copy, which costs no
/// inode on the host's disk, else (another file system) a written copy.
fn manifest_copy(
    store: &Store,
    info: &ImageInfo,
    dst: &Path,
    bytes: &[u8],
) -> Result<(), RunError> {
    match store.link_manifest(&info.key, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(io_err("link", dst)(e)),
        Err(_) => write_file(dst, bytes),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, bytes))
        .map_err(io_err("write", path))
}

fn mkdir(path: &Path, mode: u32) -> Result<(), RunError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(io_err("create", path))
}

fn render(store: &Store, info: &ImageInfo) -> Result<crate::store::tree::Tree, RunError> {
    store
        .render_tree(&info.key)
        .map_err(|error| RunError::Store {
            image: info.name.clone(),
            error,
        })
}

fn manifest_bytes(store: &Store, info: &ImageInfo) -> Result<Vec<u8>, RunError> {
    store
        .manifest_bytes(&info.key)
        .map_err(|error| RunError::Store {
            image: info.name.clone(),
            error,
        })
}

/// An OCI image's layer trees (rendered again if gc removed them), top first; None for an ACI.
fn oci_layers(
    store: &Store,
    info: &ImageInfo,
    overlay: bool,
) -> Result<Option<Vec<String>>, RunError> {
    let problem = |problem: String| RunError::Image {
        image: info.name.clone(),
        problem,
    };
    let manifest = store.manifest(&info.key).map_err(|error| RunError::Store {
        image: info.name.clone(),
        error,
    })?;
    let stack = crate::oci::layer_stack(store, &manifest, crate::fetch::STORED_IMAGE_LIMIT)
        .map_err(|e| problem(e.to_string()))?;
    if stack.is_some() && !overlay {
        return Err(problem(
            "OCI and Docker images run on overlayfs layers; --no-overlay (or a kernel without \
             overlayfs) is not supported for them yet"
                .into(),
        ));
    }
    Ok(stack)
}

/// Everything but the `pod` manifest and the markers: stage1, app infos, app roots.
fn lay_out(
    store: &Store,
    pod: &Pod,
    stage1: &ImageInfo,
    apps: &[Resolved],
    overlay: bool,
) -> Result<(), RunError> {
    let dir = pod.path();
    let s1_tree = render(store, stage1)?;
    write_file(&dir.join("stage1TreeStoreID"), s1_tree.id.as_bytes())?;
    mkdir(&dir.join("stage1"), DIR_MODE)?;
    let s1_rootfs = dir.join("stage1/rootfs");
    let s1_manifest = manifest_bytes(store, stage1)?;
    manifest_copy(store, stage1, &dir.join("stage1/manifest"), &s1_manifest)?;
    let lower = s1_tree.rootfs();
    if overlay && overlay_rootfs(&s1_manifest, &lower) {
        upper_dirs(&lower, &s1_rootfs).map_err(io_err("create", &s1_rootfs))?;
    } else {
        replicate(&lower, &s1_rootfs, FileMode::Link)
            .map_err(io_err("link the stage1 tree into", &s1_rootfs))?;
    }
    for app in apps {
        let tree = render(store, &app.info)?;
        let manifest = manifest_bytes(store, &app.info)?;
        let info_dir = dir.join("appsinfo").join(app.name.as_str());
        mkdir(&info_dir, DIR_MODE)?;
        manifest_copy(store, &app.info, &info_dir.join("manifest"), &manifest)?;
        write_file(&info_dir.join("treeStoreID"), tree.id.as_bytes())?;
        if let Some(layers) = oci_layers(store, &app.info, overlay)? {
            let ids: Vec<&str> = std::iter::once(tree.id.as_str())
                .chain(layers.iter().map(String::as_str))
                .collect();
            write_file(&info_dir.join("treeStoreIDs"), ids.join("\n").as_bytes())?;
        }
        let app_dir = s1_rootfs.join("opt/stage2").join(app.name.as_str());
        mkdir(&app_dir, DIR_MODE)?;
        // The same bytes as appsinfo's copy, never rewritten: a link costs no inode on disk.
        let copy = app_dir.join("manifest");
        fs::hard_link(info_dir.join("manifest"), &copy).map_err(io_err("link", &copy))?;
        let rootfs = app_dir.join("rootfs");
        if overlay {
            mkdir(&rootfs, 0o755)?;
            for part in ["upper", "work"] {
                let p = dir
                    .join("overlay")
                    .join(&tree.id)
                    .join(part)
                    .join(app.name.as_str());
                mkdir(&p, 0o755)?;
            }
        } else {
            replicate(&tree.rootfs(), &rootfs, FileMode::Copy)
                .map_err(io_err("copy the app's tree into", &rootfs))?;
        }
    }
    mkdir(&dir.join("sharedVolumes"), 0o700)?;
    Ok(())
}
