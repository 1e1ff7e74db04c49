//! What stage0 reads back from a pod directory: the manifest, times, pids, exit codes,
//! networks, and the JSON form `rkt list/status --format=json` print.
//!
//! Files written by stage1 and read here (all relative to the pod directory, read through the
//! pod's directory fd so a concurrent rename does not matter):
//! `pid` or `ppid` (decimal), `net-info.json`, `<stage1 rootfs>/rkt/status/<app>` (decimal exit
//! code; `<app>-created`/`<app>-started` for mutable pods), where the stage1 rootfs is
//! `stage1/rootfs`, or `overlay/<stage1TreeStoreID>/upper` when `overlay-prepared` exists.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aci::manifest::{PodManifest, Uuid};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, openat, statat};
use serde::{Deserialize, Serialize};

use super::json::PodJson;
use super::view::PodView;
use super::{Pod, PodError, PodState, Pods, Result, io_err};
use crate::fsutil;

impl Pod {
    /// Open a file below the pod directory without following a symlink at its last component.
    fn open_in(&self, rel: &str) -> io::Result<File> {
        let fd = openat(
            &self.fd,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// The content of `rel`, or None when it does not exist.
    fn read_in(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let mut f = match self.open_in(rel) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", self.path().join(rel))(e)),
        };
        // Through `Take`: `File::read_to_end` would first stat and seek the file for a size
        // hint, two syscalls per file that `rkt list` pays for every pod.
        let mut buf = Vec::with_capacity(4096);
        io::Read::take(&mut f, u64::MAX)
            .read_to_end(&mut buf)
            .map_err(io_err("read", self.path().join(rel)))?;
        Ok(Some(buf))
    }

    fn read_int_in(&self, rel: &str) -> Result<Option<i64>> {
        match self.read_in(rel)? {
            None => Ok(None),
            Some(b) => parse_leading_int(&b)
                .map(Some)
                .ok_or_else(|| PodError::BadNumber {
                    path: self.path().join(rel),
                    content: String::from_utf8_lossy(&b).into_owned(),
                }),
        }
    }

    /// The mtime of `rel`, None when it does not exist. One `fstatat` (no open): a symlink
    /// is refused as opening it with `O_NOFOLLOW` would be.
    pub(super) fn mtime_in(&self, rel: &str) -> Result<Option<SystemTime>> {
        match statat(&self.fd, rel, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                Err(io_err("open", self.path().join(rel))(
                    rustix::io::Errno::LOOP.into(),
                ))
            }
            Ok(st) => Ok(Some(system_time(st.st_mtime, st.st_mtime_nsec as i64))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err("stat", self.path().join(rel))(e.into())),
        }
    }

    /// The pod manifest (file `pod`).
    pub fn manifest(&self) -> Result<PodManifest> {
        let path = self.path().join("pod");
        let bytes = self.read_in("pod")?.ok_or_else(|| PodError::Io {
            action: "read the pod manifest",
            path: path.clone(),
            source: io::ErrorKind::NotFound.into(),
        })?;
        PodManifest::from_slice(&bytes).map_err(|source| PodError::Manifest {
            uuid: self.uuid,
            path,
            source: Box::new(source),
        })
    }

