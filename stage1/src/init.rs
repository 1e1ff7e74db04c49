//! The `run` entrypoint (`/usr/lib/rkt/stage1/init`): see the crate docs for the ABI.
//!
//! Everything that can be checked is checked before anything is touched (flags, `--net`, the
//! lock fd, the pod files, every app spec). A CNI pod's network namespace is pinned (empty).
//! Then: block the handled signals and fork into the pod's namespaces and its v2
//! `stage1.scope` (one `clone3`; this process stays in the host's namespaces and cgroups, and
//! places the child in the v1 `stage1.scope`s, see [`cgroup`]). The child is the pod's PID 1:
//! joins the pinned netns, `lo` up, the mounts that do not depend on the network
//! ([`setup::mount_pod`]), hostname. Meanwhile this process runs the CNI ADD and sends its
//! result (DNS, metadata URL) on the "go" pipe; PID 1 then makes the rest ([`setup::finish_pod`]:
//! `/etc` files, volumes), pivots into the stage1 root, writes the app specs, then says "ready"
//! on a pipe. The parent then publishes `pid` and answers "go", so `pid` exists before any
//! app starts (`enter` needs it); the child then runs the [`supervisor`], and the parent
//! forwards SIGTERM/SIGINT/SIGHUP to it and exits with the pod's code. A failed ADD kills
//! PID 1 before anything starts. No sleeps, no polling: pipe round trips.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use aci::manifest::EventHandlerName;

