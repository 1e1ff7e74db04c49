//! The appc metadata service (appc.md §10) and its registration protocol.
//!
//! - [`registry`]: the registered pods, keyed by their secret token; each pod's served data
//!   (pod manifest, annotations, image manifests and IDs) is read once from its pod directory.
//! - [`http`]: the metadata API as a pure function of (registry, request) → response, plus the
//!   blocking HTTP loop over it.
//! - [`hmac`]: `/pod/hmac/{sign,verify}` under a key only the service holds.
//! - [`proto`]: registration over a unix socket (root only): one JSON line each way.
//! - [`service`]: `rkt metadata-service`: binds (or takes from socket activation) both
//!   sockets and serves them.
//!
//! Lifecycle: `rkt run --mds-register` writes a fresh token to `<pod>/mds-token` (0600),
//! registers the pod's UUID over the socket (the service reads the token and the manifests
//! from the pod directory under its own data dir), then passes the token and the service's
//! port to stage1, which sets `AC_METADATA_URL=http://<host ip>:<port>/<token>` for every app.
//! `rkt gc` deregisters a pod before deleting it. A restarted service registers again every
//! pod in `run` that has a token file, so a restart loses nothing.

pub mod hmac;
pub mod http;
pub mod proto;
pub mod registry;
pub mod service;

use std::path::PathBuf;

pub use proto::{deregister, deregister_pod, register};

pub use registry::Registry;
pub use service::{ServiceConfig, serve};

/// rkt's metadata service port.
pub const DEFAULT_PORT: u16 = 18112;
/// rkt's registration socket.
pub const DEFAULT_SOCKET: &str = "/run/rkt/metadata-svc.sock";
/// Overrides [`DEFAULT_SOCKET`] for the service, `rkt run` and `rkt gc` alike (tests use it so
/// they never touch the host's service).
pub const SOCKET_ENV: &str = "RKT_METADATA_SOCK";
/// `<pod>/mds-token`: the pod's secret, written by `rkt run --mds-register`.
pub const TOKEN_FILE: &str = "mds-token";
/// Tells stage1 the service's port (stage1 ABI extension; rkt hard-codes 18112).
pub const PORT_ENV: &str = "RKT_MDS_PORT";

/// The registration socket to use: `$RKT_METADATA_SOCK`, else rkt's.
pub fn socket_path() -> PathBuf {
    match std::env::var_os(SOCKET_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the metadata service is not running (cannot connect to {socket}: {source}): start it \
         with `rkt metadata-service`, or run without --mds-register"
    )]
    NotRunning {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata service at {socket}: {message}")]
    Refused { socket: PathBuf, message: String },
    #[error("metadata service at {socket}: bad reply {reply:?}")]
    BadReply { socket: PathBuf, reply: String },
    #[error("pod {uuid}: {problem}")]
    Pod { uuid: String, problem: String },
    #[error(transparent)]
    PodDir(#[from] crate::pod::PodError),
    #[error("cannot listen on port {port}: {message}")]
    Listen { port: u16, message: String },
    #[error("socket activation: {0}")]
    Activation(String),
}

pub type Result<T> = std::result::Result<T, MetadataError>;

pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> MetadataError {
    let path = path.into();
    move |source| MetadataError::Io {
        action,
        path,
        source,
    }
}

/// A new secret token: 256 random bits, hex (appc wants ≥128 bits and not the UUID).
pub fn new_token() -> Result<String> {
    let mut buf = [0u8; 32];
    let path = "/dev/urandom";
    let mut f = std::fs::File::open(path).map_err(io_err("open", path))?;
    std::io::Read::read_exact(&mut f, &mut buf).map_err(io_err("read", path))?;
    Ok(hex::encode(buf))
}

/// Writes `<pod_dir>/mds-token` (0600) with a new token and returns it.
pub fn write_token(pod_dir: &std::path::Path) -> Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let token = new_token()?;
    let path = pod_dir.join(TOKEN_FILE);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err("create", &path))?;
    f.write_all(token.as_bytes())
        .map_err(io_err("write", &path))?;
    Ok(token)
}

/// `--mds-register`: gives the pod in `pod_dir` a token and registers it with the service at
/// [`socket_path`]; returns the token and the service's port for stage1.
pub fn register_pod(pod_dir: &std::path::Path, uuid: &str) -> Result<(String, u16)> {
    let token = write_token(pod_dir)?;
    let port = register(&socket_path(), uuid)?;
    Ok((token, port))
}