    /// The manifest, or None when the `pod` file does not exist (e.g. garbage from a prepare
    /// that failed early).
    pub fn manifest_if_present(&self) -> Result<Option<PodManifest>> {
        match self.manifest() {
            Ok(m) => Ok(Some(m)),
            Err(PodError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Write the pod manifest atomically (0640).
    pub fn write_manifest(&self, manifest: &PodManifest) -> Result<()> {
        let path = self.path().join("pod");
        let bytes = manifest.to_vec().map_err(|source| PodError::Manifest {
            uuid: self.uuid,
            path: path.clone(),
            source: Box::new(source),
        })?;
        fsutil::write_atomic(&path, &bytes, 0o640).map_err(io_err("write", path))
    }

    /// Create the empty `pod-created` file whose mtime is the pod's creation time.
    pub fn mark_created(&self) -> Result<()> {
        let path = self.path().join("pod-created");
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&path)
            .map(drop)
            .map_err(io_err("create", path))
    }

    /// When the pod was created (mtime of `pod-created`, else of `pod` as rkt < 1.20 did);
    /// None before it is prepared.
    pub fn created(&self) -> Result<Option<SystemTime>> {
        let s = self.state();
        if !(s == PodState::Prepared || s == PodState::Running || s.is_after_run()) {
            return Ok(None);
        }
        match self.mtime_in("pod-created")? {
            Some(t) => Ok(Some(t)),
            None => self.mtime_in("pod"),
        }
    }

    /// When stage1 started the pod (mtime of `pid`, else `ppid`); None if it never got there.
    pub fn started(&self) -> Result<Option<SystemTime>> {
        let s = self.state();
        if !(s == PodState::Running || s.is_after_run()) {
            return Ok(None);
        }
        match self.mtime_in("pid")? {
            Some(t) => Ok(Some(t)),
            None => self.mtime_in("ppid"),
        }
    }

    /// When gc marked the pod (ctime of its directory in a garbage folder), else None.
    pub fn gc_marked(&self) -> Result<Option<SystemTime>> {
        if !matches!(
            self.dir,
            super::PodDir::ExitedGarbage | super::PodDir::Garbage
        ) {
            return Ok(None);
        }
        let md = self.fd.metadata().map_err(io_err("stat", self.path()))?;
        Ok(Some(system_time(md.ctime(), md.ctime_nsec())))
    }

    /// The pid stage1 published: `pid`, else `ppid` (rkt's `Pid`, used by `status`). No wait.
    pub fn pid_file(&self) -> Result<Option<i32>> {
        for name in ["pid", "ppid"] {
            if let Some(n) = self.read_int_in(name)? {
                return Ok(Some(n as i32));
            }
        }
        Ok(None)
    }

    /// The pod's pid 1 for `enter`: `pid`, or the single child of `ppid`. Waits (polling every
    /// 100 ms) up to `timeout` for stage1 to publish it, failing early if the pod stops running.
    pub fn pid(&mut self, timeout: Duration) -> Result<i32> {
        let start = Instant::now();
        loop {
            if let Some(pid) = self.read_int_in("pid")? {
                return Ok(pid as i32);
            }
            if let Some(ppid) = self.read_int_in("ppid")? {
                let ppid = ppid as i32;
                match child_pids(ppid).as_slice() {
                    [one] => return Ok(*one),
                    [] => {}
                    _ => {
                        return Err(PodError::TooManyChildren {
                            uuid: self.uuid,
                            ppid,
                        });
                    }
                }
            }
            if start.elapsed() >= timeout {
                return Err(PodError::PidTimeout {
                    uuid: self.uuid,
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
            self.refresh()?;
            if self.state() != PodState::Running {
                return Err(PodError::NotRunning {
                    uuid: self.uuid,
                    state: self.state(),
                });
            }
        }
    }

    /// The stage1 rootfs relative to the pod directory (the overlay upper dir when the pod
    /// uses overlay: it survives the unmount of the stage1 overlay after exit).
    /// rkt-rs's stage1 rootfs is always a real directory (`stage1/rootfs/rkt` exists once
    /// stage1 ran); rkt's upper dir is only used for pods laid out by rkt itself.
    pub fn stage1_rootfs(&self) -> Result<String> {
        if self.mtime_in("overlay-prepared")?.is_none()
            || self.mtime_in("stage1/rootfs/rkt")?.is_some()
        {
            return Ok("stage1/rootfs".to_string());
        }
        let raw = self.read_in("stage1TreeStoreID")?.unwrap_or_default();
        let id = String::from_utf8_lossy(&raw).trim().to_string();
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(PodError::BadTreeId {
                uuid: self.uuid,
                path: self.path().join("stage1TreeStoreID"),
                id,
            });
        }
        Ok(format!("overlay/{id}/upper"))
    }

    /// The exit code stage1 recorded for `app`, None while it has none.
    pub fn app_exit_code(&self, app: &str) -> Result<Option<i32>> {
        self.app_exit_code_in(&self.stage1_rootfs()?, app)
    }

    /// [`Pod::app_exit_code`] with the stage1 rootfs already looked up.
    fn app_exit_code_in(&self, rootfs: &str, app: &str) -> Result<Option<i32>> {
        if app.is_empty() || app.contains('/') || app.starts_with('.') {
            return Ok(None);
        }
        let rel = format!("{rootfs}/rkt/status/{app}");
        Ok(self.read_int_in(&rel)?.map(|n| n as i32))
    }

    /// Whether stage1 recorded `app` as killed by the OOM killer (`rkt/status/<app>.oom`, the
    /// kill count; see stage1's `cgroup` module).
    pub fn app_oom_killed(&self, app: &str) -> Result<bool> {
        Ok(self
            .app_exit_code(&format!("{app}.oom"))?
            .is_some_and(|n| n > 0))
    }

    /// Exit codes of the manifest's apps that have one (what `rkt status` prints as `app-<name>=`).
    pub fn app_exit_codes(&self) -> Result<BTreeMap<String, i32>> {
        let mut out = BTreeMap::new();
        for app in &self.manifest()?.apps {
            if let Some(code) = self.app_exit_code(app.name.as_str())? {
                out.insert(app.name.as_str().to_string(), code);
            }
        }
        Ok(out)
    }

    /// The networks from `net-info.json` (empty when absent, e.g. `--net=host`).
    pub fn networks(&self) -> Result<Vec<NetInfo>> {
        match self.read_in("net-info.json")? {
            None => Ok(Vec::new()),
            Some(b) => serde_json::from_slice(&b).map_err(|source| PodError::Json {
                path: self.path().join("net-info.json"),
                source,
            }),
        }
    }

    /// The manifest fields `list`/`status` show ([`PodView`]), None while no manifest is
    /// expected or when the `pod` file is missing.
    pub(crate) fn manifest_view(&self) -> Result<Option<PodView>> {
        if !self.state().manifest_available() {
            return Ok(None);
        }
        let Some(bytes) = self.read_in("pod")? else {
            return Ok(None);
        };
        if let Some(view) = PodView::fast(&bytes) {
            return Ok(Some(view));
        }
        match PodManifest::from_slice(&bytes) {
            Ok(m) => Ok(Some(PodView::of(m))),
            Err(source) => Err(PodError::Manifest {
                uuid: self.uuid,
                path: self.path().join("pod"),
                source: Box::new(source),
            }),
        }
    }

    /// The exit codes recorded for the apps of `view` (the stage1 rootfs looked up once).
    fn exit_codes_of(&self, view: Option<&PodView>) -> Result<BTreeMap<String, i32>> {
        let mut out = BTreeMap::new();
        let Some(apps) = view.map(|v| &v.apps).filter(|a| !a.is_empty()) else {
            return Ok(out);
        };
        let rootfs = self.stage1_rootfs()?;
        for app in apps {
            if let Some(code) = self.app_exit_code_in(&rootfs, app.name.as_str())? {
                out.insert(app.name.as_str().to_string(), code);
            }
        }
        Ok(out)
    }

    /// The networks `list`/`status` show: those of running pods only (as rkt).
    fn running_networks(&self) -> Result<Vec<NetInfo>> {
        if self.state() == PodState::Running {
            self.networks()
        } else {
            Ok(Vec::new())
        }
    }

    /// Only the `--format=json` object of the pod, read now (what `rkt list` prints).
    pub fn json_now(&self) -> Result<PodJson> {
        let view = self.manifest_view()?;
        let networks = self.running_networks()?;
        let codes = self.exit_codes_of(view.as_ref())?;
        self.json(view.as_ref(), &networks, &self.times()?, &codes)
    }

    /// Everything `list`/`status` show about the pod, read now.
    pub fn info(&self) -> Result<PodInfo> {
        let state = self.state();
        let view = self.manifest_view()?;
        let networks = self.running_networks()?;
        let codes = self.exit_codes_of(view.as_ref())?;
        let times = self.times()?;
        Ok(PodInfo {
            uuid: self.uuid,
            state,
            path: self.path(),
            created: times.created,
            started: times.started,
            gc_marked: times.gc_marked,
            pid: self.pid_file()?,
            json: self.json(view.as_ref(), &networks, &times, &codes)?,
            app_names: view
                .iter()
                .flat_map(|v| &v.apps)
                .map(|a| a.name.as_str().to_string())
                .collect(),
            networks,
            exit_codes: if state == PodState::Running {
                BTreeMap::new()
            } else {
                codes
            },
        })
    }
}

impl Pods {
    /// Every pod in every folder with what `rkt list` shows, in UUID order. A pod that cannot
    /// be read gives an error entry (rkt lists the others and reports it).
    pub fn list(&self) -> Result<Vec<Result<PodInfo>>> {
        let mut out = Vec::new();
        self.for_each(&super::PodDir::ALL, |pod| {
            out.push(pod.info());
            Ok(())
        })?;
        Ok(out)
    }

    /// Images referenced by pods that may still use them (prepare, prepared, run,
    /// exited-garbage), each with the pods using it: what image gc must keep. Keyed by the
    /// store key (`sha512-` + 64 hex), whatever length the manifest spells the ID in.
    pub fn images_in_use(&self) -> Result<BTreeMap<String, Vec<Uuid>>> {
        use super::PodDir::*;
        let mut out: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        self.for_each(&[Prepare, Prepared, Run, ExitedGarbage], |pod| {
            // A pod still being prepared may not have its manifest yet.
            let Some(m) = pod.manifest_if_present()? else {
                return Ok(());
            };
            for app in &m.apps {
                let users = out.entry(app.image.id.key().to_string()).or_default();
                if !users.contains(&pod.uuid()) {
                    users.push(pod.uuid());
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// A snapshot of one pod for `list` and `status`.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub uuid: Uuid,
    pub state: PodState,
    pub path: PathBuf,
    /// The manifest's apps; empty while no manifest is expected (preparing, aborted prepare,
    /// deleting) or present.
    pub app_names: Vec<String>,
    pub created: Option<SystemTime>,
    pub started: Option<SystemTime>,
    pub gc_marked: Option<SystemTime>,
    /// From `net-info.json`, for running pods only (as rkt).
    pub networks: Vec<NetInfo>,
    /// `pid` or `ppid` as written by stage1.
    pub pid: Option<i32>,
    /// App exit codes, for pods that are no longer running.
    pub exit_codes: BTreeMap<String, i32>,
    /// The `--format=json` object.
    pub json: PodJson,
}

/// One network of a pod as stage1 records it in `net-info.json` (rkt's `netinfo.NetInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInfo {
    #[serde(rename = "netName", default)]
    pub net_name: String,
    #[serde(rename = "netConf", default)]
    pub net_conf: String,
    #[serde(rename = "pluginPath", default)]
    pub plugin_path: String,
    #[serde(rename = "ifName", default)]
    pub if_name: String,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub args: String,
    #[serde(default)]
    pub mask: Option<String>,
}

/// Read a `--uuid-file`: the UUID (or a prefix) as text, surrounding whitespace dropped.
pub fn read_uuid_file(path: &Path) -> Result<String> {
    let raw = fs::read(path).map_err(io_err("read the UUID file", path))?;
    let text = String::from_utf8_lossy(&raw).trim().to_string();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(PodError::BadUuidFile {
            path: path.to_path_buf(),
            content: text,
        });
    }
    Ok(text)
}

/// Write `--uuid-file-save`: the UUID, no newline, mode 0644 (as rkt).
pub fn write_uuid_file(path: &Path, uuid: &Uuid) -> Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .and_then(|mut f| io::Write::write_all(&mut f, uuid.to_string().as_bytes()))
        .map_err(io_err("write the UUID file", path))
}

/// Children of `pid` across all its threads (`/proc/<pid>/task/*/children`), falling back
/// to scanning `/proc/*/stat` on kernels without that file. Empty when none (yet).
fn child_pids(pid: i32) -> Vec<i32> {
    let tasks = format!("/proc/{pid}/task");
    let mut kids = Vec::new();
    let mut have_children_file = false;
    if let Ok(entries) = fs::read_dir(&tasks) {
        for e in entries.flatten() {
            if let Ok(s) = fs::read_to_string(e.path().join("children")) {
                have_children_file = true;
                kids.extend(s.split_whitespace().filter_map(|w| w.parse::<i32>().ok()));
            }
        }
    }
    if !have_children_file && Path::new(&tasks).exists() {
        kids = scan_proc_for_children(pid);
    }
    kids.sort_unstable();
    kids.dedup();
    kids
}

fn scan_proc_for_children(parent: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut kids = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: the fields start after the last ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let ppid = rest.split_whitespace().nth(1).and_then(|w| w.parse().ok());
        if ppid == Some(parent) {
            kids.push(pid);
        }
    }
    kids
}

/// Like Go's `Sscanf("%d")`: optional leading space and sign, then digits; rest ignored.
pub(crate) fn parse_leading_int(b: &[u8]) -> Option<i64> {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: i64 = digits[..end].parse().ok()?;
    Some(if neg { -n } else { n })
}

fn system_time(secs: i64, nanos: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos.clamp(0, 999_999_999) as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

pub(super) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

pub(super) fn unix_nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i64,
        Err(e) => -(e.duration().as_nanos() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_int_like_sscanf() {
        assert_eq!(parse_leading_int(b"42\n"), Some(42));
        assert_eq!(parse_leading_int(b"  -3 trailing"), Some(-3));
        assert_eq!(parse_leading_int(b"x1"), None);
        assert_eq!(parse_leading_int(b""), None);
    }
}
