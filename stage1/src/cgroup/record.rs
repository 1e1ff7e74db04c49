//! The pod dir's `cgroups` record (see the [`super`] docs) and what reads it: `enter` joining
//! an app's cgroups, `gc` removing the pod's.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{CgroupError, Result, delegate, pod_scope_name, write as write_file};

/// The record line prefix of a [`delegate`] leaf (pod cgroup lines are absolute paths).
const SUPERVISOR_RECORD: &str = "supervisor ";

/// Writes the record: the pod's cgroup directories, then the leaf stage1 made, if any.
pub(super) fn write(record: &Path, dirs: &[&Path], own_leaf: Option<&Path>) -> Result<()> {
    let mut text = String::new();
    for dir in dirs {
        text.push_str(&dir.to_string_lossy());
        text.push('\n');
    }
    if let Some(leaf) = own_leaf {
        text.push_str(&format!("{SUPERVISOR_RECORD}{}\n", leaf.to_string_lossy()));
    }
    crate::status::write_atomic(record, text.as_bytes()).map_err(|e| CgroupError::Write {
        path: record.to_path_buf(),
        value: "the pod's cgroup list".into(),
        source: io::Error::other(e.to_string()),
    })
}

/// The pod cgroup directories listed in `record`; none when there is no record (a pod made
/// before cgroups existed, or one that never got that far).
fn read_record(record: &Path) -> Result<Vec<PathBuf>> {
    Ok(read_record_lines(record)?
        .into_iter()
        .filter(|l| l.starts_with('/'))
        .map(PathBuf::from)
        .collect())
}

/// The [`delegate`] leaves listed in `record`.
fn read_record_leaves(record: &Path) -> Result<Vec<PathBuf>> {
    Ok(read_record_lines(record)?
        .iter()
        .filter_map(|l| l.strip_prefix(SUPERVISOR_RECORD))
        .map(PathBuf::from)
        .collect())
}

fn read_record_lines(record: &Path) -> Result<Vec<String>> {
    match fs::read_to_string(record) {
        Ok(text) => Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(CgroupError::Read {
            path: record.to_path_buf(),
            source,
        }),
    }
}

/// Moves the calling process into `app`'s cgroups (for `enter`, from the host's mount
/// namespace): `<dir>/<app>/cgroup.procs` of every directory listed in `record`. Returns how
/// many it joined; a pod without a record (made before cgroups existed) joins none.
pub fn join_app(record: &Path, app: &str) -> Result<usize> {
    let dirs = read_record(record)?;
    for dir in &dirs {
        write_file(&dir.join(app).join("cgroup.procs"), "0")?;
    }
    Ok(dirs.len())
}

/// Removes the pod cgroups listed in `record` (and everything below them), deepest first, then
/// a recorded [`delegate`] leaf if empty (its processes are never killed: stage1's, or another
/// pod's of the same unit). Processes still in the pod's cgroups are killed and the removal retried for up to a second. Every listed
/// directory must be named after the pod (`uuid`). A missing record means nothing to do.
pub fn remove_recorded(record: &Path, uuid: &str) -> Result<usize> {
    let scope = pod_scope_name(uuid);
    let mut removed = 0;
    for dir in read_record(record)? {
        if dir.file_name().is_none_or(|n| n != scope.as_str()) {
            return Err(CgroupError::Foreign {
                path: dir,
                uuid: uuid.to_string(),
            });
        }
        removed += remove_tree(&dir)?;
    }
    for leaf in read_record_leaves(record)? {
        removed += usize::from(delegate::remove_leaf(&leaf, uuid)?);
    }
    Ok(removed)
}

/// Removes `dir` and its child cgroups; returns how many directories went.
pub fn remove_tree(dir: &Path) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut count = 0;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            count += remove_tree(&entry.path())?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(count + 1),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(count),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                kill_members(dir);
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// SIGKILLs every process listed in the cgroup's `cgroup.procs`.
fn kill_members(dir: &Path) {
    let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) else {
        return;
    };
    for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        if pid > 0 {
            crate::debug!("cgroup {}: killing leftover pid {pid}", dir.display());
            // SAFETY: kill takes plain integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}