use crate::appspec::{self, AppSpecError, app_spec, handler_spec};
use crate::cgroup::{self, AppCgroup, CgroupError};
use crate::context::{ContextError, PodContext, RunArgs};
use crate::journal::{self, AppLog};
use crate::net::{self, NetError};
use crate::notify::{self, NotifyError};
use crate::ns::{self, NetMode, NsError};
use crate::setup::{self, RealMountSys, SetupError};
use crate::status::{self, PendingFile, StatusError, write_atomic};
use crate::supervisor::{self, RealSpawner, SupervisedApp, Supervisor};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error(transparent)]
    AppSpec(#[from] AppSpecError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Mds(#[from] crate::mds::MdsError),
    #[error("pod {uuid}: cannot set up its cgroups")]
    Cgroup {
        uuid: String,
        #[source]
        source: CgroupError,
    },
    #[error("RKT_LOCK_FD {0}: stage0 must pass the pod lock's fd (run the pod with rkt)")]
    LockFd(String),
    #[error("cannot {what}")]
    Sys {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> InitError {
    let what = what.into();
    move |source| InitError::Sys { what, source }
}

/// What the pod's PID 1 needs, computed before any namespace exists.
pub struct PodPlan {
    /// (path inside the stage1 root, spec) for every app and handler.
    pub specs: Vec<(std::path::PathBuf, stage2::AppSpec)>,
    pub apps: Vec<SupervisedApp>,
}

impl PodPlan {
    pub fn new(ctx: &PodContext) -> Result<PodPlan, AppSpecError> {
        let mut specs = Vec::new();
        let mut apps = Vec::new();
        for app in &ctx.apps {
            let name = app.name.as_str();
            let mut spec = app_spec(ctx, app)?;
            let mut handlers = [false; 2];
            for (k, event) in [EventHandlerName::PreStart, EventHandlerName::PostStop]
                .into_iter()
                .enumerate()
            {
                if let Some(h) = handler_spec(&spec, app, event)? {
                    specs.push((appspec::handler_spec_path(name, event), h));
                    handlers[k] = true;
                }
            }
            if notify::target().is_some() && notify::app_supports(&app.image) {
                spec.environment.push(stage2::spec::EnvVar {
                    name: "NOTIFY_SOCKET".into(),
                    value: notify::APP_SOCKET.into(),
                });
            }
            specs.push((appspec::app_spec_path(name), spec));
            apps.push(SupervisedApp {
                name: name.to_string(),
                pre_start: handlers[0],
                post_stop: handlers[1],
            });
        }
        Ok(PodPlan { specs, apps })
    }
}

fn to_json(spec: &stage2::AppSpec) -> Vec<u8> {
    // Serialising plain strings, numbers and lists cannot fail. Compact: only programs read it.
    serde_json::to_vec(spec).unwrap_or_default()
}

/// `RKT_LOCK_FD`: must name an open fd. It gets close-on-exec so that no exec'd process (the
/// apps' stage2 included) inherits it, while this process and the fork keep holding the lock.
fn lock_fd() -> Result<i32, InitError> {
    let value = std::env::var("RKT_LOCK_FD").map_err(|_| InitError::LockFd("is not set".into()))?;
    let fd: i32 = value
        .parse()
        .ok()
        .filter(|fd| *fd > 2)
        .ok_or_else(|| InitError::LockFd(format!("{value:?} is not an fd number above 2")))?;
    // SAFETY: fcntl on an integer fd; no memory involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(InitError::LockFd(format!("{fd} is not an open fd")));
    }
    Ok(fd)
}

/// Runs the `run` entrypoint; returns the pod's exit code.
pub fn main(argv: &[String]) -> Result<i32, InitError> {
    let args = RunArgs::parse(argv)?;
    status::set_debug(args.debug);
    let spec = networking::conf::NetSpec::parse(&args.net).map_err(NsError::from)?;
    let net = NetMode::from_spec(&spec);
    let lock = lock_fd()?;
    let cwd = std::env::current_dir().map_err(sys_err("read the working directory"))?;
    let mut ctx = PodContext::load(&cwd, args)?;
    // CNI: the namespace is pinned now; the plugins run on the host side after the clone,
    // while PID 1 mounts (see `add_networks`).
    let pinned = match net {
        NetMode::Cni => Some(net::pin(&ctx, &spec)?),
        NetMode::Host | NetMode::None => None,
    };
    let mut guard = NetGuard::new(&ctx, pinned.is_some());
    if pinned.is_none() {
        // No network to wait for: the metadata URL is known now.
        crate::mds::set_metadata_url(&mut ctx, None)?;
    }
    let plan = PodPlan::new(&ctx)?;
    crate::debug!(
        "pod {} ({} apps), lock fd {lock}",
        ctx.args.uuid,
        plan.apps.len()
    );
    let cg_err = |source| InitError::Cgroup {
        uuid: ctx.args.uuid.clone(),
        source,
    };
    let (made, cgroups) = pod_cgroups(&ctx).map_err(cg_err)?;
    let stage1_dir = made.stage1_dir();
    // systemd: the sd_notify relay's sockets and the apps' journal streams, host side.
    let relay = notify::Relay::prepare(&ctx)?;
    let logs = journal::open(
        &plan.apps.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
        ctx.args.interactive,
    );
    supervisor::block_signals().map_err(sys_err("block signals"))?;
    let flags = ns::pod_namespace_flags(&ctx.args, net);
    let (ready_r, ready_w) = pipe()?;
    let (go_r, mut go_w) = pipe()?;
    let (child, placed) = ns::fork_into(flags, stage1_dir.as_ref().map(|f| f.as_raw_fd()))?;
    if child == 0 {
        drop(stage1_dir);
        drop((ready_r, go_w));
        guard.disarm(); // The host side owns the teardown.
        let pipes = (ready_w, go_r);
        let netns = pinned.as_ref().map(|p| (&p.netns, p.netns_path.as_path()));
        let code = match pod_main(ctx, plan, netns, net, pipes, cgroups, logs) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("stage1: {}", stage2::error_chain(&e));
                stage2::EXIT_FAILURE
            }
        };
        std::process::exit(code);
    }
    drop((ready_w, go_r, logs, stage1_dir));
    // While the child sets the pod up: the device program (on a thread; waited for before
    // "go") and the migrations clone3 could not spare (v1).
    let devices = made.restrict_devices();
    if let Err(e) = made.place_stage1(child, placed) {
        kill_child(&ctx, child);
        return Err(cg_err(e));
    }
    if let Some(relay) = relay {
        relay
            .start()
            .map_err(sys_err("start the sd_notify relay"))?;
    }
    if let Some(pinned) = &pinned {
        let result = add_networks(&ctx, pinned).inspect_err(|_| {
            kill_child(&ctx, child);
            guard.teardown_quietly();
        })?;
        // A failed write means the child is gone already; parent_main reports it.
        let _ = send_net_result(&mut go_w, &result);
    }
    parent_main(&ctx, child, (ready_r, go_w), devices, &mut guard).map_err(|e| match e {
        ParentError::Init(e) => e,
        ParentError::Cgroup(e) => cg_err(e),
    })
}

/// What PID 1 needs from the pod's networks, sent on the "go" pipe once the host side added
/// them (`--net=default` and other CNI networks only).
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct NetResult {
    /// The CNI DNS servers as a resolv.conf (`ctx.args.net_resolv_conf`).
    resolv_conf: Option<String>,
    /// `AC_METADATA_URL` of a registered pod (it names the network's host side).
    metadata_url: Option<String>,
}

