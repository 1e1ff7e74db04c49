//! The `enter` entrypoint (`--pid=<pid> --appname=<app> -- <cmd> [args]`, cwd = the pod dir):
//! runs a command in a running app's environment.
//!
//! Joins the namespaces of the pod's PID 1 that differ from ours (mount first; its root is the
//! stage1 root, taken from `/proc/<pid>/root`), reads the app's spec from
//! `/rkt/appspec/<app>.json`, swaps in the command and starts it through stage2 in a fork (a
//! pid namespace only applies to children), so it gets exactly the app's root, user,
//! capabilities and environment, never more. Exits with the command's code.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aci::manifest::PodManifest;
use stage2::AppSpec;

use crate::appspec::{APPSPEC_DIR, app_spec_path};
use crate::ns::{self, NsError};
use crate::status::{self, StatusError, write_atomic};
use crate::supervisor::{STAGE2_PATH, reset_signals_for_exec};

#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    #[error("stage1 enter: {0} (usage: enter --pid=<pid> [--appname=<app>] -- <cmd> [args])")]
    Usage(String),
    #[error("the pod has no app {app:?} (its apps: {apps})")]
    NoSuchApp { app: String, apps: String },
    #[error("the pod has several apps ({apps}): choose one with --app")]
    Ambiguous { apps: String },
    #[error("the pod has no apps")]
    NoApps,
    #[error("app {app}: cannot join its cgroups")]
    Cgroup {
        app: String,
        #[source]
        source: crate::cgroup::CgroupError,
    },
    #[error("cannot read the pod manifest {path}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Ns(#[from] NsError),
    #[error("cannot {what} (pod PID 1 is host pid {pid})")]
    Sys {
        what: &'static str,
        pid: i32,
        #[source]
        source: io::Error,
    },
    #[error("app {app}: cannot read its spec (was the pod started by this stage1?)")]
    Spec {
        app: String,
        #[source]
        source: stage2::SpecError,
    },
    #[error(transparent)]
    Status(#[from] StatusError),
}

/// The parsed `enter` command line.
#[derive(Debug, PartialEq, Eq)]
pub struct EnterArgs {
    pub pid: i32,
    pub app: Option<String>,
    pub cmd: Vec<String>,
}

impl EnterArgs {
    pub fn parse(args: &[String]) -> Result<EnterArgs, EnterError> {
        let usage = |m: String| EnterError::Usage(m);
        let (mut pid, mut app) = (None, None);
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--" {
                break;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| usage(format!("{name} needs a value")))
            };
            match name {
                "--pid" => {
                    let v = value()?;
                    let n = v.parse::<i32>().ok().filter(|n| *n > 0);
                    pid = Some(n.ok_or_else(|| usage(format!("--pid={v} is not a pid")))?);
                }
                "--appname" | "--app" => app = Some(value()?).filter(|a| !a.is_empty()),
                "--debug" => status::set_debug(true),
                _ => return Err(usage(format!("unexpected argument {arg:?}"))),
            }
        }
        let pid = pid.ok_or_else(|| usage("--pid is missing".into()))?;
        Ok(EnterArgs {
            pid,
            app,
            cmd: it.cloned().collect(),
        })
    }
}

/// The app to enter: the one asked for, else the pod's only app.
pub fn choose_app(asked: Option<&str>, apps: &[String]) -> Result<String, EnterError> {
    let list = || apps.join(", ");
    match (asked, apps) {
        (Some(a), _) if apps.iter().any(|x| x == a) => Ok(a.to_string()),
        (Some(a), _) => Err(EnterError::NoSuchApp {
            app: a.to_string(),
            apps: list(),
        }),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(EnterError::NoApps),
        (None, _) => Err(EnterError::Ambiguous { apps: list() }),
    }
}

fn pod_apps(pod_dir: &Path) -> Result<Vec<String>, EnterError> {
    let path = pod_dir.join("pod");
    let err = |source: Box<dyn std::error::Error + Send + Sync>| EnterError::Manifest {
        path: path.clone(),
        source,
    };
    let bytes = std::fs::read(&path).map_err(|e| err(Box::new(e)))?;
    let manifest = PodManifest::from_slice(&bytes).map_err(|e| err(Box::new(e)))?;
    Ok(manifest
        .apps
        .iter()
        .map(|a| a.name.as_str().to_string())
        .collect())
}

