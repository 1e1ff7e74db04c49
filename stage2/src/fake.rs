//! A [`Sys`] that records every call instead of making it, for tests of the launch order here
//! and in stage1.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::process::Resource;

use crate::seccomp::SockFilter;
use crate::sys::Sys;

/// One recorded call, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    UnshareMountNs,
    MakeRslave(PathBuf),
    BindRecursive(PathBuf, PathBuf),
    RemountReadonly(PathBuf),
    Chdir(PathBuf),
    PivotRoot(PathBuf, PathBuf),
    UmountDetach(PathBuf),
    Getcwd,
    OomScoreAdj(i32),
    Setrlimit(Resource, u64, u64),
    DropBoundingCap(u32),
    Setgroups(Vec<u32>),
    Setresgid(u32),
    Setresuid(u32),
    SetCapabilities {
        effective: u64,
        permitted: u64,
        inheritable: u64,
    },
    ClearAmbient,
    SetNoNewPrivs,
    CloseFds(Vec<i32>),
    OpenUserNs(PathBuf),
    JoinUserNs,
    /// The installed filter's length in instructions.
    InstallSeccomp(usize),
    Execve {
        path: String,
        argv: Vec<String>,
        envp: Vec<String>,
    },
}

/// Records calls; `execve` succeeds only for paths in `executables`, `getcwd` answers `cwd`
/// (or the last `chdir` target when `cwd` is `None`), and `fail` makes the first call that
/// matches it fail with `EPERM`.
pub struct RecordingSys {
    pub calls: Vec<Call>,
    pub executables: Vec<PathBuf>,
    pub last_cap: u32,
    pub cwd: Option<PathBuf>,
    pub fail: Option<fn(&Call) -> bool>,
}

impl Default for RecordingSys {
    fn default() -> Self {
        RecordingSys {
            calls: Vec::new(),
            executables: Vec::new(),
            last_cap: 40,
            cwd: None,
            fail: None,
        }
    }
}

impl RecordingSys {
    fn record(&mut self, call: Call) -> io::Result<()> {
        let fails = self.fail.is_some_and(|f| f(&call));
        self.calls.push(call);
        if fails {
            self.fail = None;
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    }

    /// The recorded calls without the bounding-set drops (too many to list in a test).
    pub fn calls_without_drops(&self) -> Vec<Call> {
        self.calls
            .iter()
            .filter(|c| !matches!(c, Call::DropBoundingCap(_)))
            .cloned()
            .collect()
    }
}

fn lossy(s: &CStr) -> String {
    s.to_string_lossy().into_owned()
}

impl Sys for RecordingSys {
    fn open_user_ns(&mut self, path: &Path) -> io::Result<OwnedFd> {
        self.record(Call::OpenUserNs(path.to_path_buf()))?;
        // Any fd will do: the fake never joins it.
        Ok(std::fs::File::open("/dev/null")?.into())
    }
    fn join_user_ns(&mut self, _fd: &OwnedFd) -> io::Result<()> {
        self.record(Call::JoinUserNs)
    }
    fn unshare_mount_ns(&mut self) -> io::Result<()> {
        self.record(Call::UnshareMountNs)
    }
    fn make_rslave(&mut self, path: &Path) -> io::Result<()> {
        self.record(Call::MakeRslave(path.into()))
    }
    fn bind_recursive(&mut self, src: &Path, dst: &Path) -> io::Result<()> {
        self.record(Call::BindRecursive(src.into(), dst.into()))
    }
    fn remount_readonly(&mut self, path: &Path) -> io::Result<()> {
        self.record(Call::RemountReadonly(path.into()))
    }
    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        self.record(Call::Chdir(path.into()))
    }
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        self.record(Call::PivotRoot(new_root.into(), put_old.into()))
    }
    fn umount_detach(&mut self, path: &Path) -> io::Result<()> {
        self.record(Call::UmountDetach(path.into()))
    }
    fn getcwd(&mut self) -> io::Result<PathBuf> {
        self.record(Call::Getcwd)?;
        let last_chdir = self.calls.iter().rev().find_map(|c| match c {
            Call::Chdir(p) => Some(p.clone()),
            _ => None,
        });
        Ok(self
            .cwd
            .clone()
            .or(last_chdir)
            .unwrap_or_else(|| "/".into()))
    }
    fn set_oom_score_adj(&mut self, value: i32) -> io::Result<()> {
        self.record(Call::OomScoreAdj(value))
    }
    fn setrlimit(&mut self, resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
        self.record(Call::Setrlimit(resource, soft, hard))
    }
    fn drop_bounding_cap(&mut self, cap: u32) -> io::Result<()> {
        if cap > self.last_cap {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.record(Call::DropBoundingCap(cap))
    }
    fn setgroups(&mut self, gids: &[u32]) -> io::Result<()> {
        self.record(Call::Setgroups(gids.to_vec()))
    }
    fn setresgid(&mut self, gid: u32) -> io::Result<()> {
        self.record(Call::Setresgid(gid))
    }
    fn setresuid(&mut self, uid: u32) -> io::Result<()> {
        self.record(Call::Setresuid(uid))
    }
    fn set_capabilities(
        &mut self,
        effective: u64,
        permitted: u64,
        inheritable: u64,
    ) -> io::Result<()> {
        self.record(Call::SetCapabilities {
            effective,
            permitted,
            inheritable,
        })
    }
    fn clear_ambient(&mut self) -> io::Result<()> {
        self.record(Call::ClearAmbient)
    }
    fn set_no_new_privs(&mut self) -> io::Result<()> {
        self.record(Call::SetNoNewPrivs)
    }
    fn install_seccomp(&mut self, program: &[SockFilter]) -> io::Result<()> {
        self.record(Call::InstallSeccomp(program.len()))
    }
    fn close_fds(&mut self, keep: &[i32]) -> io::Result<()> {
        self.record(Call::CloseFds(keep.to_vec()))
    }
    fn execve(&mut self, path: &CStr, argv: &[CString], envp: &[CString]) -> io::Result<()> {
        let path_s = lossy(path);
        self.record(Call::Execve {
            path: path_s.clone(),
            argv: argv.iter().map(|a| lossy(a)).collect(),
            envp: envp.iter().map(|e| lossy(e)).collect(),
        })?;
        if self
            .executables
            .iter()
            .any(|p| p.as_os_str() == path_s.as_str())
        {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::ENOENT))
        }
    }
}
