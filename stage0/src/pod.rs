//! Pods on disk, exactly as rkt lays them out: `<data>/pods/<state dir>/<uuid>/`.
//!
//! The state of a pod is the folder it sits in plus whether its directory is `flock`ed:
//!
//! | folder | unlocked | locked (exclusive) |
//! |---|---|---|
//! | `embryo` | embryo | embryo |
//! | `prepare` | aborted prepare | preparing |
//! | `prepared` | prepared | prepared |
//! | `run` | exited | running |
//! | `exited-garbage` | exited garbage | exited deleting |
//! | `garbage` | garbage | deleting |
//!
//! Transitions are `rename(2)` between the folders, so they are atomic, and the lock follows
//! the directory because it is taken on an open fd of the directory itself. A lock belongs to
//! an open file description: two [`Pod`]s opened in one process conflict like two processes.
//!
//! Hand-off to stage1: `rkt run` holds the exclusive lock from the embryo through `run`, clears
//! close-on-exec on [`Pod::lock_fd`] ([`Pod::inherit_lock_fd`]), passes its number as
//! `RKT_LOCK_FD` and execs stage1, which keeps the fd open for the pod's life. The pod is
//! "running" exactly as long as some process holds that lock; once it is gone the pod has
//! exited and `gc` may mark it.

mod gc;
mod info;
mod json;
mod remove;
mod scan;
mod transition;
mod view;

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aci::manifest::{ManifestError, Uuid};
use rustix::fs::{FlockOperation, flock};

use crate::fsutil;

pub use gc::{GcEvent, GcOptions, GcReport, SweepError};
pub use info::{NetInfo, PodInfo};
pub use info::{read_uuid_file, write_uuid_file};
pub use json::{AppJson, AppState, MountJson, PodJson};
pub(crate) use remove::mounts_under;

/// Why a pod operation failed. Every variant names the pod (or the input) and the path.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no pod matches {input:?}; `rkt list` shows the pods")]
    NotFound { input: String },
    #[error(
        "{input:?} matches {} pods ({}); give more of the UUID",
        .candidates.len(),
        .candidates.join(", ")
    )]
    Ambiguous {
        input: String,
        candidates: Vec<String>,
    },
    #[error("pod {uuid} is gone (it was removed while in use)")]
    Gone { uuid: Uuid },
    #[error("pod {uuid} is {state}; {action} needs a pod that is {expected}")]
    WrongState {
        uuid: Uuid,
        state: PodState,
        action: &'static str,
        expected: &'static str,
    },
    #[error("pod {uuid} is locked by another process; cannot {action} it now")]
    Busy { uuid: Uuid, action: &'static str },
    #[error(
        "pod {uuid}: {path} is still mounted; not deleting through a mount point. Unmount it \
         (the stage1 gc normally does) and run gc again"
    )]
    Mounted { uuid: Uuid, path: PathBuf },
    #[error("pod {uuid}: invalid pod manifest {path}: {source}")]
    Manifest {
        uuid: Uuid,
        path: PathBuf,
        #[source]
        source: Box<ManifestError>,
    },
    #[error("{path}: expected a number, found {content:?}")]
    BadNumber { path: PathBuf, content: String },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("pod {uuid} published no pid within {waited:?}; is its stage1 stuck?")]
    PidTimeout {
        uuid: Uuid,
        waited: std::time::Duration,
    },
    #[error("pod {uuid} is not running anymore ({state})")]
    NotRunning { uuid: Uuid, state: PodState },
    #[error("pod {uuid}: pid {ppid} from `ppid` has several children, cannot tell the pod's pid 1")]
    TooManyChildren { uuid: Uuid, ppid: i32 },
    #[error("{path}: {content:?} is not a pod UUID")]
    BadUuidFile { path: PathBuf, content: String },
    #[error("cannot make a pod UUID: {0}")]
    Uuid(#[source] Box<ManifestError>),
    #[error("pod {uuid}: {path}: unsafe stage1 tree ID {id:?}")]
    BadTreeId {
        uuid: Uuid,
        path: PathBuf,
        id: String,
    },
    #[error("pod {uuid}: gc of the pod's resources failed, pod kept: {source}")]
    Sweep {
        uuid: Uuid,
        #[source]
        source: SweepError,
    },
}

type Result<T, E = PodError> = std::result::Result<T, E>;

fn io_err(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> PodError {
    let path = path.into();
    move |source| PodError::Io {
        action,
        path,
        source,
    }
}

/// The six folders under `<data>/pods/`, in lifecycle order (the order lookups probe them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PodDir {
    Embryo,
    Prepare,
    Prepared,
    Run,
    ExitedGarbage,
    Garbage,
}

