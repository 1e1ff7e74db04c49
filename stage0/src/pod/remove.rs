//! Deleting a pod directory like `rm -rf`, but safely: never follow a symlink, never descend
//! into another mount (a volume bind left behind would otherwise have its host content
//! deleted). Any mount at or below the pod refuses the whole deletion up front, naming the
//! mount point; the walk re-checks device and mount ID of every directory it enters in case a
//! mount appears meanwhile.

use std::ffi::{CStr, OsStr, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, Mode, OFlags, StatxFlags, openat, statx, unlinkat};

use super::{Pod, PodError, Result, io_err};

/// Where the walk started: anything on another device or mount is not ours to delete.
struct Origin {
    dev: u64,
    mnt_id: Option<u64>,
}

pub(super) fn remove_pod_tree(pod: &mut Pod) -> Result<()> {
    let path = pod.path();
    if let Some(mounted) = mounts_under(&path)?.into_iter().next() {
        return Err(PodError::Mounted {
            uuid: pod.uuid(),
            path: mounted,
        });
    }
    let origin = identify(pod.fd.as_fd(), c".", &path)?;
    let walk = Walk {
        uuid: pod.uuid(),
        origin,
    };
    // Keep the manifest until last, so a failed deletion still leaves an identifiable pod.
    walk.empty_dir(pod.fd.as_fd(), &path, Some(OsStr::new("pod")))?;
    match unlinkat(pod.fd.as_fd(), c"pod", AtFlags::empty()) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::NOENT => {}
        Err(e) => return Err(io_err("remove", path.join("pod"))(e.into())),
    }
    let parent = path
        .parent()
        .ok_or_else(|| io_err("remove", &path)(io::ErrorKind::InvalidInput.into()))?;
    let parent_fd = openat(
        rustix::fs::CWD,
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", parent)(e.into()))?;
    let name = path.file_name().unwrap_or_default();
    unlinkat(&parent_fd, name, AtFlags::REMOVEDIR)
        .map_err(|e| io_err("remove", &path)(e.into()))?;
    fsutil_sync(parent)
}

fn fsutil_sync(dir: &Path) -> Result<()> {
    crate::fsutil::sync_dir(dir).map_err(io_err("sync", dir))
}

fn identify(dirfd: impl AsFd, name: &CStr, shown: &Path) -> Result<Origin> {
    let st = statx(
        dirfd,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    )
    .map_err(|e| io_err("stat", shown)(e.into()))?;
    let mnt_id = (st.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(st.stx_mnt_id);
    Ok(Origin {
        dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
        mnt_id,
    })
}

struct Walk {
    uuid: aci::manifest::Uuid,
    origin: Origin,
}

impl Walk {
    fn check_same_mount(&self, dirfd: impl AsFd, name: &CStr, shown: &Path) -> Result<()> {
        let here = identify(dirfd, name, shown)?;
        let other_mount = matches!((here.mnt_id, self.origin.mnt_id), (Some(a), Some(b)) if a != b);
        if here.dev != self.origin.dev || other_mount {
            return Err(PodError::Mounted {
                uuid: self.uuid,
                path: shown.to_path_buf(),
            });
        }
        Ok(())
    }

    /// Delete everything inside the directory open as `dirfd` (except `keep` at this level).
    fn empty_dir(&self, dirfd: impl AsFd, shown: &Path, keep: Option<&OsStr>) -> Result<()> {
        let dirfd = dirfd.as_fd();
        let mut names: Vec<(OsString, bool)> = Vec::new();
        let dir = Dir::read_from(dirfd).map_err(|e| io_err("list", shown)(e.into()))?;
        for entry in dir {
            let entry = entry.map_err(|e| io_err("list", shown)(e.into()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." || Some(OsStr::from_bytes(name)) == keep {
                continue;
            }
            let is_dir = entry.file_type() == rustix::fs::FileType::Directory;
            names.push((OsStr::from_bytes(name).to_os_string(), is_dir));
        }
        for (name, is_dir) in names {
            self.remove_entry(dirfd, &name, is_dir, &shown.join(&name))?;
        }
        Ok(())
    }

    fn remove_entry(
        &self,
        dirfd: impl AsFd,
        name: &OsStr,
        is_dir: bool,
        shown: &Path,
    ) -> Result<()> {
        let dirfd = dirfd.as_fd();
        let cname = std::ffi::CString::new(name.as_bytes())
            .map_err(|_| io_err("remove", shown)(io::ErrorKind::InvalidInput.into()))?;
        // Files too: a file bind-mounted over (e.g. resolv.conf) is a mount point.
        self.check_same_mount(dirfd, &cname, shown)?;
        if is_dir {
            let child: OwnedFd = openat(
                dirfd,
                cname.as_c_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("open", shown)(e.into()))?;
            self.check_same_mount(&child, c".", shown)?;
            self.empty_dir(&child, shown, None)?;
            drop(child);
            unlinkat(dirfd, cname.as_c_str(), AtFlags::REMOVEDIR)
                .map_err(|e| io_err("remove", shown)(e.into()))?;
        } else {
            unlinkat(dirfd, cname.as_c_str(), AtFlags::empty())
                .map_err(|e| io_err("remove", shown)(e.into()))?;
        }
        Ok(())
    }
}

/// Mount points at or below `path` according to this process's mount table, outermost first.
pub(crate) fn mounts_under(path: &Path) -> Result<Vec<PathBuf>> {
    let real = fs::canonicalize(path).map_err(io_err("resolve", path))?;
    let table = match fs::read_to_string("/proc/self/mountinfo") {
        Ok(t) => t,
        // No /proc: the per-directory checks during the walk still apply.
        Err(_) => return Ok(Vec::new()),
    };
    let mut out: Vec<PathBuf> = table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(OsString::from_vec(unescape_mountinfo(m))))
        .filter(|m| m.starts_with(&real))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(o)) = (b[i], oct) {
            out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), b"/a b\\c".to_vec());
        assert_eq!(unescape_mountinfo(r"/plain"), b"/plain".to_vec());
        assert_eq!(unescape_mountinfo(r"/end\04"), b"/end\\04".to_vec());
    }
}
