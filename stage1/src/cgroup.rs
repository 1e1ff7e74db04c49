//! The pod's cgroups: one per pod, one per app below it, on every cgroup v1 hierarchy we use
//! and on the unified (v2) hierarchy.
//!
//! **Where:** in each hierarchy, under the cgroup of the process that runs stage1's `init`
//! (read from `/proc/self/cgroup`), as `machine-rkt\x2d<uuid with \x2d>.scope`, the name rkt
//! used without machined. Under a systemd unit (`systemd-run rkt run ...`, or a `.service`)
//! the caller's cgroup is the unit's, so the pod stays inside the unit and inherits its limits
//! (rkt's `--keep-unit`); from a shell it lands under the session's scope (or the root). We do
//! not talk to systemd or machined.
//!
//! **Layout** (per hierarchy): `<pod>/` holds no process; `<pod>/stage1.scope/` holds
//! the pod's PID 1 (a name no app can have: app names are ACNames, without
//! dots); `<pod>/<app>/` holds the app (its stage2, the app, its children and its handlers).
//! v2 forbids processes in a cgroup that hands controllers to its children, hence the leaf.
//!
//! **Hierarchies:** v1 `cpu`, `cpuacct`, `memory`, `pids`, `devices` and `name=systemd` (where
//! mounted); `cpuset` is skipped (a new cpuset needs its cpus and mems copied) and so are the
//! others (nothing to limit). On v2 the pod enables on its children whichever of `cpu`,
//! `memory`, `pids` the caller's cgroup delegates (its `cgroup.subtree_control`); we never
//! change the caller's own cgroup. On a hybrid host the v2 tree usually has no such controller:
//! it then only groups the processes.
//!
//! **Limits:** see [`limits`]; the apps' limits on their cgroups, the pids limit
//! ([`DEFAULT_PIDS_LIMIT`], or `RKT_STAGE1_PIDS_LIMIT` in stage1's environment) on the pod's.
//! Devices: apps may open only the standard nodes ([`DEVICE_ALLOW`]), through the v1 `devices`
//! controller and, on v2, an eBPF device program on each app's cgroup ([`devices`]).
//!
//! **Records** in the pod dir: `cgroups` (every pod cgroup directory, one per line, written
//! before the first mkdir so `gc` finds even a half-made set; plus `supervisor <dir>` for a
//! [`delegate`] leaf stage1 made) and `subcgroup` (rkt's file: the pod cgroup relative to its
//! hierarchy's root, from `name=systemd`, else v2).
//!
//! **Joining** without migrations where the kernel allows: a migration (a write to
//! `cgroup.procs`) waits for an RCU grace period (5-10 ms), being born into a cgroup does not.
//! stage1's host-side process stays where it was (the caller's cgroup, or the [`delegate`]
//! leaf): nothing relies on it being in the pod (`gc`, `stop`, `enter` and machined go by the
//! record and the pod's PID 1). The pod's PID 1 is cloned straight into the v2 `stage1.scope`
//! (`clone3(CLONE_INTO_CGROUP)`, see [`crate::ns::clone_fork`]); the host side then writes its
//! pid into the v1 `stage1.scope`s, back to back (only the first write waits for a grace
//! period) and while the child sets the pod up. For each app, `init` opens its v2 cgroup
//! directory and the `cgroup.procs` files beforehand (close-on-exec); the supervisor clones the
//! app's process into the v2 cgroup and that child writes `0` (= itself) to the v1 files (and to
//! the v2 one when the clone3 fell back to a fork) before exec'ing stage2: one async-signal-safe
//! `write(2)` each, which works after the pivot, where `/sys/fs` is hidden. The memory
//! controller's OOM counter file is opened too, so PID 1 can tell an OOM kill.

pub mod delegate;
pub mod devices;
mod discover;
pub mod limits;
mod record;

pub use devices::DeviceJob;
use devices::DevicePlan;
pub use discover::{discover, host_hierarchies, readonly_devices_hierarchy};
pub use record::{join_app, remove_recorded, remove_tree};

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use limits::{AppLimits, Setting};

