//! The few system calls the pod set-up needs, behind a trait so the plan can be checked
//! without root (with [`RecordingSys`]) and run for real with [`super::RealMountSys`].

use std::fmt::Write as _;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use rustix::mount::MountFlags;

/// What a created node is: the last component of a missing mount target is made as this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File,
}

/// How symlinks inside a root are treated while resolving a path in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Followed, but as if the root were `/`: absolute links and `..` never leave it.
    InRoot,
    /// Refused (the path must be made of real directories): for `/dev`, `/proc`, `/sys`.
    Never,
}

/// A node to mount on or from, held open so the mount hits exactly what was resolved.
#[derive(Debug)]
pub struct Target {
    /// What errors and logs show: the host path the node was reached by.
    pub shown: PathBuf,
    /// What the mount calls use: `/proc/self/fd/<n>` for the real thing.
    pub path: PathBuf,
    pub is_dir: bool,
    /// Keeps `path` valid while the target lives.
    pub fd: Option<OwnedFd>,
}

impl Target {
    /// A target without an fd (the recording fake).
    pub fn plain(path: PathBuf, is_dir: bool) -> Target {
        Target {
            shown: path.clone(),
            path,
            is_dir,
            fd: None,
        }
    }
}

/// The operations of the set-up. Relative paths (`rel`) are already normalized: no `..`,
/// no leading `/`, not empty.
pub trait MountSys {
    /// `mount(2)` of a fresh file system of type `fstype` on `target`.
    fn mount_fs(
        &mut self,
        fstype: &str,
        source: &str,
        target: &Target,
        flags: MountFlags,
        data: &str,
    ) -> io::Result<()>;
    /// Binds `source` on `target` (with its submounts if `recursive`), read-only from the
    /// start when `read_only` (the whole tree when also `recursive`).
    fn bind(
        &mut self,
        source: &Target,
        target: &Target,
        recursive: bool,
        read_only: bool,
    ) -> io::Result<()>;
    /// Makes the mount `target` is the root of read-only (that mount only).
    fn set_read_only(&mut self, target: &Target) -> io::Result<()>;
    /// `mount --make-rprivate path`.
    fn make_rprivate(&mut self, path: &Path) -> io::Result<()>;
    /// Opens a trusted host path (following its symlinks).
    fn open_host(&mut self, path: &Path) -> io::Result<Target>;
    /// Resolves `rel` inside `root` per `follow`. With `create`, a missing last component is
    /// made as that kind with that mode, and missing parents as 0755 directories, all inside
    /// `root`; without, a missing node is `NotFound`.
    fn open_in_root(
        &mut self,
        root: &Path,
        rel: &Path,
        follow: Follow,
        create: Option<(NodeKind, u32)>,
    ) -> io::Result<Target>;
    /// Creates the character device `name` (`major:minor`, exactly `mode`) in the directory
    /// `dir` (a fresh tmpfs the caller just mounted).
    fn mknod_char(
        &mut self,
        dir: &Target,
        name: &str,
        dev: (u32, u32),
        mode: u32,
    ) -> io::Result<()>;
    /// Creates the symlink `rel` → `link` inside `root` (parents resolved as `open_in_root`).
    fn symlink_in_root(&mut self, root: &Path, rel: &Path, link: &str) -> io::Result<()>;
    /// Creates a trusted host directory (and its parents, 0755) if missing; a directory it
    /// creates gets exactly `mode` and owner `uid:gid`; an existing one is left as it is.
    fn mkdir_host(&mut self, path: &Path, mode: u32, uid: u32, gid: u32) -> io::Result<()>;
    /// Changes the owner of a trusted host path (not following a final symlink).
    fn chown_host(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    /// Writes a trusted host file by temp file + rename (parents created 0755).
    fn write_host_file(&mut self, path: &Path, contents: &[u8]) -> io::Result<()>;
    /// The caller's terminal when stdin is one (becomes `/dev/console`).
    fn stdin_tty(&mut self) -> io::Result<Option<Target>>;
    /// Makes `new_root` (a mount point) `/`, detaches the old root, and chdirs to `/`.
    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()>;
    /// A new user namespace mapping ids `0..count` to host `shift..`, held open (its
    /// `/proc/<pid>/ns/user`), owned by the host's.
    fn user_namespace(&mut self, range: super::UidRange) -> io::Result<Target>;
    /// Binds `source` (recursively) on `target` with its ids mapped through `userns`.
    fn bind_idmapped(
        &mut self,
        source: &Target,
        target: &Target,
        userns: &Target,
    ) -> io::Result<()>;
}

/// Records every call as one line and pretends everything exists (except `missing` paths,
/// which `open_in_root` without `create` and `open_host` report as not found). For tests of
/// the plan; also handy to print what a pod would get.
#[derive(Debug, Default)]
pub struct RecordingSys {
    pub calls: Vec<String>,
    /// Paths (as `root/rel` or host paths) that do not exist.
    pub missing: Vec<PathBuf>,
    /// Host paths that are files (everything else is a directory).
    pub files: Vec<PathBuf>,
    /// Whether stdin is a terminal.
    pub tty: bool,
}

/// `MountFlags` as mount(8) spells them, for readable records.
pub fn flag_names(flags: MountFlags) -> String {
    let names = [
        (MountFlags::RDONLY, "ro"),
        (MountFlags::NOSUID, "nosuid"),
        (MountFlags::NODEV, "nodev"),
        (MountFlags::NOEXEC, "noexec"),
        (MountFlags::STRICTATIME, "strictatime"),
    ];
    let mut out = String::new();
    for (flag, name) in names {
        if flags.contains(flag) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}

impl RecordingSys {
    fn is_file(&self, path: &Path) -> bool {
        self.files.iter().any(|f| f == path)
    }
    fn not_found(&self, path: &Path) -> io::Result<()> {
        if self.missing.iter().any(|m| m == path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(())
    }
}

impl MountSys for RecordingSys {
    fn mount_fs(
        &mut self,
        fstype: &str,
        source: &str,
        target: &Target,
        flags: MountFlags,
        data: &str,
    ) -> io::Result<()> {
        let line = format!(
            "mount {fstype} {source} {} {} {data}",
            target.shown.display(),
            flag_names(flags)
        );
        self.calls.push(line);
        Ok(())
    }
    fn bind(&mut self, src: &Target, dst: &Target, rec: bool, ro: bool) -> io::Result<()> {
        let mut line = format!("bind {} {}", src.shown.display(), dst.shown.display());
        if rec {
            line.push_str(" rec");
        }
        if ro {
            line.push_str(" ro");
        }
        self.calls.push(line);
        Ok(())
    }
    fn set_read_only(&mut self, target: &Target) -> io::Result<()> {
        self.calls.push(format!("ro {}", target.shown.display()));
        Ok(())
    }
    fn make_rprivate(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("rprivate {}", path.display()));
        Ok(())
    }
    fn open_host(&mut self, path: &Path) -> io::Result<Target> {
        self.not_found(path)?;
        let is_dir = !self.is_file(path) && !path.starts_with("/dev");
        Ok(Target::plain(path.to_path_buf(), is_dir))
    }
    fn open_in_root(
        &mut self,
        root: &Path,
        rel: &Path,
        _follow: Follow,
        create: Option<(NodeKind, u32)>,
    ) -> io::Result<Target> {
        let path = root.join(rel);
        match create {
            None => {
                self.not_found(&path)?;
                Ok(Target::plain(path.clone(), !self.is_file(&path)))
            }
            Some((kind, mode)) => {
                if self.missing.iter().any(|m| m == &path) {
                    let mut line = String::new();
                    let k = if kind == NodeKind::Dir {
                        "mkdir"
                    } else {
                        "touch"
                    };
                    let _ = write!(line, "{k} {} {mode:o}", path.display());
                    self.calls.push(line);
                    self.missing.retain(|m| m != &path);
                }
                Ok(Target::plain(path, kind == NodeKind::Dir))
            }
        }
    }
    fn mknod_char(
        &mut self,
        dir: &Target,
        name: &str,
        (major, minor): (u32, u32),
        mode: u32,
    ) -> io::Result<()> {
        let path = dir.shown.join(name);
        let line = format!("mknod {} c {major}:{minor} {mode:o}", path.display());
        self.calls.push(line);
        Ok(())
    }
    fn symlink_in_root(&mut self, root: &Path, rel: &Path, link: &str) -> io::Result<()> {
        let line = format!("symlink {} -> {link}", root.join(rel).display());
        self.calls.push(line);
        Ok(())
    }
    fn mkdir_host(&mut self, path: &Path, mode: u32, uid: u32, gid: u32) -> io::Result<()> {
        let line = format!("mkdir-host {} {mode:o} {uid}:{gid}", path.display());
        self.calls.push(line);
        Ok(())
    }
    fn chown_host(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        self.calls
            .push(format!("chown-host {} {uid}:{gid}", path.display()));
        Ok(())
    }
    fn write_host_file(&mut self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(contents).replace('\n', "\\n");
        self.calls.push(format!("write {} {text}", path.display()));
        Ok(())
    }
    fn stdin_tty(&mut self) -> io::Result<Option<Target>> {
        Ok(self
            .tty
            .then(|| Target::plain(PathBuf::from("/dev/pts/7"), false)))
    }
    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()> {
        self.calls
            .push(format!("pivot_root {}", new_root.display()));
        Ok(())
    }
    fn user_namespace(&mut self, range: super::UidRange) -> io::Result<Target> {
        self.calls
            .push(format!("userns {}:{}", range.shift, range.count));
        Ok(Target::plain(PathBuf::from("/proc/userns"), false))
    }
    fn bind_idmapped(&mut self, src: &Target, dst: &Target, ns: &Target) -> io::Result<()> {
        let line = format!(
            "bind-idmapped {} {} {}",
            src.shown.display(),
            dst.shown.display(),
            ns.shown.display()
        );
        self.calls.push(line);
        Ok(())
    }
}
