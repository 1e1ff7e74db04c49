//! sd_notify relay: readiness of a pod run as a `Type=notify` systemd unit.
//!
//! systemd accepts notifications only from the unit's main process (`NotifyAccess=main`), and
//! that is stage1's host-side parent (stage0 execs stage1). So nothing in the pod talks to
//! `$NOTIFY_SOCKET` itself: the parent binds datagram sockets under `<pod>/notify/` before the
//! fork and a thread of the parent relays what arrives there.
//! - `notify/stage1`: the pod's PID 1 sends `READY=1` on it once every app has started.
//! - `notify/app-<name>/notify`: one per app whose image carries the annotation
//!   [`SUPPORTS_NOTIFY`]`=true`; PID 1 binds the directory into the app's root at
//!   [`APP_SOCKET_DIR`] and the app gets `NOTIFY_SOCKET=`[`APP_SOCKET`].
//!
//! With notify apps, the unit's `READY=1` waits for every one of them (stage1's own is dropped);
//! without, stage1's is relayed. `STATUS=` and the other state lines pass through; `MAINPID=`
//! and fd-store lines do not (their pids and fds mean nothing outside the pod).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};

use aci::manifest::ImageManifest;

use crate::context::PodContext;

/// The image annotation that says the app speaks sd_notify.
pub const SUPPORTS_NOTIFY: &str = "appc.io/executor/supports-systemd-notify";
/// Where a notify app finds its socket, inside its own root.
pub const APP_SOCKET_DIR: &str = "/run/rkt-notify";
pub const APP_SOCKET: &str = "/run/rkt-notify/notify";
/// The relay's directory in the pod dir.
const DIR: &str = "notify";
const STAGE1_SOCKET: &str = "stage1";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("sd_notify relay: cannot {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> NotifyError + use<> {
    let path = path.to_path_buf();
    move |source| NotifyError::Io { what, path, source }
}

/// `$NOTIFY_SOCKET` of the unit running the pod, if any.
pub fn target() -> Option<OsString> {
    std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty())
}

/// Whether the app's image says it speaks sd_notify.
pub fn app_supports(image: &ImageManifest) -> bool {
    image.annotations.get(SUPPORTS_NOTIFY) == Some("true")
}

/// The apps that get a NOTIFY_SOCKET: only when the pod itself has one to report to.
pub fn notify_apps(ctx: &PodContext) -> Vec<String> {
    if target().is_none() {
        return Vec::new();
    }
    ctx.apps
        .iter()
        .filter(|a| app_supports(&a.image))
        .map(|a| a.name.as_str().to_string())
        .collect()
}

fn app_dir(pod_dir: &Path, app: &str) -> PathBuf {
    pod_dir.join(DIR).join(format!("app-{app}"))
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Stage1,
    App(String),
}

/// The host side of the relay: its sockets and where to send.
pub struct Relay {
    target: OsString,
    sockets: Vec<(Source, UnixDatagram)>,
    gate: Gate,
}

impl Relay {
    /// Binds the relay's sockets (host side, before the fork); `None` outside a notify unit.
    pub fn prepare(ctx: &PodContext) -> Result<Option<Relay>, NotifyError> {
        let Some(target) = target() else {
            return Ok(None);
        };
        let dir = ctx.pod_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let stage1 = dir.join(STAGE1_SOCKET);
        let _ = std::fs::remove_file(&stage1);
        let mut sockets = vec![(
            Source::Stage1,
            UnixDatagram::bind(&stage1).map_err(io_err("bind", &stage1))?,
        )];
        let apps = notify_apps(ctx);
        for app in &apps {
            let adir = app_dir(&ctx.pod_dir, app);
            std::fs::create_dir_all(&adir).map_err(io_err("create", &adir))?;
            let path = adir.join("notify");
            let _ = std::fs::remove_file(&path);
            let sock = UnixDatagram::bind(&path).map_err(io_err("bind", &path))?;
            // Apps may run as any user: sending needs write access to the socket.
            std::fs::set_permissions(&adir, std::fs::Permissions::from_mode(0o755))
                .and_then(|_| {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
                })
                .map_err(io_err("open up", &path))?;
            sockets.push((Source::App(app.clone()), sock));
        }
        Ok(Some(Relay {
            target,
            sockets,
            gate: Gate::new(apps),
        }))
    }

    /// Relays in a thread of the calling process (the unit's main process) until it exits.
    pub fn start(self) -> io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("sd-notify".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        let out = match UnixDatagram::unbound() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("stage1: sd_notify relay: cannot create a socket: {e}");
                return;
            }
        };
        let addr = match target_addr(&self.target) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("stage1: NOTIFY_SOCKET {:?}: {e}", self.target);
                return;
            }
        };
        let mut buf = vec![0u8; 4096];
        loop {
            let mut fds: Vec<libc::pollfd> = self
                .sockets
                .iter()
                .map(|(_, s)| libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: poll reads and writes only the array we own.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            for (k, pfd) in fds.iter().enumerate() {
                if pfd.revents & libc::POLLIN == 0 {
                    continue;
                }
                let (source, sock) = &self.sockets[k];
                let Ok(len) = sock.recv(&mut buf) else {
                    continue;
                };
                let msg = String::from_utf8_lossy(&buf[..len]);
                if let Some(out_msg) = self.gate.filter(source, &msg) {
                    crate::debug!("sd_notify: relaying {out_msg:?}");
                    if let Err(e) = out.send_to_addr(out_msg.as_bytes(), &addr) {
                        eprintln!("stage1: sd_notify relay: cannot send to NOTIFY_SOCKET: {e}");
                    }
                }
            }
        }
    }
}