impl PodDir {
    pub const ALL: [PodDir; 6] = [
        PodDir::Embryo,
        PodDir::Prepare,
        PodDir::Prepared,
        PodDir::Run,
        PodDir::ExitedGarbage,
        PodDir::Garbage,
    ];

    /// The folder name rkt uses.
    pub fn name(self) -> &'static str {
        match self {
            PodDir::Embryo => "embryo",
            PodDir::Prepare => "prepare",
            PodDir::Prepared => "prepared",
            PodDir::Run => "run",
            PodDir::ExitedGarbage => "exited-garbage",
            PodDir::Garbage => "garbage",
        }
    }
}

/// rkt's refined pod states (folder + lock), displayed as rkt prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodState {
    Embryo,
    Preparing,
    AbortedPrepare,
    Prepared,
    Running,
    Deleting,
    ExitedDeleting,
    Exited,
    ExitedGarbage,
    Garbage,
}

impl PodState {
    pub fn as_str(self) -> &'static str {
        match self {
            PodState::Embryo => "embryo",
            PodState::Preparing => "preparing",
            PodState::AbortedPrepare => "aborted prepare",
            PodState::Prepared => "prepared",
            PodState::Running => "running",
            PodState::Deleting => "deleting",
            PodState::ExitedDeleting => "exited deleting",
            PodState::Exited => "exited",
            PodState::ExitedGarbage => "exited garbage",
            PodState::Garbage => "garbage",
        }
    }

    /// rkt's `IsAfterRun`: the states whose start time and exit codes are meaningful.
    pub fn is_after_run(self) -> bool {
        matches!(
            self,
            PodState::ExitedDeleting
                | PodState::Deleting
                | PodState::Exited
                | PodState::ExitedGarbage
                | PodState::Garbage
        )
    }

    /// rkt's `PodManifestAvailable` (plus embryos, which never have one): states in which
    /// the `pod` file is expected to exist.
    pub fn manifest_available(self) -> bool {
        !matches!(
            self,
            PodState::Embryo | PodState::Preparing | PodState::AbortedPrepare | PodState::Deleting
        )
    }
}

impl std::fmt::Display for PodState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pods of one data directory.
#[derive(Debug, Clone)]
pub struct Pods {
    data_dir: PathBuf,
    root: PathBuf,
}

