//! The small files stage1 publishes (`pid`, `rkt/status/<app>`, `rkt/appspec/<app>.json`,
//! `rkt/supervisor-status`), the exit-code rule for a wait status, and `--debug` logging.
//!
//! Every file is written to a temporary name in the same directory and renamed over the
//! final one: readers (stage0's `status`, `enter`) never see a partial file, and the stage1
//! rootfs is a hard-link farm, so writing into an existing file would change the store.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Turns `--debug` logging (to stderr, prefixed `stage1:`) on.
pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Logs one line to stderr when `--debug` is on.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::status::debug_enabled() {
            eprintln!("stage1: {}", format_args!($($arg)*));
        }
    };
}

/// Writes `bytes` to `path` by temp file + rename (creating the parent directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StatusError> {
    let err = |source| StatusError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// Points the symlink `path` at `target`, replacing what was there (symlink + rename).
pub fn symlink_atomic(target: &str, path: &Path) -> Result<(), StatusError> {
    let err = |source| StatusError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// rkt's exit code for a `waitpid` status: the code, or 128 + the signal that killed it.
pub fn exit_code(wait_status: libc::c_int) -> i32 {
    if libc::WIFEXITED(wait_status) {
        libc::WEXITSTATUS(wait_status)
    } else if libc::WIFSIGNALED(wait_status) {
        128 + libc::WTERMSIG(wait_status)
    } else {
        // Stopped/continued are not reported (no WUNTRACED); treat anything else as failure.
        254
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status/web");
        write_atomic(&path, b"1").unwrap();
        // A hard link to the old file must keep its content (rename, not write-in-place).
        let link = dir.path().join("link");
        std::fs::hard_link(&path, &link).unwrap();
        write_atomic(&path, b"0").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0");
        assert_eq!(std::fs::read(&link).unwrap(), b"1");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("status"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["web"]);
    }

    #[test]
    fn symlink_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("supervisor-status");
        symlink_atomic("starting", &path).unwrap();
        symlink_atomic("ready", &path).unwrap();
        assert_eq!(std::fs::read_link(&path).unwrap(), Path::new("ready"));
    }

    #[test]
    fn exit_codes_from_wait_status() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(5 << 8), 5);
        assert_eq!(exit_code(libc::SIGKILL), 137);
        assert_eq!(exit_code(libc::SIGTERM), 143);
    }

    #[test]
    fn write_error_names_the_path() {
        let err = write_atomic(Path::new("/proc/nope/x"), b"1").unwrap_err();
        assert!(err.to_string().contains("/proc/nope/x"), "{err}");
    }
}