/// The command to run: the given one, else rkt's `/bin/bash`, or `/bin/sh` without bash.
pub fn command(cmd: Vec<String>, app_root: &Path) -> Vec<String> {
    if !cmd.is_empty() {
        return cmd;
    }
    let shell = if app_root.join("bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    };
    vec![shell.to_string()]
}

/// Joins the pod: its namespaces, then its root (the stage1 root).
fn join_pod(pid: i32) -> Result<(), EnterError> {
    let sys = |what, source| EnterError::Sys { what, pid, source };
    let root = File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(format!("/proc/{pid}/root"))
        .map_err(|e| sys("open the pod's root", e))?;
    for handle in ns::open_namespaces(pid)? {
        crate::debug!("joining the {} namespace of {pid}", handle.kind);
        ns::join(&handle, pid)?;
    }
    // SAFETY: fchdir on an fd we own, chroot/chdir on static C strings.
    unsafe {
        if libc::fchdir(root.as_raw_fd()) != 0 || libc::chroot(c".".as_ptr()) != 0 {
            return Err(sys("enter the pod's root", io::Error::last_os_error()));
        }
        if libc::chdir(c"/".as_ptr()) != 0 {
            return Err(sys("enter the pod's root", io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Runs `enter` from the pod dir `pod_dir`; returns the command's exit code.
pub fn main(args: &[String], pod_dir: &Path) -> Result<i32, EnterError> {
    let args = EnterArgs::parse(args)?;
    let app = choose_app(args.app.as_deref(), &pod_apps(pod_dir)?)?;
    // From the host's mount namespace, where the cgroup trees are visible.
    let record = pod_dir.join(crate::cgroup::RECORD_FILE);
    crate::cgroup::join_app(&record, &app).map_err(|source| EnterError::Cgroup {
        app: app.clone(),
        source,
    })?;
    join_pod(args.pid)?;
    let mut spec =
        AppSpec::load(Some(&app_spec_path(&app))).map_err(|source| EnterError::Spec {
            app: app.clone(),
            source,
        })?;
    spec.exec = command(args.cmd, &spec.root);
    let tmp = Path::new(APPSPEC_DIR).join(format!("{app}.enter.{}.json", std::process::id()));
    let json = serde_json::to_vec(&spec).unwrap_or_default();
    write_atomic(&tmp, &json)?;
    let code = run_stage2(&tmp, args.pid);
    let _ = std::fs::remove_file(&tmp);
    code
}

/// Forks stage2 with `spec` (the fork lands in the pod's pid namespace) and waits for it.
fn run_stage2(spec: &Path, pid: i32) -> Result<i32, EnterError> {
    let sys = |what, source| EnterError::Sys { what, pid, source };
    let spec_c = CString::new(spec.as_os_str().as_encoded_bytes())
        .map_err(|_| sys("name the spec", io::ErrorKind::InvalidInput.into()))?;
    let argv = [
        c"stage2".as_ptr(),
        c"--spec".as_ptr(),
        spec_c.as_ptr(),
        std::ptr::null(),
    ];
    let envp = [std::ptr::null::<libc::c_char>()];
    // SAFETY: single-threaded; the child only execs or exits.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(sys("fork", io::Error::last_os_error()));
    }
    if child == 0 {
        // SAFETY: pointers prepared before the fork outlive the exec.
        unsafe {
            reset_signals_for_exec();
            libc::execve(STAGE2_PATH.as_ptr(), argv.as_ptr(), envp.as_ptr());
            let msg = b"stage1 enter: cannot execute stage2\n";
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(stage2::EXIT_FAILURE);
        }
    }
    // The terminal's ^C and ^\ are for the command, not for us (like system(3)).
    // SAFETY: setting dispositions of our own process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes only into `status`.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r == child {
            return Ok(status::exit_code(status));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(sys("wait for the command", e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(list: &[&str]) -> Vec<String> {
        list.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_the_abi_form() {
        let a = EnterArgs::parse(&s(&["--pid=42", "--appname=web", "--", "ls", "-l"])).unwrap();
        assert_eq!(
            a,
            EnterArgs {
                pid: 42,
                app: Some("web".into()),
                cmd: s(&["ls", "-l"])
            }
        );
        let a = EnterArgs::parse(&s(&["--pid", "7"])).unwrap();
        assert!(a.app.is_none() && a.cmd.is_empty());
        assert!(EnterArgs::parse(&s(&["--appname=web"])).is_err());
        assert!(EnterArgs::parse(&s(&["--pid=x"])).is_err());
        assert!(EnterArgs::parse(&s(&["--pid=3", "ls"])).is_err());
    }

    #[test]
    fn app_choice() {
        let apps = s(&["a", "b"]);
        assert_eq!(choose_app(Some("b"), &apps).unwrap(), "b");
        let err = choose_app(None, &apps).unwrap_err().to_string();
        assert!(err.contains("a, b") && err.contains("--app"), "{err}");
        let err = choose_app(Some("c"), &apps).unwrap_err().to_string();
        assert!(err.contains("\"c\"") && err.contains("a, b"), "{err}");
        assert_eq!(choose_app(None, &s(&["only"])).unwrap(), "only");
        assert!(choose_app(None, &[]).is_err());
    }

    #[test]
    fn default_command_is_bash_when_present() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(command(vec![], dir.path()), ["/bin/sh"]);
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/bash"), "").unwrap();
        assert_eq!(command(vec![], dir.path()), ["/bin/bash"]);
        assert_eq!(command(s(&["id"]), dir.path()), ["id"]);
    }
}
