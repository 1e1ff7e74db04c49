//! `rkt run`, `rkt prepare` and `rkt run-prepared` up to the exec of stage1 (rkt.md §1, §2).
//!
//! - [`args`]: the command line after the subcommand (pure).
//! - [`manifest`]: the reified pod manifest from images and flags (pure).
//! - [`stage1`]: which stage1 image to use, imported into the store when needed.
//! - [`prepare`]: a pod directory laid out as `stage1/src/lib.rs` documents, under the store's
//!   prepare lock, from the embryo to `prepare` (or `prepared`).
//! - [`handoff`]: chdir into the pod, pass the lock fd, exec the stage1 `run` entrypoint.

pub mod args;
pub mod handoff;
mod layout;
pub mod manifest;
pub mod prepare;
pub mod stage1;

use std::path::PathBuf;

pub use args::{AppFlags, AppRequest, Command, PodFlags, RunArgs, Stage1Flag};
pub use handoff::{StageOneFlags, exec_stage1, random_uid_range, stage1_argv};
pub use prepare::{PrepareConfig, Prepared, prepare, require_root};
pub use stage1::{Stage1Request, Stage1Source, select_stage1};

/// Why a pod could not be prepared or started; each names the image, app, file or pod.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run as unprivileged user: rkt {command} needs root")]
    Unprivileged { command: &'static str },
    #[error(transparent)]
    Args(#[from] args::ArgsError),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error("image {image}: {error}")]
    Store {
        image: String,
        #[source]
        error: crate::store::StoreError,
    },
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestGenError),
    #[error(transparent)]
    Pod(#[from] crate::pod::PodError),
    #[error(transparent)]
    Stage1Abi(#[from] crate::stage1_abi::Stage1AbiError),
    #[error("stage1: {0}")]
    Stage1(String),
    #[error("image {image}: {problem}")]
    Image { image: String, problem: String },
    #[error("pod manifest {path}: {problem}")]
    PodManifest { path: PathBuf, problem: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot exec the stage1 entrypoint {path}: {source}")]
    Exec {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.into();
    move |source| RunError::Io {
        action,
        path,
        source,
    }
}
