//! The pod's PID 1 after the pivot: starts the apps, reaps every process of the pod, publishes
//! exit codes and decides the pod's own.
//!
//! [`Supervisor`] is the state machine (no syscalls: it drives a [`Spawner`]); [`run`] is the
//! event loop around it: reap with `waitpid(-1)`, then wait for the next signal with
//! `sigtimedwait` (signals are blocked, so a SIGCHLD between the two is never lost), with a
//! timeout only while a stop's grace period runs.
//!
//! Rules (rkt's): apps start in manifest order, each after its `pre-start` handler succeeded;
//! a failing handler counts as the app failing with the handler's code. When an app exits its
//! code is published and its `post-stop` handler runs. The first app to fail (non-zero) stops
//! the others: SIGTERM, then SIGKILL after [`STOP_GRACE`]. SIGTERM/SIGINT/SIGHUP sent to PID 1
//! are forwarded to every app (TERM and INT also stop starting new ones). The pod's exit code
//! is the code of the first app that failed, else 0 (with one app: its code).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::appspec::{app_spec_path, handler_spec_path};
use crate::status::{PendingFile, exit_code, symlink_atomic, write_atomic};
use aci::manifest::EventHandlerName;

/// How long stopped apps get between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The stage2 launcher inside the stage1 root.
pub const STAGE2_PATH: &std::ffi::CStr = c"/usr/lib/rkt/stage1/stage2";

/// What the supervisor knows about one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisedApp {
    pub name: String,
    pub pre_start: bool,
    pub post_stop: bool,
}

/// Which process of an app to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    App,
    Handler(EventHandlerName),
}

