//! Turning the manifest's `user`/`group` strings into ids, from the IMAGE's files only.
//!
//! appc resolves a name through the image's `/etc/passwd` and `/etc/group`, a number as itself,
//! and `/path` as the owner of that path in the rootfs. Everything is read through a dirfd on the
//! app root with `RESOLVE_IN_ROOT`, so a symlinked `/etc` or `/etc/passwd -> /etc/shadow` resolves
//! inside the image. libc's `getpwnam` is never used: NSS would load the image's libraries into
//! this privileged process.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// A passwd or group file larger than this is refused (images are hostile).
const MAX_DB_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("cannot open the app root {root}")]
    OpenRoot {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {file} in the app root {root}")]
    ReadFile {
        root: PathBuf,
        file: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} in the app root {root} is larger than {MAX_DB_BYTES} bytes")]
    FileTooLarge { root: PathBuf, file: &'static str },
    #[error("{kind} {name:?} is not in the image's {file}; use a number or add it to the image")]
    UnknownName {
        kind: &'static str,
        name: String,
        file: &'static str,
    },
    #[error("cannot stat {path} in the app root {root} to take its owning {kind}")]
    StatPath {
        kind: &'static str,
        root: PathBuf,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Who the app runs as, plus what the environment defaults need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub supplementary_gids: Vec<u32>,
    /// The passwd name for `uid`, when the image has one.
    pub user_name: Option<String>,
    /// The passwd home for `uid`, when the image has one.
    pub home: Option<String>,
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// One `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
}

/// `name:pw:uid:gid:gecos:home:shell` lines; comments, blanks and malformed lines are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// `name:pw:gid:members` lines; comments, blanks and malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 || f[0].is_empty() {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
            })
        })
        .collect()
}

/// An app rootfs opened once; every lookup resolves inside it.
pub struct AppRoot {
    path: PathBuf,
    fd: OwnedFd,
}

impl AppRoot {
    pub fn open(path: &Path) -> Result<AppRoot, UserError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| UserError::OpenRoot {
            root: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(AppRoot {
            path: path.to_path_buf(),
            fd,
        })
    }

    fn open_in_root(&self, path: &str, flags: OFlags) -> std::io::Result<OwnedFd> {
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let flags = flags | OFlags::CLOEXEC;
        Ok(rustix::fs::openat2(
            &self.fd,
            path,
            flags,
            Mode::empty(),
            resolve,
        )?)
    }

