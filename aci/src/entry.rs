//! One file system entry of an image's rootfs, as the archive reader hands it to a writer.
//!
//! This is the seam between `archive` (which parses and validates tar headers) and `extract` /
//! `render` (which write entries into a directory): neither sees the other's types.

use std::path::{Component, Path, PathBuf};

/// What kind of node an entry creates, with the data that kind needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file; its `size` bytes follow in the data reader.
    File,
    Dir,
    /// A symbolic link with its target exactly as stored (it is never followed while writing).
    Symlink(PathBuf),
    /// A hard link to an earlier entry, named by its path relative to the rootfs.
    HardLink(PathBuf),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
}

/// Everything about one entry except its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryHeader {
    /// Path relative to the rootfs (no leading `/`, no `.` or `..` components, never empty
    /// except for the rootfs directory itself).
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch.
    pub mtime: u64,
    /// Size of the data that follows (regular files only; 0 otherwise).
    pub size: u64,
    /// Extended attributes (name, value), e.g. `security.capability`.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Why a path cannot name a node inside a rootfs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path {0:?} is absolute")]
    Absolute(PathBuf),
    #[error("path {0:?} contains a '..' component")]
    ParentDir(PathBuf),
    #[error("path {0:?} contains a NUL byte")]
    Nul(PathBuf),
}

/// Normalise a path that must stay inside a root: strip `.` components, refuse absolute paths,
/// `..` and NUL bytes. The empty path (or `.`) is the root itself.
pub fn normalize_rel(path: &Path) -> Result<PathBuf, PathError> {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(PathError::Nul(path.to_path_buf()));
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::ParentDir(path.to_path_buf())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Absolute(path.to_path_buf()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rel_rules() {
        assert_eq!(
            normalize_rel(Path::new("./a/./b/")).unwrap(),
            PathBuf::from("a/b")
        );
        assert_eq!(normalize_rel(Path::new(".")).unwrap(), PathBuf::new());
        assert!(matches!(
            normalize_rel(Path::new("/etc")),
            Err(PathError::Absolute(_))
        ));
        assert!(matches!(
            normalize_rel(Path::new("a/../../b")),
            Err(PathError::ParentDir(_))
        ));
        assert!(matches!(
            normalize_rel(Path::new("a/..")),
            Err(PathError::ParentDir(_))
        ));
    }
}