/// The side effects of the supervisor, faked in tests.
pub trait Spawner {
    /// Starts `job` of `app`; returns its pid.
    fn spawn(&mut self, app: &str, job: Job) -> io::Result<i32>;
    fn signal(&mut self, pid: i32, signal: i32);
    /// Publishes the app's exit code (`/rkt/status/<app>`).
    fn app_exited(&mut self, app: &str, code: i32);
    /// Every app has started (`/rkt/supervisor-status` → `ready`).
    fn all_started(&mut self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppState {
    Pending,
    PreStart(i32),
    Running(i32),
    Exited(i32),
    /// Never started: the pod was stopping before its turn.
    Skipped,
}

/// The supervisor's state machine; see the module docs for the rules.
pub struct Supervisor {
    apps: Vec<SupervisedApp>,
    states: Vec<AppState>,
    /// Running post-stop handlers: (pid, app index).
    handlers: Vec<(i32, usize)>,
    first_failure: Option<i32>,
    stopping: bool,
    kill_at: Option<Instant>,
    ready: bool,
}

impl Supervisor {
    pub fn new(apps: Vec<SupervisedApp>) -> Supervisor {
        let states = vec![AppState::Pending; apps.len()];
        Supervisor {
            apps,
            states,
            handlers: Vec::new(),
            first_failure: None,
            stopping: false,
            kill_at: None,
            ready: false,
        }
    }

    /// Starts apps in order until one waits for its pre-start handler or all run.
    pub fn advance(&mut self, sp: &mut dyn Spawner, now: Instant) {
        loop {
            if self
                .states
                .iter()
                .any(|s| matches!(s, AppState::PreStart(_)))
            {
                return;
            }
            let Some(i) = self.states.iter().position(|s| *s == AppState::Pending) else {
                break;
            };
            if self.apps[i].pre_start {
                let name = self.apps[i].name.clone();
                match sp.spawn(&name, Job::Handler(EventHandlerName::PreStart)) {
                    Ok(pid) => self.states[i] = AppState::PreStart(pid),
                    Err(e) => {
                        crate::debug!("app {name}: cannot start its pre-start handler: {e}");
                        self.app_done(i, stage2::EXIT_FAILURE, sp, now);
                    }
                }
            } else {
                self.launch(i, sp, now);
            }
        }
        if !self.ready && !self.stopping {
            self.ready = true;
            sp.all_started();
        }
    }

    fn launch(&mut self, i: usize, sp: &mut dyn Spawner, now: Instant) {
        let name = self.apps[i].name.clone();
        match sp.spawn(&name, Job::App) {
            Ok(pid) => self.states[i] = AppState::Running(pid),
            Err(e) => {
                eprintln!("stage1: app {name}: cannot start it: {e}");
                self.app_done(i, stage2::EXIT_FAILURE, sp, now);
            }
        }
    }

    fn app_done(&mut self, i: usize, code: i32, sp: &mut dyn Spawner, now: Instant) {
        let name = self.apps[i].name.clone();
        crate::debug!("app {name} exited with {code}");
        self.states[i] = AppState::Exited(code);
        sp.app_exited(&name, code);
        if self.apps[i].post_stop {
            match sp.spawn(&name, Job::Handler(EventHandlerName::PostStop)) {
                Ok(pid) => self.handlers.push((pid, i)),
                Err(e) => eprintln!("stage1: app {name}: cannot start its post-stop handler: {e}"),
            }
        }
        if code != 0 && self.first_failure.is_none() {
            self.first_failure = Some(code);
            self.stop(sp, now);
        }
    }

    /// Stops the pod: nothing more starts; running apps get SIGTERM, later SIGKILL.
    fn stop(&mut self, sp: &mut dyn Spawner, now: Instant) {
        self.stop_starting();
        for state in &self.states {
            if let AppState::Running(pid) | AppState::PreStart(pid) = state {
                sp.signal(*pid, libc::SIGTERM);
            }
        }
        self.kill_at = Some(now + STOP_GRACE);
    }

    fn stop_starting(&mut self) {
        self.stopping = true;
        for state in &mut self.states {
            if *state == AppState::Pending {
                *state = AppState::Skipped;
            }
        }
    }

    /// A child was reaped with `code` (rkt's exit code of its wait status).
    pub fn on_exit(&mut self, pid: i32, code: i32, sp: &mut dyn Spawner, now: Instant) {
        let found = self
            .states
            .iter()
            .position(|s| matches!(s, AppState::PreStart(p) | AppState::Running(p) if *p == pid));
        match found.map(|i| (i, self.states[i])) {
            Some((i, AppState::PreStart(_))) if code == 0 => self.launch(i, sp, now),
            Some((i, AppState::PreStart(_))) => {
                eprintln!(
                    "stage1: app {}: its pre-start handler failed with {code}",
                    self.apps[i].name
                );
                self.app_done(i, code, sp, now);
            }
            Some((i, _)) => self.app_done(i, code, sp, now),
            None => {
                if let Some(k) = self.handlers.iter().position(|(p, _)| *p == pid) {
                    let (_, i) = self.handlers.remove(k);
                    if code != 0 {
                        let name = &self.apps[i].name;
                        eprintln!("stage1: app {name}: its post-stop handler failed with {code}");
                    }
                }
                // Anything else is an orphan re-parented to us: reaping it was the job.
            }
        }
        self.advance(sp, now);
    }

    /// SIGTERM/SIGINT/SIGHUP received: forwarded to every running process of every app.
    pub fn on_signal(&mut self, signal: i32, sp: &mut dyn Spawner) {
        if signal != libc::SIGHUP {
            self.stop_starting();
        }
        for state in &self.states {
            if let AppState::Running(pid) | AppState::PreStart(pid) = state {
                sp.signal(*pid, signal);
            }
        }
    }

    /// When [`Supervisor::on_timeout`] must run next, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.kill_at.filter(|_| self.running().next().is_some())
    }

    /// The stop grace period may be over: SIGKILL what still runs.
    pub fn on_timeout(&mut self, sp: &mut dyn Spawner, now: Instant) {
        if self.kill_at.is_some_and(|at| at <= now) {
            self.kill_at = None;
            for pid in self.running().collect::<Vec<_>>() {
                sp.signal(pid, libc::SIGKILL);
            }
        }
    }

    fn running(&self) -> impl Iterator<Item = i32> + '_ {
        self.states.iter().filter_map(|s| match s {
            AppState::Running(p) | AppState::PreStart(p) => Some(*p),
            _ => None,
        })
    }