    /// The text of `file` (an absolute path in the image), or `None` when it does not exist.
    fn read_db(&self, file: &'static str) -> Result<Option<String>, UserError> {
        let read_err = |source| UserError::ReadFile {
            root: self.path.clone(),
            file,
            source,
        };
        let fd = match self.open_in_root(file, OFlags::RDONLY) {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_err(e)),
        };
        let mut bytes = Vec::new();
        std::fs::File::from(fd)
            .take(MAX_DB_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_DB_BYTES {
            return Err(UserError::FileTooLarge {
                root: self.path.clone(),
                file,
            });
        }
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Owner uid and gid of `path` inside the root (symlinks followed, but only inside it).
    fn owner_of(&self, kind: &'static str, path: &str) -> Result<(u32, u32), UserError> {
        let stat_err = |source| UserError::StatPath {
            kind,
            root: self.path.clone(),
            path: path.to_string(),
            source,
        };
        let fd = self.open_in_root(path, OFlags::PATH).map_err(stat_err)?;
        let st = rustix::fs::fstat(&fd).map_err(|e| stat_err(e.into()))?;
        Ok((st.st_uid, st.st_gid))
    }

    /// Resolves the spec's user, group and supplementary gids into an [`Identity`].
    pub fn resolve(
        &self,
        user: &str,
        group: &str,
        supplementary_gids: &[u32],
    ) -> Result<Identity, UserError> {
        let passwd = parse_passwd(&self.read_db("/etc/passwd")?.unwrap_or_default());
        let uid = if let Some(n) = numeric(user) {
            n
        } else if user.starts_with('/') {
            self.owner_of("user", user)?.0
        } else {
            passwd
                .iter()
                .find(|e| e.name == user)
                .map(|e| e.uid)
                .ok_or_else(|| UserError::UnknownName {
                    kind: "user",
                    name: user.to_string(),
                    file: "/etc/passwd",
                })?
        };
        let gid = self.resolve_group(group)?;
        let entry = passwd.iter().find(|e| e.uid == uid);
        Ok(Identity {
            uid,
            gid,
            supplementary_gids: supplementary_gids.to_vec(),
            user_name: entry.map(|e| e.name.clone()),
            home: entry.map(|e| e.home.clone()).filter(|h| !h.is_empty()),
        })
    }

    fn resolve_group(&self, group: &str) -> Result<u32, UserError> {
        if let Some(n) = numeric(group) {
            return Ok(n);
        }
        if group.starts_with('/') {
            return Ok(self.owner_of("group", group)?.1);
        }
        let groups = parse_group(&self.read_db("/etc/group")?.unwrap_or_default());
        groups
            .iter()
            .find(|e| e.name == group)
            .map(|e| e.gid)
            .ok_or_else(|| UserError::UnknownName {
                kind: "group",
                name: group.to_string(),
                file: "/etc/group",
            })
    }
}

/// All-digit strings are ids (rkt's order: a number is never looked up as a name).
fn numeric(s: &str) -> Option<u32> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, symlink};

    const PASSWD: &str = "# comment\nroot:x:0:0:root:/root:/bin/sh\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/sh\nbroken:x:notanumber:1::/:/bin/sh\n\
        short:x:5\nnohome:x:1001:1001:::/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:alice\nalice:x:1000:\nbad:x:y:\n";

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(dir.path().join("etc/group"), GROUP).unwrap();
        dir
    }

    fn resolve(root: &Path, user: &str, group: &str) -> Result<Identity, UserError> {
        AppRoot::open(root).unwrap().resolve(user, group, &[7, 8])
    }

    #[test]
    fn parsers_skip_comments_and_malformed_lines() {
        let names: Vec<_> = parse_passwd(PASSWD).into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["root", "alice", "nohome"]);
        let groups = parse_group(GROUP);
        assert_eq!(groups.len(), 3);
        assert_eq!(
            groups[1],
            GroupEntry {
                name: "staff".into(),
                gid: 50
            }
        );
    }

    #[test]
    fn names_resolve_through_the_images_files() {
        let root = rootfs();
        let id = resolve(root.path(), "alice", "staff").unwrap();
        assert_eq!(
            (id.uid, id.gid, id.supplementary_gids.clone()),
            (1000, 50, vec![7, 8])
        );
        assert_eq!(id.user_name.as_deref(), Some("alice"));
        assert_eq!(id.home.as_deref(), Some("/home/alice"));
    }

    #[test]
    fn numbers_are_ids_and_still_find_the_passwd_entry() {
        let root = rootfs();
        let id = resolve(root.path(), "0", "0").unwrap();
        assert_eq!((id.uid, id.gid), (0, 0));
        assert_eq!(id.user_name.as_deref(), Some("root"));
        let id = resolve(root.path(), "4242", "4243").unwrap();
        assert_eq!(
            (id.uid, id.gid, id.user_name, id.home),
            (4242, 4243, None, None)
        );
        let id = resolve(root.path(), "1001", "0").unwrap();
        assert_eq!(id.home, None, "an empty home field is no home");
    }

    #[test]
    fn unknown_names_name_the_user_and_the_file() {
        let root = rootfs();
        let err = resolve(root.path(), "mallory", "0").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("mallory") && msg.contains("/etc/passwd"),
            "{msg}"
        );
        let err = resolve(root.path(), "0", "wheel").unwrap_err();
        assert!(matches!(
            err,
            UserError::UnknownName {
                kind: "group",
                file: "/etc/group",
                ..
            }
        ));
    }

    #[test]
    fn missing_files_mean_unknown_names_not_io_errors() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(
            resolve(root.path(), "alice", "0"),
            Err(UserError::UnknownName { .. })
        ));
        assert_eq!(resolve(root.path(), "3", "4").unwrap().uid, 3);
    }

    #[test]
    fn path_form_takes_the_owner_inside_the_root() {
        let root = rootfs();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if chown(&data, Some(123), Some(456)).is_err() {
            eprintln!("skipped: needs root to chown");
            return;
        }
        let id = resolve(root.path(), "/data", "/data").unwrap();
        assert_eq!((id.uid, id.gid), (123, 456));
        // An absolute symlink resolves against the app root, not the host.
        symlink("/data", root.path().join("link")).unwrap();
        assert_eq!(resolve(root.path(), "/link", "0").unwrap().uid, 123);
        let err = resolve(root.path(), "/missing", "0").unwrap_err();
        assert!(matches!(err, UserError::StatPath { .. }));
    }

    #[test]
    fn symlinks_cannot_leave_the_root() {
        // The image's /etc/passwd points at the host's: it must resolve to the image's own
        // (missing) file, so a host-only name stays unknown.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("passwd"), "hostonly:x:0:0::/:/bin/sh\n").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        symlink(
            outside.path().join("passwd"),
            root.path().join("etc/passwd"),
        )
        .unwrap();
        assert!(matches!(
            resolve(root.path(), "hostonly", "0"),
            Err(UserError::UnknownName { .. })
        ));
        symlink("../../../../../..", root.path().join("up")).unwrap();
        let via_dotdot = format!("/up{}", outside.path().join("passwd").display());
        assert!(matches!(
            resolve(root.path(), &via_dotdot, "0"),
            Err(UserError::StatPath { .. })
        ));
    }
}
