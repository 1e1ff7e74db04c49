//! Small file system primitives the store and pods share: atomic writes and flock-based locks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// Create `dir` and its parents with `mode` (existing ones are left as they are).
pub fn create_dir_all(dir: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(mode).create(dir)
}

/// fsync a directory so a rename or unlink in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A name for a temporary file that no other process or thread will pick.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{n}-{nanos:08x}", std::process::id())
}

/// Write `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync the dir.
/// A crash leaves either the old content or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent"))?;
    let tmp = dir.join(unique_name(".tmp-"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// An advisory lock on a file, held until dropped (the fd closes, the lock goes).
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

impl FileLock {
    /// Open (creating it if needed) `path` and lock it, waiting for other holders.
    pub fn lock(path: &Path, mode: LockMode) -> io::Result<FileLock> {
        let file = Self::open(path)?;
        let op = match mode {
            LockMode::Shared => FlockOperation::LockShared,
            LockMode::Exclusive => FlockOperation::LockExclusive,
        };
        flock(&file, op)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Like [`FileLock::lock`] but fail with `WouldBlock` instead of waiting.
    pub fn try_lock(path: &Path, mode: LockMode) -> io::Result<FileLock> {
        let file = Self::open(path)?;
        Self::try_lock_file(file, path, mode)
    }

    /// Lock an already open file (a pod directory, a temp file) without waiting.
    pub fn try_lock_file(file: File, path: &Path, mode: LockMode) -> io::Result<FileLock> {
        let op = match mode {
            LockMode::Shared => FlockOperation::NonBlockingLockShared,
            LockMode::Exclusive => FlockOperation::NonBlockingLockExclusive,
        };
        flock(&file, op)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    fn open(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o640)
            .open(path)
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Give up the lock but keep the file open (for handing the fd to another stage).
    pub fn into_file(self) -> File {
        self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_content() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(t.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn exclusive_lock_excludes() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("l");
        let held = FileLock::lock(&p, LockMode::Exclusive).unwrap();
        let again = FileLock::try_lock(&p, LockMode::Shared).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        FileLock::try_lock(&p, LockMode::Shared).unwrap();
    }
}