/// The host side's CNI ADD, run while PID 1 mounts.
fn add_networks(ctx: &PodContext, pinned: &net::PinnedNet) -> Result<NetResult, InitError> {
    let pod_net = net::add(ctx, pinned)?;
    Ok(NetResult {
        metadata_url: crate::mds::url(ctx, Some(&pod_net))?,
        resolv_conf: pod_net.resolv_conf,
    })
}

/// Length-prefixed (u32, little endian) JSON: the pipe carries "go" after it.
fn send_net_result(pipe: &mut File, result: &NetResult) -> io::Result<()> {
    // Two optional strings: serialising cannot fail.
    let body = serde_json::to_vec(result).unwrap_or_default();
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("net result too long"))?;
    let mut msg = len.to_le_bytes().to_vec();
    msg.extend_from_slice(&body);
    pipe.write_all(&msg)
}

/// The other end of [`send_net_result`]; `None` when the host side closed the pipe (its ADD
/// failed: it says why) or sent garbage.
fn recv_net_result(pipe: &mut File) -> Option<NetResult> {
    let mut len = [0u8; 4];
    pipe.read_exact(&mut len).ok()?;
    // Two short strings; anything longer is not from our host side.
    let len = usize::try_from(u32::from_le_bytes(len)).ok()?.min(1 << 20);
    let mut body = vec![0u8; len];
    pipe.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Kills and reaps the pod's PID 1 (the whole pod goes with it) after a host-side failure,
/// and removes the pod's cgroups: they were made before the clone, and a pod that never
/// started should leave nothing for `gc` (what the error says is what matters; a failed
/// removal only shows with `--debug`, and `gc` retries it from the record).
fn kill_child(ctx: &PodContext, child: i32) {
    // SAFETY: kill takes plain integers; the child is ours and not yet reaped.
    unsafe { libc::kill(child, libc::SIGKILL) };
    wait_child(child, true);
    let record = ctx.pod_dir.join(cgroup::RECORD_FILE);
    if let Err(e) = cgroup::remove_recorded(&record, &ctx.args.uuid) {
        crate::debug!("pod {}: removing its cgroups: {e}", ctx.args.uuid);
    }
}

/// Tears the pod's networks down when dropped armed: a start that fails after the networks
/// were added leaves nothing behind. Disarmed once the pod runs (then `gc` does it).
struct NetGuard {
    pod_dir: std::path::PathBuf,
    uuid: String,
    local_config: std::path::PathBuf,
    debug: bool,
    armed: bool,
}

impl NetGuard {
    fn new(ctx: &PodContext, armed: bool) -> NetGuard {
        NetGuard {
            pod_dir: ctx.pod_dir.clone(),
            uuid: ctx.args.uuid.clone(),
            local_config: net::local_config(&ctx.args),
            debug: ctx.args.debug,
            armed,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }

    /// After a failed ADD: its error is the one to report, what teardown finds undone is
    /// mostly its consequence (debug output only).
    fn teardown_quietly(&mut self) {
        self.armed = false;
        if let Err(e) = net::teardown(&self.pod_dir, &self.uuid, &self.local_config, self.debug) {
            crate::debug!("{e}");
        }
    }
}

impl Drop for NetGuard {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = net::teardown(&self.pod_dir, &self.uuid, &self.local_config, self.debug)
        {
            eprintln!("stage1: {}", stage2::error_chain(&e));
        }
    }
}

/// Creates the pod's cgroups (see [`cgroup`]), writes `subcgroup`, and opens what each app's
/// forked child needs to join its own cgroup. The pod's PID 1 is placed by the caller.
fn pod_cgroups(ctx: &PodContext) -> Result<(cgroup::PodCgroups, Vec<AppCgroup>), CgroupError> {
    let hierarchies = cgroup::host_hierarchies()?;
    let apps: Vec<(String, cgroup::limits::AppLimits)> = ctx
        .apps
        .iter()
        .map(|a| (a.name.as_str().to_string(), cgroup::app_limits(&a.app)))
        .collect();
    let pids = cgroup::pids_limit_from_env()?;
    let record = ctx.pod_dir.join(cgroup::RECORD_FILE);
    let made = cgroup::create(&hierarchies, &ctx.args.uuid, &apps, pids, &record)?;
    if let Some(sub) = made.subcgroup() {
        let path = ctx.pod_dir.join("subcgroup");
        write_atomic(&path, sub.as_bytes()).map_err(|e| CgroupError::Write {
            path,
            value: sub,
            source: io::Error::other(e.to_string()),
        })?;
    }
    crate::debug!(
        "pod cgroups: {:?}",
        made.pod_dirs.iter().map(|(_, d)| d).collect::<Vec<_>>()
    );
    let opened = apps
        .iter()
        .map(|(name, _)| made.open_app(name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((made, opened))
}

fn pipe() -> Result<(File, File), InitError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(sys_err("create a pipe")(io::Error::last_os_error()));
    }
    // SAFETY: both fds are fresh and owned by nothing else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// One byte from `pipe`; false at EOF (the other side failed and closed it).
fn read_byte(pipe: &mut File) -> bool {
    let mut byte = [0u8; 1];
    loop {
        match pipe.read(&mut byte) {
            Ok(n) => return n == 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

/// The host side: waits for "ready", publishes `pid`, says "go", relays signals, returns the
/// pod's code.
fn parent_main(
    ctx: &PodContext,
    child: i32,
    (mut ready, mut go): (File, File),
    devices: cgroup::DeviceJob,
    guard: &mut NetGuard,
) -> Result<i32, ParentError> {
    // `pid`'s temp file, made while PID 1 sets the pod up (see `PendingFile`).
    let pid_file = PendingFile::create(&ctx.pod_dir.join("pid"));
    let is_ready = read_byte(&mut ready);
    drop(ready);
    if !is_ready {
        // The child already printed why; its code does not matter, stage1 failed.
        let _ = devices.wait();
        wait_child(child, true);
        return Ok(stage2::EXIT_FAILURE);
    }
    if let Err(e) = devices.wait() {
        drop(go); // EOF: the child gives up without starting any app.
        wait_child(child, true);
        return Err(ParentError::Cgroup(e));
    }
    if let Err(e) = pid_file.and_then(|f| f.publish(child.to_string().as_bytes())) {
        drop(go); // EOF: the child gives up without starting any app.
        wait_child(child, true);
        return Err(ParentError::Init(e.into()));
    }
    // A failed write means the child is gone already; waitpid below reports it.
    if go.write_all(b"G").is_ok() {
        guard.disarm();
    }
    drop(go);
    crate::debug!("pod PID 1 is host pid {child}");
    let uuid = &ctx.args.uuid;
    let registered = crate::machined::register(uuid, child, &ctx.pod_dir.join("stage1/rootfs"));
    loop {
        if let Some(code) = wait_child(child, false) {
            if registered {
                crate::machined::unregister(uuid);
            }
            return Ok(code);
        }
        match supervisor::wait_signal(None) {
            Some(libc::SIGCHLD) | None => {}
            Some(sig) => {
                // SAFETY: kill takes plain integers.
                unsafe { libc::kill(child, sig) };
            }
        }
    }
}

/// Where PID 1 writes each app's exit status (`status/<app>`, rkt's layout).
const STATUS_DIR: &str = "/rkt/status";

/// What stops the host side after the clone: the cgroup error still needs the pod's uuid.
enum ParentError {
    Init(InitError),
    Cgroup(cgroup::CgroupError),
}

/// Reaps `child` (blocking or not); its rkt exit code once it is gone.
fn wait_child(child: i32, block: bool) -> Option<i32> {
    let mut status = 0;
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: waitpid writes only into `status`.
        let r = unsafe { libc::waitpid(child, &mut status, flags) };
        if r == child {
            return Some(status::exit_code(status));
        }
        if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if r < 0 {
            return Some(stage2::EXIT_FAILURE);
        }
        return None;
    }
}

/// The pod's PID 1, from the fork to the end of the pod. With a CNI network (`netns`) it
/// mounts while the host side adds the networks, and waits for their result (on `go`) before
/// anything that depends on it: the apps' `/etc`, volumes and specs.
fn pod_main(
    mut ctx: PodContext,
    mut plan: PodPlan,
    netns: Option<(&File, &Path)>,
    net: NetMode,
    (mut ready, mut go): (File, File),
    cgroups: Vec<AppCgroup>,
    logs: Vec<AppLog>,
) -> Result<i32, InitError> {
    if let Some((ns_file, ns_path)) = netns {
        net::netns::join(ns_file).map_err(sys_err(format!(
            "join the pod's network namespace {}",
            ns_path.display()
        )))?;
    }
    if net != NetMode::Host {
        ns::loopback_up()?;
    }
    let mut mounts = RealMountSys;
    setup::mount_pod(&ctx, &mut mounts)?;
    // The state dirs filled after the pivot, made now (through the host path of the stage1
    // root's /rkt), while the host side may still add the networks: each is an inode on the
    // host's disk.
    for dir in [STATUS_DIR, appspec::APPSPEC_DIR] {
        let path = ctx.stage1_root.join(dir.trim_start_matches('/'));
        std::fs::create_dir_all(&path).map_err(sys_err(format!("create {}", path.display())))?;
    }
    let hostname = ctx.hostname();
    ns::set_hostname(&hostname).map_err(sys_err(format!("set the hostname {hostname:?}")))?;
    // Opened on the host side: the stage1 root's /dev may not hold a null device.
    let dev_null = if ctx.args.interactive {
        None
    } else {
        let f = File::open("/dev/null").map_err(sys_err("open /dev/null"))?;
        Some(OwnedFd::from(f))
    };
    if netns.is_some() {
        let Some(result) = recv_net_result(&mut go) else {
            // The host side's ADD failed; it says why and kills this process.
            return Ok(stage2::EXIT_FAILURE);
        };
        ctx.args.net_resolv_conf = result.resolv_conf;
        if let Some(url) = &result.metadata_url {
            crate::mds::apply_url(&mut ctx, url);
            plan = PodPlan::new(&ctx)?;
        }
    }
    setup::finish_pod(&ctx, &mut mounts)?;
    notify::bind_into_apps(&ctx)?;
    let notify_ready = notify::stage1_sender(&ctx.pod_dir);
    setup::enter_stage1_root(&ctx, &mut mounts)?;
    // Written for `enter` (and for anyone looking); the apps' stage2 gets them in memory.
    for (path, spec) in &plan.specs {
        write_atomic(path, &to_json(spec))?;
    }
    let status_dir = Path::new(STATUS_DIR);
    std::fs::create_dir_all(status_dir)
        .map_err(sys_err(format!("create {}", status_dir.display())))?;
    ready
        .write_all(b"R")
        .map_err(sys_err("tell stage1's parent the pod is ready"))?;
    drop(ready);
    if !read_byte(&mut go) {
        // The parent could not publish `pid` and said why; start nothing.
        return Ok(stage2::EXIT_FAILURE);
    }
    drop(go);
    let mut spawner = RealSpawner {
        root: "/".into(),
        stage2: supervisor::STAGE2_PATH.to_owned(),
        // The in-process launch needs a single-threaded PID 1 (see RealSpawner); should
        // that ever change, the apps go through the stage2 binary again.
        specs: if supervisor::single_threaded() {
            plan.specs.clone()
        } else {
            crate::debug!("PID 1 has threads: apps start through the stage2 binary");
            Vec::new()
        },
        dev_null,
        interactive: ctx.args.interactive,
        cgroups,
        notify_ready,
        logs,
        pending_status: Vec::new(),
    };
    let mut sup = Supervisor::new(plan.apps.clone());
    Ok(supervisor::run(&mut sup, &mut spawner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_fd_must_be_set_and_open() {
        // One test owns the variable: tests run in threads of one process.
        // SAFETY: no other test reads or writes RKT_LOCK_FD.
        unsafe { std::env::remove_var("RKT_LOCK_FD") };
        assert!(lock_fd().unwrap_err().to_string().contains("is not set"));
        for bad in ["x", "1", "-4"] {
            unsafe { std::env::set_var("RKT_LOCK_FD", bad) };
            let err = lock_fd().unwrap_err().to_string();
            assert!(err.contains("not an fd number"), "{bad}: {err}");
        }
        unsafe { std::env::set_var("RKT_LOCK_FD", "987") };
        assert!(
            lock_fd()
                .unwrap_err()
                .to_string()
                .contains("not an open fd")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = File::open(dir.path()).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: F_SETFD on an fd we hold: clear CLOEXEC as stage0 does.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        unsafe { std::env::set_var("RKT_LOCK_FD", fd.to_string()) };
        assert_eq!(lock_fd().unwrap(), fd);
        // SAFETY: F_GETFD on an fd we hold.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        unsafe { std::env::remove_var("RKT_LOCK_FD") };
    }

    #[test]
    fn net_result_crosses_the_pipe_then_go_follows() {
        let (mut r, mut w) = pipe().unwrap();
        let sent = NetResult {
            resolv_conf: Some("nameserver 10.1.0.1\n".into()),
            metadata_url: Some("http://172.16.28.1:18112/tok".into()),
        };
        send_net_result(&mut w, &sent).unwrap();
        w.write_all(b"G").unwrap();
        drop(w);
        assert_eq!(recv_net_result(&mut r), Some(sent));
        assert!(read_byte(&mut r));
        // The host side's ADD failed: EOF, no result.
        assert_eq!(recv_net_result(&mut r), None);
        let (mut r, mut w) = pipe().unwrap();
        send_net_result(&mut w, &NetResult::default()).unwrap();
        drop(w);
        assert_eq!(recv_net_result(&mut r), Some(NetResult::default()));
    }
}