/// The pods' default `pids.max`.
pub const DEFAULT_PIDS_LIMIT: u64 = 4096;
/// Overrides [`DEFAULT_PIDS_LIMIT`] (a positive number, or `max`).
pub const PIDS_LIMIT_ENV: &str = "RKT_STAGE1_PIDS_LIMIT";
/// The leaf holding stage1's own processes.
pub const STAGE1_LEAF: &str = "stage1.scope";
/// The pod-dir file listing the pod's cgroup directories.
pub const RECORD_FILE: &str = "cgroups";
/// v1 controllers (and named hierarchies) the pod gets a cgroup in.
const V1_USED: [&str; 6] = [
    "cpu",
    "cpuacct",
    "memory",
    "pids",
    "devices",
    "name=systemd",
];
/// v2 controllers the pod hands to its apps when the caller delegates them.
const V2_WANTED: [&str; 3] = ["cpu", "memory", "pids"];
/// v1 `devices.allow` lines for an app (after `a` is denied): mknod of character devices
/// (opening still needs an entry), null, zero, full, random, urandom, tty, console, ptmx,
/// pts, tun.
pub const DEVICE_ALLOW: [&str; 11] = [
    "c *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create the cgroup {path} (is the cgroup filesystem mounted read-write?)")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {value:?} to {path}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove the cgroup {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a cgroup of pod {uuid}; refusing to remove it")]
    Foreign { path: PathBuf, uuid: String },
    #[error("cannot attach the device access program to the cgroup {path}")]
    Devices {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "app {app}: its {controller} limit cannot be enforced: the {controller} controller is \
         not delegated to the cgroup {} (run the pod under a unit with Delegate=yes, e.g. \
         `systemd-run -p Delegate=yes rkt run ...`, or enable {controller} in its parent's \
         cgroup.subtree_control)",
        cgroup.display()
    )]
    NotDelegated {
        app: String,
        controller: &'static str,
        cgroup: PathBuf,
    },
    #[error("cannot move pid {pid} into the cgroup {path}")]
    Place {
        pid: i32,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{PIDS_LIMIT_ENV}={0:?}: not a positive number or \"max\"")]
    PidsLimit(String),
}

type Result<T> = std::result::Result<T, CgroupError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A mounted hierarchy and the caller's cgroup in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub version: Version,
    /// v1: the controllers bound to it (`name=systemd` for a named one); v2: empty.
    pub controllers: Vec<String>,
    /// The caller's cgroup, as a host directory.
    pub own: PathBuf,
    /// The caller's cgroup relative to the hierarchy's root (`/` = the root).
    pub relative: PathBuf,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// systemd's unit-name escaping: `/` → `-`; bytes other than ASCII alphanumerics, `:`, `_`