/// `$NOTIFY_SOCKET` as an address: a path, or `@name` for the abstract namespace.
fn target_addr(target: &OsString) -> io::Result<SocketAddr> {
    let bytes = target.as_encoded_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)
        }
        None => SocketAddr::from_pathname(Path::new(target)),
    }
}

/// Decides what of each message reaches the unit.
#[derive(Debug)]
struct Gate {
    waiting_for: BTreeSet<String>,
    ready_sent: bool,
}

/// Lines passed through as they are.
const PASSED: [&str; 6] = [
    "STATUS=",
    "ERRNO=",
    "RELOADING=",
    "STOPPING=",
    "WATCHDOG=",
    "EXTEND_TIMEOUT_USEC=",
];

impl Gate {
    fn new(apps: Vec<String>) -> Gate {
        Gate {
            waiting_for: apps.into_iter().collect(),
            ready_sent: false,
        }
    }

    fn filter(&mut self, source: &Source, msg: &str) -> Option<String> {
        let mut out = Vec::new();
        for line in msg.lines() {
            if line == "READY=1" {
                let ready = match source {
                    // stage1's readiness counts only when no app reports its own.
                    Source::Stage1 => self.waiting_for.is_empty(),
                    Source::App(app) => {
                        self.waiting_for.remove(app);
                        self.waiting_for.is_empty()
                    }
                };
                if ready && !self.ready_sent {
                    self.ready_sent = true;
                    out.push(line);
                }
            } else if PASSED.iter().any(|p| line.starts_with(p)) {
                out.push(line);
            }
        }
        (!out.is_empty()).then(|| out.join("\n"))
    }
}

/// Inside the pod, before the pivot: binds each notify app's socket directory into its root.
pub fn bind_into_apps(ctx: &PodContext) -> Result<(), NotifyError> {
    for app in ctx.apps.iter().filter(|a| app_supports(&a.image)) {
        let src = app_dir(&ctx.pod_dir, app.name.as_str());
        if !src.is_dir() {
            continue; // No relay: the pod does not run under a notify unit.
        }
        let dst = app
            .root_on_host
            .join(APP_SOCKET_DIR.trim_start_matches('/'));
        std::fs::create_dir_all(&dst).map_err(io_err("create", &dst))?;
        bind_mount(&src, &dst).map_err(io_err("bind the app's socket onto", &dst))?;
    }
    Ok(())
}

fn bind_mount(src: &Path, dst: &Path) -> io::Result<()> {
    rustix::mount::mount_bind(src, dst).map_err(io::Error::from)
}

/// Inside the pod, before the pivot: PID 1's line to the relay (connected now, as the pod dir
/// is out of reach after the pivot). `None` when there is no relay.
pub fn stage1_sender(pod_dir: &Path) -> Option<UnixDatagram> {
    let path = pod_dir.join(DIR).join(STAGE1_SOCKET);
    if !path.exists() {
        return None;
    }
    let sock = UnixDatagram::unbound().ok()?;
    match sock.connect(&path) {
        Ok(()) => Some(sock),
        Err(e) => {
            eprintln!(
                "stage1: cannot reach the sd_notify relay at {}: {e}",
                path.display()
            );
            None
        }
    }
}

/// Tells the relay that every app has started.
pub fn send_ready(sender: &UnixDatagram) {
    if let Err(e) = sender.send(b"READY=1") {
        eprintln!("stage1: cannot tell the sd_notify relay the pod is ready: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> Source {
        Source::App(name.into())
    }

    #[test]
    fn stage1_ready_counts_only_without_notify_apps() {
        let mut g = Gate::new(vec![]);
        assert_eq!(
            g.filter(&Source::Stage1, "READY=1").as_deref(),
            Some("READY=1")
        );
        assert_eq!(g.filter(&Source::Stage1, "READY=1"), None, "sent once");

        let mut g = Gate::new(vec!["a".into(), "b".into()]);
        assert_eq!(g.filter(&Source::Stage1, "READY=1"), None);
        assert_eq!(
            g.filter(&app("a"), "READY=1\nSTATUS=a up").as_deref(),
            Some("STATUS=a up")
        );
        assert_eq!(g.filter(&app("a"), "READY=1"), None, "a twice is not b");
        assert_eq!(g.filter(&app("b"), "READY=1").as_deref(), Some("READY=1"));
    }

    #[test]
    fn pod_internal_lines_are_dropped() {
        let mut g = Gate::new(vec!["a".into()]);
        assert_eq!(g.filter(&app("a"), "MAINPID=7\nFDSTORE=1"), None);
        assert_eq!(
            g.filter(&app("a"), "STOPPING=1\nMAINPID=7\nSTATUS=bye")
                .as_deref(),
            Some("STOPPING=1\nSTATUS=bye")
        );
    }

    #[test]
    fn abstract_and_path_targets() {
        use std::os::linux::net::SocketAddrExt;
        let a = target_addr(&"@/org/x".into()).unwrap();
        assert_eq!(a.as_abstract_name(), Some(&b"/org/x"[..]));
        let p = target_addr(&"/run/systemd/notify".into()).unwrap();
        assert_eq!(p.as_pathname(), Some(Path::new("/run/systemd/notify")));
    }

    #[test]
    fn relay_forwards_to_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target_path = dir.path().join("target");
        let target = UnixDatagram::bind(&target_path).unwrap();
        let stage1 = dir.path().join("s1");
        let relay = Relay {
            target: target_path.clone().into(),
            sockets: vec![(Source::Stage1, UnixDatagram::bind(&stage1).unwrap())],
            gate: Gate::new(vec![]),
        };
        relay.start().unwrap();
        let tx = UnixDatagram::unbound().unwrap();
        tx.connect(&stage1).unwrap();
        tx.send(b"MAINPID=1").unwrap();
        send_ready(&tx);
        target
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = target.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