    /// Every app is over (exited or skipped) and no handler runs.
    pub fn finished(&self) -> bool {
        self.handlers.is_empty()
            && self
                .states
                .iter()
                .all(|s| matches!(s, AppState::Exited(_) | AppState::Skipped))
    }

    /// The pod's exit code: the first failure's, else 0.
    pub fn exit_code(&self) -> i32 {
        self.first_failure.unwrap_or(0)
    }
}

/// The signals PID 1 handles; blocked, and taken with `sigwaitinfo`/`sigtimedwait`.
pub fn handled_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD] {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Blocks the handled signals and gives each a no-op handler: a pid namespace's init only gets
/// signals it has a handler for, and an inherited `SIG_IGN` on SIGCHLD would auto-reap.
pub fn block_signals() -> io::Result<()> {
    let set = handled_signals();
    // SAFETY: sigaction with a valid handler and a zeroed-then-filled struct; sigprocmask on a
    // set we own. The handler does nothing, so it is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGCHLD] {
            if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The kernel's `struct sigaction` (x86_64 layout), for the raw `rt_sigaction` below.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Before an exec that leads to an app: every signal back to its default action and an empty
/// mask. Handlers reset at exec by themselves, but an ignored signal stays ignored (Rust ignores
/// SIGPIPE; `nohup` ignores SIGHUP), and apps must start as systemd would start them. The raw
/// syscall also reaches glibc's reserved signals 32 and 33, which `sigaction(3)` refuses.
pub fn reset_signals_for_exec() {
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads the struct we own; the old action is not asked for.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    // SAFETY: sigprocmask on a set we own.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// Waits for one handled signal, up to `timeout`; `None` on timeout.
pub fn wait_signal(timeout: Option<Duration>) -> Option<i32> {
    let set = handled_signals();
    loop {
        // SAFETY: the set and timespec are ours; siginfo may be null.
        let sig = unsafe {
            match timeout {
                None => libc::sigwaitinfo(&set, std::ptr::null_mut()),
                Some(t) => {
                    let ts = libc::timespec {
                        tv_sec: t.as_secs() as libc::time_t,
                        tv_nsec: t.subsec_nanos() as libc::c_long,
                    };
                    libc::sigtimedwait(&set, std::ptr::null_mut(), &ts)
                }
            }
        };
        if sig > 0 {
            return Some(sig);
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            _ => return None,
        }
    }
}

/// The real spawner: forks and runs stage2 for each job, writes the status files under
/// `root` (`/` inside the pod).
///
/// A job whose spec is in `specs` runs stage2 right in the forked child (no exec of the stage2
/// binary, no spec file read): PID 1 is single-threaded (the only threads stage1 starts live on
/// the host side), so the child may allocate, and it is made to look like a freshly exec'd
/// stage2 first (see [`launch_in_child`]). Any other job execs `stage2` with its spec file.
pub struct RealSpawner {
    pub root: PathBuf,
    pub stage2: CString,
    /// (spec path, spec) of every job stage1 planned: the same specs written under
    /// `/rkt/appspec` (which `enter` reads).
    pub specs: Vec<(PathBuf, stage2::AppSpec)>,
    /// `/dev/null`, opened before the pivot (close-on-exec); `None` with `--interactive`.
    pub dev_null: Option<OwnedFd>,
    pub interactive: bool,
    /// Per app: its v2 cgroup (cloned into), its cgroups' `cgroup.procs` (joined by the
    /// forked child) and OOM counter.
    pub cgroups: Vec<crate::cgroup::AppCgroup>,
    /// PID 1's line to the sd_notify relay: `READY=1` once all apps started ([`crate::notify`]).
    pub notify_ready: Option<std::os::unix::net::UnixDatagram>,
    /// Per app: journal streams for its stdout and stderr ([`crate::journal`]).
    pub logs: Vec<crate::journal::AppLog>,
    /// Per started app: its `status/<app>` file, made while the app runs (see
    /// [`PendingFile`]) and published when it exits.
    pub pending_status: Vec<(String, PendingFile)>,
}

impl RealSpawner {
    fn under_root(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }
}

impl Spawner for RealSpawner {
    fn spawn(&mut self, app: &str, job: Job) -> io::Result<i32> {
        let spec = match job {
            Job::App => app_spec_path(app),
            Job::Handler(event) => handler_spec_path(app, event),
        };
        let in_process = self.specs.iter().find(|(p, _)| *p == spec).map(|(_, s)| s);
        let spec = CString::new(spec.into_os_string().into_encoded_bytes())?;
        let argv = [
            c"stage2".as_ptr(),
            c"--spec".as_ptr(),
            spec.as_ptr(),
            std::ptr::null(),
        ];
        let envp = [std::ptr::null::<libc::c_char>()];
        let stdin = self.dev_null.as_ref().map(|f| f.as_raw_fd());
        let log = self
            .logs
            .iter()
            .find(|l| l.app == app)
            .map(|l| (l.stdout.as_raw_fd(), l.stderr.as_raw_fd()));
        let foreground = self.interactive && job == Job::App;
        // Raw fds taken now: the child may not allocate.
        let (v2_dir, mut join, v2_procs) = self
            .cgroups
            .iter()
            .find(|c| c.app == app)
            .map(crate::cgroup::AppCgroup::raw_fds)
            .unwrap_or_default();
        join.reserve(1); // Room for the v2 fallback: no allocation after the clone.
        // Born into its v2 cgroup where the kernel allows (no migration, see `cgroup`).
        let (pid, placed) = crate::ns::clone_fork(0, v2_dir)?;
        if !placed {
            join.extend(v2_procs);
        }
        if pid == 0 {
            // SAFETY: see above; every pointer outlives the exec.
            unsafe {
                if foreground {
                    // We are not the terminal's foreground group yet: tcsetpgrp from the
                    // background raises SIGTTOU unless it is ignored (reset right below).
                    libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                    libc::setpgid(0, 0);
                    libc::tcsetpgrp(0, libc::getpid());
                }
                if let Some(fd) = stdin {
                    libc::dup2(fd, 0);
                }
                if let Some((out, err)) = log {
                    libc::dup2(out, 1);
                    libc::dup2(err, 2);
                }
                // "0" moves the writer itself; after the pivot, the pre-opened files are the
                // only way to the host's cgroup trees.
                for fd in &join {
                    if libc::write(*fd, c"0".as_ptr().cast(), 1) != 1 {
                        let msg = b"stage1: cannot move the app into its cgroup\n";
                        libc::write(2, msg.as_ptr().cast(), msg.len());
                        libc::_exit(stage2::EXIT_FAILURE);
                    }
                }
                reset_signals_for_exec();
                if let Some(spec) = in_process {
                    launch_in_child(spec);
                }
                libc::execve(self.stage2.as_ptr(), argv.as_ptr(), envp.as_ptr());
                let msg = b"stage1: cannot execute stage2\n";
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(stage2::EXIT_FAILURE);
            }
        }
        crate::debug!("app {app}: started {job:?} as pid {pid}");
        if matches!(job, Job::App) {
            let path = self.under_root(Path::new("/rkt/status")).join(app);
            match PendingFile::create(&path) {
                Ok(file) => self.pending_status.push((app.to_string(), file)),
                // Written the plain way at its exit.
                Err(e) => crate::debug!("{}", stage2::error_chain(&e)),
            }
        }
        Ok(pid)
    }

    fn signal(&mut self, pid: i32, signal: i32) {
        // SAFETY: kill takes plain integers.
        unsafe { libc::kill(pid, signal) };
    }

    fn app_exited(&mut self, app: &str, code: i32) {
        let status = self.under_root(Path::new("/rkt/status"));
        // Killed by SIGKILL: the memory cgroup tells whether the OOM killer did it.
        let oom = self
            .cgroups
            .iter()
            .filter(|_| code == 128 + libc::SIGKILL)
            .find(|c| c.app == app)
            .and_then(|c| c.oom.as_ref())
            .map(crate::cgroup::read_oom_kills)
            .filter(|n| *n > 0);
        if let Some(kills) = oom {
            eprintln!("stage1: app {app}: killed by the OOM killer (memory limit reached)");
            let path = status.join(crate::cgroup::oom_status_name(app));
            if let Err(e) = write_atomic(&path, kills.to_string().as_bytes()) {
                eprintln!("stage1: {}", stage2::error_chain(&e));
            }
        }
        let path = status.join(app);
        let code = code.to_string();
        let written = match self.pending_status.iter().position(|(a, _)| a == app) {
            Some(i) => self
                .pending_status
                .swap_remove(i)
                .1
                .publish(code.as_bytes()),
            None => write_atomic(&path, code.as_bytes()),
        };
        if let Err(e) = written {
            eprintln!("stage1: {}", stage2::error_chain(&e));
        }
    }

    fn all_started(&mut self) {
        let path = self.under_root(Path::new("/rkt/supervisor-status"));
        if let Err(e) = symlink_atomic("ready", &path) {
            eprintln!("stage1: {}", stage2::error_chain(&e));
        }
        if let Some(sender) = &self.notify_ready {
            crate::notify::send_ready(sender);
        }
        // Start-up is over: what it left resident would stay for the pod's lifetime.
        crate::memory::release_startup_pages();
    }
}

/// Whether this process has exactly one thread (`/proc/self/task`; false when unreadable):
/// only then may a forked child allocate, as [`launch_in_child`] does.
pub fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.take(2).count() == 1)
}

/// In the forked child of PID 1 (signals already reset): becomes the app of `spec` as the
/// exec'd stage2 binary would have, or exits 254 with stage2's one-line report. PID 1's fds
/// (pod lock, cgroup files, journal streams, `/dev/null`) are closed first, as exec closes
/// them (all are close-on-exec); stage2 closes the rest before the app's exec anyway.
fn launch_in_child(spec: &stage2::AppSpec) -> ! {
    use stage2::sys::Sys as _;
    let report = match stage2::sys::RealSys.close_fds(&spec.keep_fds) {
        Ok(()) => stage2::cli::launch(spec.clone()),
        Err(e) => format!(
            "stage2: app {}: cannot close inherited fds: {e}",
            spec.name.as_str()
        ),
    };
    let line = format!("{report}\n");
    // SAFETY: write(2) of a buffer we own; _exit skips PID 1's exit-time work (not ours).
    unsafe {
        libc::write(2, line.as_ptr().cast(), line.len());
        libc::_exit(stage2::EXIT_FAILURE)
    }
}

/// Runs the pod to its end; returns the pod's exit code. Handled signals must be blocked.
pub fn run(sup: &mut Supervisor, sp: &mut dyn Spawner) -> i32 {
    sup.advance(sp, Instant::now());
    loop {
        let no_children = loop {
            let mut status = 0;
            // SAFETY: waitpid writes only into `status`.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid > 0 {
                sup.on_exit(pid, exit_code(status), sp, Instant::now());
                continue;
            }
            break pid < 0;
        };
        if sup.finished() {
            return sup.exit_code();
        }
        if no_children {
            // Unreachable unless an app vanished without a wait status; do not hang.
            eprintln!("stage1: no process left but the pod is not finished");
            return stage2::EXIT_FAILURE;
        }
        let now = Instant::now();
        let timeout = sup.deadline().map(|d| d.saturating_duration_since(now));
        match wait_signal(timeout) {
            Some(libc::SIGCHLD) => {}
            Some(sig) => sup.on_signal(sig, sp),
            None => sup.on_timeout(sp, Instant::now()),
        }
    }
}

#[cfg(test)]
mod tests;