impl Pods {
    /// Use `<data_dir>/pods`, creating the six state folders (0750) if missing.
    pub fn new(data_dir: &Path) -> Result<Pods> {
        let root = data_dir.join("pods");
        // The folders are created in `ALL`'s order: when the last exists, so do the others,
        // and one stat replaces six mkdirs on every command.
        let last = root.join(PodDir::ALL[PodDir::ALL.len() - 1].name());
        if !fs::symlink_metadata(&last).is_ok_and(|m| m.is_dir()) {
            for d in PodDir::ALL {
                let p = root.join(d.name());
                fsutil::create_dir_all(&p, 0o750).map_err(io_err("create", &p))?;
            }
        }
        Ok(Pods {
            data_dir: data_dir.to_path_buf(),
            root,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<data>/pods/<folder>`.
    pub fn state_dir(&self, d: PodDir) -> PathBuf {
        self.root.join(d.name())
    }

    /// The UUIDs of the pods in `dirs`, sorted, each once (a pod may move during the scan).
    /// Entries that are not UUID-named directories are skipped.
    pub fn uuids(&self, dirs: &[PodDir]) -> Result<Vec<Uuid>> {
        Ok(self.scan(dirs)?.into_iter().map(|(u, _)| u).collect())
    }

    /// Like [`Pods::uuids`], with the folder each pod was seen in (the first one in lifecycle
    /// order when a move made it show up twice). Each folder is read once.
    fn scan(&self, dirs: &[PodDir]) -> Result<Vec<(Uuid, PodDir)>> {
        let mut out = Vec::new();
        for &d in dirs {
            let dir = self.state_dir(d);
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("list", dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io_err("list", &dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                // Only canonical names: `Uuid::from_str` would also take other spellings.
                match name.parse::<Uuid>() {
                    Ok(u) if u.to_string() == name => out.push((u, d)),
                    _ => continue,
                }
            }
        }
        out.sort();
        out.dedup_by_key(|(u, _)| *u);
        Ok(out)
    }

    /// A full UUID or an unambiguous prefix of one (case-insensitive, as printed with dashes)
    /// to the UUID of an existing pod in any state.
    pub fn resolve(&self, input: &str) -> Result<Uuid> {
        let wanted = input.trim().to_ascii_lowercase();
        if wanted.is_empty() {
            return Err(PodError::NotFound {
                input: input.to_string(),
            });
        }
        let all = self.uuids(&PodDir::ALL)?;
        if let Ok(full) = wanted.parse::<Uuid>()
            && all.contains(&full)
        {
            return Ok(full);
        }
        let matches: Vec<Uuid> = all
            .into_iter()
            .filter(|u| u.to_string().starts_with(&wanted))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(PodError::NotFound {
                input: input.to_string(),
            }),
            many => Err(PodError::Ambiguous {
                input: input.to_string(),
                candidates: many.iter().map(|u| u.to_string()).collect(),
            }),
        }
    }

    /// Open each pod currently in one of `dirs`, in UUID order, and hand it to `f`. Pods that
    /// vanish or move to a folder outside `dirs` meanwhile are skipped, as in rkt.
    pub fn for_each(&self, dirs: &[PodDir], mut f: impl FnMut(Pod) -> Result<()>) -> Result<()> {
        for (uuid, seen_in) in self.scan(dirs)? {
            let pod = match Pod::open_seen(self, uuid, seen_in) {
                Ok(p) => p,
                Err(PodError::Gone { .. }) => continue,
                Err(e) => return Err(e),
            };
            if dirs.contains(&pod.dir()) {
                f(pod)?;
            }
        }
        Ok(())
    }
}

/// Which lock this handle holds on the pod directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Shared,
    Exclusive,
}

/// One pod, through an open fd of its directory (the lock fd). The cached folder and lock
/// state are as of opening or the last [`Pod::refresh`]; transitions keep them current.
#[derive(Debug)]
pub struct Pod {
    root: PathBuf,
    uuid: Uuid,
    dir: PodDir,
    fd: File,
    held: Option<Held>,
    locked_elsewhere: bool,
}

fn open_dir(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags::DIR_NOFOLLOW)
        .open(path)
}

/// `O_DIRECTORY | O_NOFOLLOW` without a libc dependency (values are the same on every Linux
/// architecture rkt supports).
mod libc_flags {
    pub const DIR_NOFOLLOW: i32 =
        (rustix::fs::OFlags::DIRECTORY.bits() | rustix::fs::OFlags::NOFOLLOW.bits()) as i32;
}

impl Pod {
    /// A new pod: a fresh UUID directory in `embryo/`, locked exclusively by this handle.
    pub fn create_embryo(pods: &Pods) -> Result<Pod> {
        let uuid = Uuid::new_v4().map_err(|e| PodError::Uuid(Box::new(e)))?;
        let path = pods.state_dir(PodDir::Embryo).join(uuid.to_string());
        fs::DirBuilder::new()
            .mode(0o750)
            .create(&path)
            .map_err(io_err("create pod directory", &path))?;
        let mut pod = match open_dir(&path) {
            Ok(fd) => Pod {
                root: pods.root.clone(),
                uuid,
                dir: PodDir::Embryo,
                fd,
                held: None,
                locked_elsewhere: false,
            },
            Err(e) => {
                let _ = fs::remove_dir(&path);
                return Err(io_err("open pod directory", path)(e));
            }
        };
        if let Err(e) = pod.try_lock_exclusive() {
            let _ = fs::remove_dir(&path);
            return Err(e);
        }
        Ok(pod)
    }

    /// Open the pod named by a full UUID or an unambiguous prefix, in any state, unlocked.
    pub fn open(pods: &Pods, uuid_or_prefix: &str) -> Result<Pod> {
        let uuid = pods.resolve(uuid_or_prefix)?;
        Pod::open_uuid(pods, uuid).map_err(|e| match e {
            PodError::Gone { .. } => PodError::NotFound {
                input: uuid_or_prefix.to_string(),
            },
            e => e,
        })
    }

    /// Open the pod with this exact UUID, probing the folders in lifecycle order.
    pub fn open_uuid(pods: &Pods, uuid: Uuid) -> Result<Pod> {
        for d in PodDir::ALL {
            if let Some(pod) = Pod::open_in_dir(pods, uuid, d)? {
                return Ok(pod);
            }
        }
        Err(PodError::Gone { uuid })
    }

    /// Open a pod a directory scan saw in `seen_in`: one open where it most likely still is,
    /// the lifecycle probe only when it moved meanwhile.
    fn open_seen(pods: &Pods, uuid: Uuid, seen_in: PodDir) -> Result<Pod> {
        match Pod::open_in_dir(pods, uuid, seen_in)? {
            Some(pod) => Ok(pod),
            None => Pod::open_uuid(pods, uuid),
        }
    }

    /// The pod if its directory is in folder `d` (None when not there), lock state probed.
    fn open_in_dir(pods: &Pods, uuid: Uuid, d: PodDir) -> Result<Option<Pod>> {
        let path = pods.state_dir(d).join(uuid.to_string());
        match open_dir(&path) {
            Ok(fd) => {
                let mut pod = Pod {
                    root: pods.root.clone(),
                    uuid,
                    dir: d,
                    fd,
                    held: None,
                    locked_elsewhere: false,
                };
                pod.probe_lock()?;
                Ok(Some(pod))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("open pod directory", path)(e)),
        }
    }

    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// The folder the pod was in at the last look.
    pub fn dir(&self) -> PodDir {
        self.dir
    }

    /// `<data>/pods/<folder>/<uuid>` for the cached folder.
    pub fn path(&self) -> PathBuf {
        self.path_in(self.dir)
    }

    fn path_in(&self, d: PodDir) -> PathBuf {
        self.root.join(d.name()).join(self.uuid.to_string())
    }

    /// The refined state as of the last look.
    pub fn state(&self) -> PodState {
        let locked = self.held == Some(Held::Exclusive) || self.locked_elsewhere;
        match (self.dir, locked) {
            (PodDir::Embryo, _) => PodState::Embryo,
            (PodDir::Prepare, true) => PodState::Preparing,
            (PodDir::Prepare, false) => PodState::AbortedPrepare,
            (PodDir::Prepared, _) => PodState::Prepared,
            (PodDir::Run, true) => PodState::Running,
            (PodDir::Run, false) => PodState::Exited,
            (PodDir::ExitedGarbage, true) => PodState::ExitedDeleting,
            (PodDir::ExitedGarbage, false) => PodState::ExitedGarbage,
            (PodDir::Garbage, true) => PodState::Deleting,
            (PodDir::Garbage, false) => PodState::Garbage,
        }
    }

    /// Look again where the pod is and whether someone holds its lock.
    pub fn refresh(&mut self) -> Result<()> {
        let mut found = None;
        for d in PodDir::ALL {
            let path = self.path_in(d);
            match fs::symlink_metadata(&path) {
                Ok(_) => {
                    found = Some(d);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("look at pod directory", path)(e)),
            }
        }
        self.dir = found.ok_or(PodError::Gone { uuid: self.uuid })?;
        self.probe_lock()
    }

    /// Whether another open file description holds an exclusive lock (rkt's "locked").
    fn probe_lock(&mut self) -> Result<()> {
        self.locked_elsewhere = false;
        if self.held.is_some() || matches!(self.dir, PodDir::Embryo | PodDir::Prepared) {
            // Holding any lock ourselves means nobody else holds an exclusive one; and a
            // flock on our own fd would convert our lock instead of testing theirs.
            return Ok(());
        }
        match flock(&self.fd, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                flock(&self.fd, FlockOperation::Unlock)
                    .map_err(|e| io_err("unlock", self.path())(e.into()))?;
            }
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => self.locked_elsewhere = true,
            Err(e) => return Err(io_err("test the lock of", self.path())(e.into())),
        }
        Ok(())
    }

    fn flock(
        &mut self,
        op: FlockOperation,
        held: Option<Held>,
        action: &'static str,
    ) -> Result<()> {
        match flock(&self.fd, op) {
            Ok(()) => {
                self.held = held;
                self.locked_elsewhere = false;
                Ok(())
            }
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(PodError::Busy {
                uuid: self.uuid,
                action,
            }),
            Err(e) => Err(io_err("lock", self.path())(e.into())),
        }
    }

    /// Take the exclusive lock, waiting for other holders (a running pod holds it until it exits).
    pub fn lock_exclusive(&mut self) -> Result<()> {
        self.flock(FlockOperation::LockExclusive, Some(Held::Exclusive), "lock")
    }

    /// Take the exclusive lock or fail with [`PodError::Busy`].
    pub fn try_lock_exclusive(&mut self) -> Result<()> {
        self.flock(
            FlockOperation::NonBlockingLockExclusive,
            Some(Held::Exclusive),
            "lock",
        )
    }

    /// Take a shared lock (keeps gc from deleting the pod while reading) or fail with Busy.
    pub fn try_lock_shared(&mut self) -> Result<()> {
        self.flock(
            FlockOperation::NonBlockingLockShared,
            Some(Held::Shared),
            "read",
        )
    }

    /// Drop whatever lock this handle holds.
    pub fn unlock(&mut self) -> Result<()> {
        self.flock(FlockOperation::Unlock, None, "unlock")?;
        self.probe_lock()
    }

    /// Whether this handle holds the exclusive lock.
    pub fn holds_exclusive(&self) -> bool {
        self.held == Some(Held::Exclusive)
    }

    /// The directory fd the lock lives on (close-on-exec until [`Pod::inherit_lock_fd`]).
    pub fn lock_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Clear close-on-exec on the lock fd so stage1 inherits it; returns the number to pass as
    /// `RKT_LOCK_FD`.
    pub fn inherit_lock_fd(&self) -> Result<RawFd> {
        rustix::io::fcntl_setfd(&self.fd, rustix::io::FdFlags::empty())
            .map_err(|e| io_err("clear close-on-exec on the lock of", self.path())(e.into()))?;
        Ok(self.fd.as_raw_fd())
    }
}
