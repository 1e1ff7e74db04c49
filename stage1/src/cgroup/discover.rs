//! Which cgroup hierarchies are mounted, and where the caller sits in each.

use std::fs;
use std::path::{Path, PathBuf};

use super::{CgroupError, Hierarchy, Result, V1_USED, Version};

/// The hierarchies of a `/proc/self/mountinfo` text that the caller's `/proc/self/cgroup`
/// places it in, restricted to those the pod uses. A cgroup outside the visible part of its
/// hierarchy (a bind-mounted subtree) is skipped.
pub fn discover(mountinfo: &str, proc_cgroup: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(root), Some(mount), Some(fstype), Some(opts)) = (
            fields.get(3),
            fields.get(4),
            fields.get(sep + 1),
            fields.get(sep + 3),
        ) else {
            continue;
        };
        // A read-only hierarchy belongs to a container manager (nspawn mounts the v1
        // controllers so): no cgroup can be made there, so the pod does without it.
        if fields
            .get(5)
            .is_some_and(|o| o.split(',').any(|o| o == "ro"))
        {
            continue;
        }
        let (version, controllers) = match *fstype {
            "cgroup2" => (Version::V2, Vec::new()),
            "cgroup" => {
                let used: Vec<String> = opts
                    .split(',')
                    .filter(|o| V1_USED.contains(o))
                    .map(str::to_string)
                    .collect();
                if used.is_empty() {
                    continue;
                }
                (Version::V1, used)
            }
            _ => continue,
        };
        let Some(path) = own_path(proc_cgroup, version, &controllers) else {
            continue;
        };
        let Ok(below) = Path::new(&path).strip_prefix(root) else {
            continue;
        };
        let mount = crate::gc::unescape(mount);
        if out.iter().any(|h: &Hierarchy| h.own.starts_with(&mount)) {
            continue; // The same hierarchy mounted twice.
        }
        out.push(Hierarchy {
            version,
            controllers,
            own: mount.join(below),
            relative: PathBuf::from(path),
        });
    }
    out
}

/// The caller's path in one hierarchy, from `/proc/self/cgroup` (`id:controllers:path`).
fn own_path(proc_cgroup: &str, version: Version, controllers: &[String]) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = match version {
            Version::V2 => list.is_empty(),
            Version::V1 => {
                !list.is_empty() && controllers.iter().all(|c| list.split(',').any(|l| l == c))
            }
        };
        hit.then(|| path.to_string())
    })
}

/// The caller's `/proc/self/mountinfo`, read once per process: [`host_hierarchies`] and
/// [`host_readonly_devices`] both need it on the start path, and stage1's host side mounts
/// nothing cgroup-related in between.
static MOUNTINFO: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn host_mountinfo() -> Result<&'static str> {
    if let Some(text) = MOUNTINFO.get() {
        return Ok(text);
    }
    let path = "/proc/self/mountinfo";
    let text = fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.into(),
        source,
    })?;
    Ok(MOUNTINFO.get_or_init(|| text))
}

/// The host's hierarchies, for the calling process.
pub fn host_hierarchies() -> Result<Vec<Hierarchy>> {
    let path = "/proc/self/cgroup";
    let proc_cgroup = fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.into(),
        source,
    })?;
    Ok(discover(host_mountinfo()?, &proc_cgroup))
}

/// [`readonly_devices_hierarchy`] of the caller's mount table (false when unreadable).
pub fn host_readonly_devices() -> bool {
    host_mountinfo().is_ok_and(readonly_devices_hierarchy)
}

/// Whether a `/proc/self/mountinfo` text shows a read-only v1 `devices` hierarchy: one a
/// container manager mounted and enforces, which [`discover`] leaves out.
pub fn readonly_devices_hierarchy(mountinfo: &str) -> bool {
    mountinfo.lines().any(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            return false;
        };
        let ro = fields
            .get(5)
            .is_some_and(|o| o.split(',').any(|o| o == "ro"));
        let devices = fields.get(sep + 1) == Some(&"cgroup")
            && fields
                .get(sep + 3)
                .is_some_and(|o| o.split(',').any(|o| o == "devices"));
        ro && devices
    })
}