/// and a non-leading `.` → `\xNN`.
pub fn escape_unit(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i > 0 => out.push('.'),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The pod cgroup's name: `machine-rkt\x2d<uuid>.scope`, dashes of the UUID escaped too.
pub fn pod_scope_name(uuid: &str) -> String {
    format!("machine-{}.scope", escape_unit(&format!("rkt-{uuid}")))
}

fn mkdir(path: &Path) -> Result<()> {
    match fs::create_dir(path) {
        Err(e) if !(e.kind() == io::ErrorKind::AlreadyExists && path.is_dir()) => {
            Err(CgroupError::Create {
                path: path.to_path_buf(),
                source: e,
            })
        }
        _ => Ok(()),
    }
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

fn apply(dir: &Path, settings: &[Setting]) -> Result<()> {
    for s in settings {
        let path = dir.join(s.file);
        if s.optional && !path.exists() {
            continue;
        }
        write(&path, &s.value)?;
    }
    Ok(())
}

/// What one app needs from its cgroups after the fork.
#[derive(Debug, Default)]
pub struct AppCgroup {
    pub app: String,
    /// Its v2 cgroup directory (`O_PATH`), for `clone3(CLONE_INTO_CGROUP)`.
    pub v2_dir: Option<OwnedFd>,
    /// The `cgroup.procs` of its v2 cgroup, open for writing: the fallback when the clone3
    /// into `v2_dir` was refused.
    pub v2_procs: Option<OwnedFd>,
    /// The `cgroup.procs` of each of its v1 cgroups, open for writing.
    pub procs: Vec<OwnedFd>,
    /// v1 `memory.oom_control` or v2 `memory.events`, open for reading.
    pub oom: Option<OwnedFd>,
}

/// The pod's cgroups, made.
#[derive(Debug)]
pub struct PodCgroups {
    /// The pod's cgroup directory in each hierarchy used.
    pub pod_dirs: Vec<(Hierarchy, PathBuf)>,
    /// v2: the controllers the pod hands to its apps.
    pub v2_enabled: Vec<String>,
    /// The [`delegate`] leaf stage1's own process moved into, if it had to.
    pub supervisor: Option<PathBuf>,
    /// The apps' v2 cgroups that still need the device program ([`PodCgroups::restrict_devices`]).
    devices: Option<DevicePlan>,
}

/// Creates the pod's cgroups (pod, stage1 leaf, one per app) in `hierarchies` with the limits.
/// `record` (the pod dir's `cgroups` file) is written first.
pub fn create(
    hierarchies: &[Hierarchy],
    uuid: &str,
    apps: &[(String, AppLimits)],
    pids_limit: Option<u64>,
    record: &Path,
) -> Result<PodCgroups> {
    let scope = pod_scope_name(uuid);
    let pod_dirs: Vec<(Hierarchy, PathBuf)> = hierarchies
        .iter()
        .map(|h| (h.clone(), h.own.join(&scope)))
        .collect();
    let v2 = hierarchies.iter().find(|h| h.version == Version::V2);
    let supervisor = match v2 {
        Some(h) => delegate::plan(h, std::process::id())?,
        None => None,
    };
    // Recorded only when it is ours to remove: made by this stage1.
    let own_leaf = supervisor.as_deref().filter(|l| !l.exists());
    let dirs: Vec<&Path> = pod_dirs.iter().map(|(_, d)| d.as_path()).collect();
    record::write(record, &dirs, own_leaf)?;
    if let (Some(h), Some(leaf)) = (v2, &supervisor) {
        delegate::enter(&h.own, leaf)?;
        crate::debug!(
            "stage1 moved into {} to delegate controllers",
            leaf.display()
        );
    }
    let v2_enabled = match v2 {
        Some(h) => v2_to_enable(&h.own)?,
        None => Vec::new(),
    };
    delegate::check_enforceable(hierarchies, &v2_enabled, apps)?;
    // Inside a container manager (nspawn), the v1 `devices` controller is mounted read-only
    // and its policy already bounds every process of the container, the pod's included.
    let v1_devices =
        hierarchies.iter().any(|h| h.has("devices")) || discover::host_readonly_devices();
    let mut devices = None;
    for (h, pod) in &pod_dirs {
        mkdir(pod)?;
        match h.version {
            Version::V1 => create_v1(h, pod, apps, pids_limit)?,
            Version::V2 => {
                create_v2(pod, &v2_enabled, apps, pids_limit)?;
                devices = devices::plan(pod, apps, v1_devices);
            }
        }
    }
    Ok(PodCgroups {
        pod_dirs,
        v2_enabled,
        supervisor,
        devices,
    })
}

/// The wanted v2 controllers the caller's cgroup delegates to its children (its
/// `cgroup.subtree_control`).
fn v2_to_enable(parent: &Path) -> Result<Vec<String>> {
    let delegated = read_controllers(&parent.join("cgroup.subtree_control"))?;
    Ok(V2_WANTED
        .iter()
        .filter(|c| delegated.iter().any(|d| d == *c))
        .map(|c| c.to_string())
        .collect())
}

fn create_v1(
    h: &Hierarchy,
    pod: &Path,
    apps: &[(String, AppLimits)],
    pids_limit: Option<u64>,
) -> Result<()> {
    if let (true, Some(limit)) = (h.has("pids"), pids_limit) {
        apply(pod, &[limits::pids_limit(limit)])?;
    }
    mkdir(&pod.join(STAGE1_LEAF))?;
    for (app, lim) in apps {
        let dir = pod.join(app);
        mkdir(&dir)?;
        let mine: Vec<Setting> = lim
            .v1()
            .into_iter()
            .filter(|s| h.has(s.controller))
            .collect();
        apply(&dir, &mine)?;
        if h.has("devices") {
            write(&dir.join("devices.deny"), "a")?;
            for rule in DEVICE_ALLOW {
                write(&dir.join("devices.allow"), rule)?;
            }
        }
    }
    Ok(())
}

/// The v2 part, enabling `enable` for the apps. Only the pod's own `cgroup.subtree_control`
/// is written here (it holds no process yet); the caller's only by [`delegate::enter`].
fn create_v2(
    pod: &Path,
    enable: &[String],
    apps: &[(String, AppLimits)],
    pids_limit: Option<u64>,
) -> Result<()> {
    if let (true, Some(limit)) = (enable.iter().any(|d| d == "pids"), pids_limit) {
        apply(pod, &[limits::pids_limit(limit)])?;
    }
    if !enable.is_empty() {
        let value: Vec<String> = enable.iter().map(|c| format!("+{c}")).collect();
        write(&pod.join("cgroup.subtree_control"), &value.join(" "))?;
    }
    mkdir(&pod.join(STAGE1_LEAF))?;
    for (app, lim) in apps {
        let dir = pod.join(app);
        mkdir(&dir)?;
        let mine: Vec<Setting> = lim
            .v2()
            .into_iter()
            .filter(|s| enable.iter().any(|c| c == s.controller))
            .collect();
        apply(&dir, &mine)?;
    }
    Ok(())
}

/// The controller names of a `cgroup.controllers`/`cgroup.subtree_control` text (a leading
/// `+` tolerated); a missing file means none.
fn read_controllers(path: &Path) -> Result<Vec<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text
            .split_whitespace()
            .map(|c| c.trim_start_matches('+').to_string())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl PodCgroups {
    /// Starts attaching the device program to the apps' v2 cgroups ([`devices::start`]):
    /// call it after the clone and [`DeviceJob::wait`] before letting any app start.
    pub fn restrict_devices(&self) -> DeviceJob {
        devices::start(self.devices.clone())
    }

    /// The v2 stage1 leaf as a directory fd, for cloning the pod's PID 1 into it; `None`
    /// without a v2 hierarchy or when it cannot be opened (then PID 1 is migrated instead).
    pub fn stage1_dir(&self) -> Option<OwnedFd> {
        let (_, pod) = self
            .pod_dirs
            .iter()
            .find(|(h, _)| h.version == Version::V2)?;
        open_dir(&pod.join(STAGE1_LEAF))
            .map_err(|e| crate::debug!("{e}: PID 1 will be migrated"))
            .ok()
    }

    /// Moves `pid` (the pod's PID 1) into the stage1 leaf of every hierarchy, but the v2 one
    /// when it was born there (`placed_v2`). The writes go back to back: only the first waits
    /// for the kernel's grace period.
    pub fn place_stage1(&self, pid: i32, placed_v2: bool) -> Result<()> {
        for (h, pod) in &self.pod_dirs {
            if placed_v2 && h.version == Version::V2 {
                continue;
            }
            let path = pod.join(STAGE1_LEAF).join("cgroup.procs");
            fs::write(&path, pid.to_string()).map_err(|source| CgroupError::Place {
                pid,
                path,
                source,
            })?;
        }
        Ok(())
    }

    /// rkt's `subcgroup`: the pod cgroup relative to its hierarchy's root, from the
    /// `name=systemd` hierarchy, else v2, else the first.
    pub fn subcgroup(&self) -> Option<String> {
        let pick = self
            .pod_dirs
            .iter()
            .find(|(h, _)| h.has("name=systemd"))
            .or_else(|| self.pod_dirs.iter().find(|(h, _)| h.version == Version::V2))
            .or_else(|| self.pod_dirs.first())?;
        let (h, dir) = pick;
        let name = dir.file_name()?.to_string_lossy().into_owned();
        let rel = h.relative.join(name);
        Some(rel.to_string_lossy().trim_start_matches('/').to_string())
    }

    /// Opens what `app`'s forked child and PID 1 need (see the module docs).
    pub fn open_app(&self, app: &str) -> Result<AppCgroup> {
        let mut out = AppCgroup {
            app: app.to_string(),
            ..AppCgroup::default()
        };
        for (h, pod) in &self.pod_dirs {
            let dir = pod.join(app);
            let procs = open(&dir.join("cgroup.procs"), true)?;
            if h.version == Version::V2 {
                out.v2_procs = Some(procs);
                out.v2_dir = open_dir(&dir).ok();
            } else {
                out.procs.push(procs);
            }
            let oom = match h.version {
                Version::V1 if h.has("memory") => Some("memory.oom_control"),
                Version::V2 if self.v2_enabled.iter().any(|c| c == "memory") => {
                    Some("memory.events")
                }
                _ => None,
            };
            if let Some(file) = oom {
                out.oom = Some(open(&dir.join(file), false)?);
            }
        }
        Ok(out)
    }
}

/// A cgroup directory as an `O_PATH` fd (all `CLONE_INTO_CGROUP` needs).
fn open_dir(path: &Path) -> Result<OwnedFd> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })
}

