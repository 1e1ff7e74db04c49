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
    PendingFile::make(path, "tmp")?.publish(bytes)
}

/// The directory of `path` and a temp name beside it (`.<name>.<tag><pid>`).
fn temp_beside<'a>(path: &'a Path, tag: &str) -> (&'a Path, PathBuf) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    (
        dir,
        dir.join(format!(".{name}.{tag}{}", std::process::id())),
    )
}

/// A file published later by rename, its temp file made now. On a slow disk the new inode is
/// most of a small write's cost: made while waiting (for PID 1, for an app), the publication
/// is only a write and a rename. An unpublished temp file is removed on drop.
#[derive(Debug)]
pub struct PendingFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::fs::File>,
}

impl PendingFile {
    /// Creates the temp file next to `path` (and the parent directory).
    pub fn create(path: &Path) -> Result<PendingFile, StatusError> {
        // Its own temp name: a plain write_atomic of the same path meanwhile cannot clash.
        PendingFile::make(path, "pending")
    }

    fn make(path: &Path, tag: &str) -> Result<PendingFile, StatusError> {
        let err = |source| StatusError::Write {
            path: path.to_path_buf(),
            source,
        };
        let (dir, tmp) = temp_beside(path, tag);
        std::fs::create_dir_all(dir).map_err(err)?;
        let file = std::fs::File::create(&tmp).map_err(err)?;
        Ok(PendingFile {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// Writes `bytes` and renames the file into place.
    pub fn publish(mut self, bytes: &[u8]) -> Result<(), StatusError> {
        let done = match self.file.as_mut() {
            Some(f) => f
                .write_all(bytes)
                .and_then(|_| std::fs::rename(&self.tmp, &self.path)),
            None => Err(io::Error::other("already published")),
        };
        // Renamed: nothing left to remove on drop (a failure leaves the temp file to drop).
        if done.is_ok() {
            self.file = None;
        }
        done.map_err(|source| StatusError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Points the symlink `path` at `target`, replacing what was there (symlink + rename).
pub fn symlink_atomic(target: &str, path: &Path) -> Result<(), StatusError> {
    let err = |source| StatusError::Write {
        path: path.to_path_buf(),
        source,
    };
    let (_, tmp) = temp_beside(path, "tmp");
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

    /// Writes "1" to `status/web` under `dir`, links it as `link`, replaces it with "0" by
    /// `replace`, and checks the link kept the old content (rename, not write-in-place: the
    /// stage1 rootfs may be a hard-link farm) and that no temp file is left.
    fn replaced_by_rename(replace: impl FnOnce(&Path)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status/web");
        write_atomic(&path, b"1").unwrap();
        let link = dir.path().join("link");
        std::fs::hard_link(&path, &link).unwrap();
        replace(&path);
        assert_eq!(std::fs::read(&path).unwrap(), b"0");
        assert_eq!(std::fs::read(&link).unwrap(), b"1");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("status"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["web"]);
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        replaced_by_rename(|path| write_atomic(path, b"0").unwrap());
    }

    #[test]
    fn pending_file_is_published_by_rename_or_removed() {
        replaced_by_rename(|path| {
            let pending = PendingFile::create(path).unwrap();
            // Not there before it is published: readers go by the final name.
            assert_eq!(std::fs::read(path).unwrap(), b"1");
            let unused = PendingFile::create(&path.with_file_name("db")).unwrap();
            drop(unused);
            pending.publish(b"0").unwrap();
        });
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
