//! The `stop` entrypoint (`[--force] <uuid>`, cwd = the pod dir): signals the pod's PID 1,
//! whose host pid `init` published in `pid`. SIGTERM makes the supervisor forward it to every
//! app (a graceful stop); `--force` sends SIGKILL, which ends the whole pid namespace at once.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("stage1 stop: {0} (usage: stop [--force] <uuid>)")]
    Usage(String),
    #[error("pod {uuid}: no pid file at {path}: the pod is not running (or not started yet)")]
    NoPid { uuid: String, path: PathBuf },
    #[error("pod {uuid}: {path} holds {content:?}, not a pid")]
    BadPid {
        uuid: String,
        path: PathBuf,
        content: String,
    },
    #[error("pod {uuid}: cannot read {path}")]
    Read {
        uuid: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pod {uuid}: cannot signal its PID 1 (host pid {pid})")]
    Kill {
        uuid: String,
        pid: i32,
        #[source]
        source: io::Error,
    },
}

/// The parsed `stop` command line.
#[derive(Debug, PartialEq, Eq)]
pub struct StopArgs {
    pub force: bool,
    pub uuid: String,
}

impl StopArgs {
    pub fn parse(args: &[String]) -> Result<StopArgs, StopError> {
        let mut force = false;
        let mut uuid = None;
        for arg in args {
            match arg.as_str() {
                "--force" | "--force=true" => force = true,
                "--force=false" => force = false,
                a if a.starts_with("--") => {
                    return Err(StopError::Usage(format!("unknown flag {a}")));
                }
                a if uuid.is_none() => uuid = Some(a.to_string()),
                a => return Err(StopError::Usage(format!("unexpected argument {a:?}"))),
            }
        }
        let uuid = uuid.ok_or_else(|| StopError::Usage("the pod UUID is missing".into()))?;
        Ok(StopArgs { force, uuid })
    }
}

/// Reads the pod's PID 1 from `<pod_dir>/pid`.
pub fn read_pid(pod_dir: &Path, uuid: &str) -> Result<i32, StopError> {
    let path = pod_dir.join("pid");
    let content = match std::fs::read_to_string(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StopError::NoPid {
                uuid: uuid.to_string(),
                path,
            });
        }
        Err(source) => {
            return Err(StopError::Read {
                uuid: uuid.to_string(),
                path,
                source,
            });
        }
    };
    match content.trim().parse::<i32>() {
        Ok(pid) if pid > 1 => Ok(pid),
        _ => Err(StopError::BadPid {
            uuid: uuid.to_string(),
            path,
            content,
        }),
    }
}

/// Runs `stop` in the pod dir `pod_dir`.
pub fn main(args: &[String], pod_dir: &Path) -> Result<i32, StopError> {
    let args = StopArgs::parse(args)?;
    let pid = read_pid(pod_dir, &args.uuid)?;
    let signal = if args.force {
        libc::SIGKILL
    } else {
        libc::SIGTERM
    };
    crate::debug!("pod {}: signal {signal} to host pid {pid}", args.uuid);
    // SAFETY: kill takes plain integers.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(StopError::Kill {
            uuid: args.uuid,
            pid,
            source: io::Error::last_os_error(),
        });
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_force_and_uuid() {
        let a = StopArgs::parse(&args(&["--force", "u1"])).unwrap();
        assert_eq!(
            a,
            StopArgs {
                force: true,
                uuid: "u1".into()
            }
        );
        assert!(!StopArgs::parse(&args(&["u1"])).unwrap().force);
        assert!(StopArgs::parse(&args(&[])).is_err());
        assert!(StopArgs::parse(&args(&["--bogus", "u"])).is_err());
        assert!(StopArgs::parse(&args(&["a", "b"])).is_err());
    }

    #[test]
    fn pid_file_errors_name_the_pod_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_pid(dir.path(), "u1").unwrap_err().to_string();
        assert!(
            err.contains("pod u1") && err.contains("not running"),
            "{err}"
        );
        std::fs::write(dir.path().join("pid"), "abc").unwrap();
        let err = read_pid(dir.path(), "u1").unwrap_err().to_string();
        assert!(err.contains("\"abc\""), "{err}");
        std::fs::write(dir.path().join("pid"), "1\n").unwrap();
        assert!(
            read_pid(dir.path(), "u1").is_err(),
            "never signal the host's init"
        );
        std::fs::write(dir.path().join("pid"), "1234\n").unwrap();
        assert_eq!(read_pid(dir.path(), "u1").unwrap(), 1234);
    }
}