impl AppCgroup {
    /// The raw fds the forked child needs: the v2 directory to be cloned into, and the
    /// `cgroup.procs` files to write when it was (v1 only) or was not (v1 and v2).
    pub fn raw_fds(&self) -> (Option<RawFd>, Vec<RawFd>, Option<RawFd>) {
        (
            self.v2_dir.as_ref().map(|f| f.as_raw_fd()),
            self.procs.iter().map(|f| f.as_raw_fd()).collect(),
            self.v2_procs.as_ref().map(|f| f.as_raw_fd()),
        )
    }
}

fn open(path: &Path, for_write: bool) -> Result<OwnedFd> {
    OpenOptions::new()
        .read(!for_write)
        .write(for_write)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The cgroup limits of an app's isolators. Invalid isolators were refused earlier (the app
/// specs are built first), so here they only count as none.
pub fn app_limits(app: &aci::manifest::App) -> AppLimits {
    let pairs = app.isolators.iter().map(|i| (i.name.as_str(), &i.value));
    aci::isolator::check_list(pairs)
        .map(|c| AppLimits::from_isolators(&c.isolators))
        .unwrap_or_default()
}

/// The pids limit from stage1's environment, else the default; `None` = unlimited (`max`).
pub fn pids_limit_from_env() -> Result<Option<u64>> {
    match std::env::var(PIDS_LIMIT_ENV) {
        Err(_) => Ok(Some(DEFAULT_PIDS_LIMIT)),
        Ok(v) if v == "max" => Ok(None),
        Ok(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(CgroupError::PidsLimit(v)),
        },
    }
}

/// The file, in the pod's `/rkt/status/`, that marks `app` as killed by the OOM killer (it
/// holds the kill count and is written before the app's exit code). The dot keeps it apart
/// from every app's status file: app names cannot contain one.
pub fn oom_status_name(app: &str) -> String {
    format!("{app}.oom")
}

/// The OOM kills counted in an app's memory cgroup (0 when unknown).
pub fn read_oom_kills(fd: &OwnedFd) -> u64 {
    use std::os::unix::fs::FileExt;
    let file = match fd.try_clone() {
        Ok(fd) => File::from(fd),
        Err(_) => return 0,
    };
    let mut buf = [0u8; 512];
    match file.read_at(&mut buf, 0) {
        Ok(n) => limits::oom_kills(&String::from_utf8_lossy(&buf[..n])),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests;
