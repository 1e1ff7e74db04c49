//! The pod verbs of `rkt` on top of [`crate::pod`]: listing, status and waiting, running the
//! stage1 `stop`/`gc`/`enter` entrypoints, removal, and exporting an exited app as an ACI.
//!
//! Every stage1 entrypoint is started with its cwd = the pod directory, as the stage1 ABI
//! (`stage1` crate docs) requires; `stop` and `gc` are waited for, `enter` replaces this process.

mod export;
mod gc;
mod list;
mod merge;
mod remove;
mod stage1;
mod status;

use std::path::PathBuf;

use aci::manifest::Uuid;

use crate::pod::{PodError, PodState};
use crate::stage1_abi::{Entrypoint, Stage1AbiError};

pub use export::{ExportOptions, export};
pub use gc::{format_go_duration, gc};
pub use list::{ListApp, ListRow, list_rows};
pub use merge::{OverlayDirs, merge_entries};
pub use remove::{RemoveNote, remove};
pub use stage1::{Stage1Options, StopOutcome, enter_exec, stop};
pub use status::{PodStatus, Wait, parse_wait, status, wait_finished, wait_ready};

/// Why a pod verb failed; each variant names the pod (and the file) it is about.
#[derive(Debug, thiserror::Error)]
pub enum PodOpsError {
    #[error(transparent)]
    Pod(#[from] PodError),
    #[error("pod {uuid}: {source}")]
    Stage1 {
        uuid: Uuid,
        #[source]
        source: Box<Stage1AbiError>,
    },
    #[error("pod {uuid}: cannot start the stage1 {} entrypoint {path}: {source}", ep_name(*.entrypoint))]
    Spawn {
        uuid: Uuid,
        entrypoint: Entrypoint,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pod {uuid}: the stage1 {} entrypoint failed ({status})", ep_name(*.entrypoint))]
    EntrypointFailed {
        uuid: Uuid,
        entrypoint: Entrypoint,
        status: std::process::ExitStatus,
    },
    #[error("pod {uuid} is not running ({state})")]
    NotRunning { uuid: Uuid, state: PodState },
    #[error("pod {uuid} is currently {what}; {hint}")]
    Busy {
        uuid: Uuid,
        what: &'static str,
        hint: &'static str,
    },
    #[error("pod {uuid} is {state}; only exited pods can be exported")]
    NotExited { uuid: Uuid, state: PodState },
    #[error("pod {uuid} has no apps")]
    NoApps { uuid: Uuid },
    #[error(
        "pod {uuid} contains several apps ({}); choose one with --app=NAME",
        .apps.join(", ")
    )]
    AppRequired { uuid: Uuid, apps: Vec<String> },
    #[error("pod {uuid} has no app {app:?} (it has: {})", .apps.join(", "))]
    NoSuchApp {
        uuid: Uuid,
        app: String,
        apps: Vec<String>,
    },
    #[error("pod {uuid} did not exit within {waited:?}")]
    WaitTimeout {
        uuid: Uuid,
        waited: std::time::Duration,
    },
    #[error("pod {uuid} did not become ready within {waited:?}")]
    ReadyTimeout {
        uuid: Uuid,
        waited: std::time::Duration,
    },
    #[error("pod {uuid} is {state} and will never become ready")]
    NeverReady { uuid: Uuid, state: PodState },
    #[error("invalid wait value {input:?}: {reason} (use true, false or a duration like 10s, 1m)")]
    BadWait { input: String, reason: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the output file name must end in .aci")]
    NotAciName { path: PathBuf },
    #[error("{path} already exists; pass --overwrite to replace it")]
    Exists { path: PathBuf },
    #[error(
        "pod {uuid}: {path} is mounted; only pods using overlay or without mounts can be exported"
    )]
    Mounted { uuid: Uuid, path: PathBuf },
    #[error("pod {uuid}: {path}: {reason}")]
    BadPodFile {
        uuid: Uuid,
        path: PathBuf,
        reason: String,
    },
    #[error("cannot run as unprivileged user: `rkt {verb}` needs root")]
    Unprivileged { verb: &'static str },
    #[error("writing {path}: {source}")]
    Archive {
        path: PathBuf,
        #[source]
        source: aci::archive::ArchiveError,
    },
}

type Result<T, E = PodOpsError> = std::result::Result<T, E>;

fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> PodOpsError {
    let path = path.into();
    move |source| PodOpsError::Io {
        action,
        path,
        source,
    }
}

/// The entrypoint's name as the stage1 ABI spells it.
fn ep_name(ep: Entrypoint) -> &'static str {
    match ep {
        Entrypoint::Run => "run",
        Entrypoint::Enter => "enter",
        Entrypoint::Gc => "gc",
        Entrypoint::Stop => "stop",
    }
}

/// Whether this process runs with root's effective uid (what enter, gc and rm require).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Refuse to go on without root, as rkt's enter, gc and rm do.
pub fn require_root(verb: &'static str) -> Result<()> {
    if is_root() {
        Ok(())
    } else {
        Err(PodOpsError::Unprivileged { verb })
    }
}

/// The pods a verb works on: its UUID arguments, or the one UUID in `uuid_file`.
pub fn uuid_args(uuids: &[String], uuid_file: Option<&std::path::Path>) -> Result<Vec<String>> {
    match uuid_file {
        Some(f) => Ok(vec![crate::pod::read_uuid_file(f)?]),
        None => Ok(uuids.to_vec()),
    }
}

/// The app of `manifest` a verb works on: `wanted`, or the only one (several: an error listing
/// them, as rkt does).
pub(crate) fn pick_app<'m>(
    uuid: Uuid,
    manifest: &'m aci::manifest::PodManifest,
    wanted: Option<&str>,
) -> Result<&'m aci::manifest::RuntimeApp> {
    let names = || {
        manifest
            .apps
            .iter()
            .map(|a| a.name.as_str().to_string())
            .collect::<Vec<_>>()
    };
    match (wanted, manifest.apps.as_slice()) {
        (Some(name), apps) => apps
            .iter()
            .find(|a| a.name.as_str() == name)
            .ok_or_else(|| PodOpsError::NoSuchApp {
                uuid,
                app: name.to_string(),
                apps: names(),
            }),
        (None, []) => Err(PodOpsError::NoApps { uuid }),
        (None, [one]) => Ok(one),
        (None, _) => Err(PodOpsError::AppRequired {
            uuid,
            apps: names(),
        }),
    }
}
