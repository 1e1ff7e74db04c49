//! `rkt metadata-service`: the HTTP listener (all addresses, so pods reach it through their
//! network's host side) and the registration socket, bound here or passed by socket
//! activation (`LISTEN_PID`/`LISTEN_FDS`: an AF_INET/AF_INET6 stream socket is the HTTP one,
//! an AF_UNIX one the registration one).

use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::hmac::Key;
use super::registry::Registry;
use super::{MetadataError, Result, io_err};

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub data_dir: PathBuf,
    pub port: u16,
    pub socket: PathBuf,
}

/// Sockets handed over by socket activation.
#[derive(Debug, Default)]
pub struct Activated {
    pub tcp: Option<TcpListener>,
    pub unix: Option<UnixListener>,
}

/// Takes the sockets systemd passed, if `LISTEN_PID` is this process.
pub fn activated() -> Result<Activated> {
    let mut out = Activated::default();
    let pid = std::env::var("LISTEN_PID").ok();
    if pid.as_deref() != Some(&std::process::id().to_string()) {
        return Ok(out);
    }
    let n: RawFd = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| MetadataError::Activation("LISTEN_FDS is not a number".into()))?;
    for fd in 3..3 + n {
        // SAFETY: sockaddr_storage is plain data; getsockname fills at most its size.
        let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let rc = unsafe { libc::getsockname(fd, (&raw mut addr).cast(), &mut len) };
        if rc != 0 {
            return Err(MetadataError::Activation(format!(
                "fd {fd} is not a socket"
            )));
        }
        // SAFETY: the fds from 3 on were passed to this process to own (sd_listen_fds).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        match i32::from(addr.ss_family) {
            libc::AF_INET | libc::AF_INET6 => {
                out.tcp = Some(unsafe { TcpListener::from_raw_fd(fd) })
            }
            libc::AF_UNIX => out.unix = Some(unsafe { UnixListener::from_raw_fd(fd) }),
            f => {
                return Err(MetadataError::Activation(format!(
                    "fd {fd} has address family {f}: want an inet and a unix stream socket"
                )));
            }
        }
    }
    // Not for the children this process might start.
    // SAFETY: single-threaded at this point (called before any thread is spawned).
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    Ok(out)
}

/// Binds the registration socket at `path` (0600), replacing a stale one; refuses when a
/// service already answers there.
pub fn bind_socket(path: &Path) -> Result<UnixListener> {
    if UnixStream::connect(path).is_ok() {
        return Err(MetadataError::Io {
            action: "bind",
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another metadata service is running there",
            ),
        });
    }
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err("create", dir))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove the stale socket", path)(e)),
    }
    let listener = UnixListener::bind(path).map_err(io_err("bind", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err("restrict", path))?;
    Ok(listener)
}

/// Runs the service until SIGTERM or SIGINT (then removes the registration socket it bound
/// and returns Ok) or a fatal error. `ready` is called once both sockets listen and running
/// pods are registered again.
pub fn serve(cfg: &ServiceConfig, ready: impl FnOnce(u16, usize)) -> Result<()> {
    // Before any thread exists, so that every thread inherits the mask and the signals wait
    // for this one's sigtimedwait instead of killing the process.
    let stop_signals = block_stop_signals()?;
    let act = activated()?;
    let mut registry = Registry::new(&cfg.data_dir)?;
    let again = registry.rescan()?;
    let key = Key::load_or_create(&cfg.data_dir.join("metadata-service"))?;
    let tcp = match act.tcp {
        Some(l) => l,
        None => TcpListener::bind(("0.0.0.0", cfg.port)).map_err(|e| MetadataError::Listen {
            port: cfg.port,
            message: e.to_string(),
        })?,
    };
    let port = tcp
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| MetadataError::Listen {
            port: cfg.port,
            message: e.to_string(),
        })?;
    // A socket passed by activation belongs to whoever made it (systemd): not ours to remove.
    let (unix, owned_socket) = match act.unix {
        Some(l) => (l, None),
        None => (bind_socket(&cfg.socket)?, Some(cfg.socket.clone())),
    };
    let server =
        tiny_http::Server::from_listener(tcp, None).map_err(|e| MetadataError::Listen {
            port,
            message: e.to_string(),
        })?;
    let registry = Arc::new(Mutex::new(registry));
    let server = Arc::new(server);
    {
        let registry = Arc::clone(&registry);
        let key = Arc::new(key);
        std::thread::spawn(move || super::http::serve_http(server, registry, key));
    }
    let registrations = std::thread::spawn(move || super::proto::serve_unix(unix, registry, port));
    ready(port, again);
    loop {
        if registrations.is_finished() {
            return Err(MetadataError::Listen {
                port,
                message: "the registration socket stopped accepting".into(),
            });
        }
        if let Some(sig) = wait_signal(&stop_signals) {
            tracing::info!("metadata service: signal {sig}, stopping");
            if let Some(path) = owned_socket {
                std::fs::remove_file(&path).map_err(io_err("remove", path))?;
            }
            return Ok(());
        }
    }
}

/// Blocks SIGTERM and SIGINT in this thread (and the threads it will start).
fn block_stop_signals() -> Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data that sigemptyset initialises; the calls only touch it and
    // this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(MetadataError::Activation(format!(
                "cannot block SIGTERM/SIGINT: {}",
                std::io::Error::from_raw_os_error(rc)
            )));
        }
        Ok(set)
    }
}

/// A signal of `set` that arrived within a second, if any.
fn wait_signal(set: &libc::sigset_t) -> Option<i32> {
    let timeout = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    // SAFETY: `set` is initialised; a null siginfo pointer is allowed.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
    (sig > 0).then_some(sig)
}
