//! cgroup2 under a delegated unit (`systemd-run -p Delegate=yes rkt run ...`).
//!
//! systemd hands the unit its controllers in the unit's `cgroup.controllers` but leaves its
//! `cgroup.subtree_control` empty, and v2 forbids enabling controllers for the children of a
//! cgroup that holds processes: stage1's own process (the unit's main process) is in it. So
//! when the caller's cgroup is not the root, holds no process but us, and offers controllers
//! it has not enabled for its children, stage1 moves itself into the leaf
//! `<caller>/`[`SUPERVISOR_LEAF`] (one migration, only then) and enables every offered
//! controller; the pod's scope, a sibling of the leaf, then gets them. The leaf is recorded in
//! the pod's `cgroups` file when stage1 made it; `gc` removes it once empty.
//!
//! A requested limit that no hierarchy can enforce (the controller was not delegated) fails
//! the start ([`check_enforceable`]) instead of running the app unlimited.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::limits::AppLimits;
use super::{CgroupError, Hierarchy, Result, Version, read_controllers, write};

/// The leaf holding stage1's host-side process when it had to leave the caller's cgroup.
pub const SUPERVISOR_LEAF: &str = "supervisor";

/// The leaf stage1 must move into before the pod's cgroups are made, if any: see the module
/// docs. `me` is our pid as the cgroup tree shows it.
pub fn plan(h: &Hierarchy, me: u32) -> Result<Option<PathBuf>> {
    if h.version != Version::V2 || h.relative == Path::new("/") {
        return Ok(None);
    }
    let offered = read_controllers(&h.own.join("cgroup.controllers"))?;
    let enabled = read_controllers(&h.own.join("cgroup.subtree_control"))?;
    if offered.iter().all(|c| enabled.contains(c)) {
        return Ok(None);
    }
    let procs_path = h.own.join("cgroup.procs");
    let procs = fs::read_to_string(&procs_path).map_err(|source| CgroupError::Read {
        path: procs_path.clone(),
        source,
    })?;
    let others = procs
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .any(|pid| pid != me);
    if others {
        // Moving only ourselves would not empty it: enabling would still fail.
        crate::debug!(
            "cgroup {}: other processes share it; its controllers stay as they are",
            h.own.display()
        );
        return Ok(None);
    }
    Ok(Some(h.own.join(SUPERVISOR_LEAF)))
}

/// Moves the calling process into `leaf` (made if missing) and enables on `parent` (the
/// caller's cgroup) each controller it offers. One controller per write: one that cannot be
/// enabled (cpu with real-time threads about) must not hold back the others.
pub fn enter(parent: &Path, leaf: &Path) -> Result<()> {
    super::mkdir(leaf)?;
    write(&leaf.join("cgroup.procs"), "0")?;
    let offered = read_controllers(&parent.join("cgroup.controllers"))?;
    let enabled = read_controllers(&parent.join("cgroup.subtree_control"))?;
    for c in offered.iter().filter(|c| !enabled.contains(c)) {
        let file = parent.join("cgroup.subtree_control");
        if let Err(e) = fs::write(&file, format!("+{c}")) {
            crate::debug!("cgroup {}: cannot enable {c}: {e}", parent.display());
        }
    }
    Ok(())
}

/// The controllers an app's limits need.
fn needed(lim: &AppLimits) -> Vec<&'static str> {
    let mut out = Vec::new();
    if lim.memory.is_some() {
        out.push("memory");
    }
    if lim.cpu_milli.is_some() || lim.cpu_shares.is_some() {
        out.push("cpu");
    }
    out
}

/// Fails when an app asks for a limit no hierarchy enforces: no v1 hierarchy carries the
/// controller and the v2 pod cannot enable it (`v2_enabled`).
pub fn check_enforceable(
    hierarchies: &[Hierarchy],
    v2_enabled: &[String],
    apps: &[(String, AppLimits)],
) -> Result<()> {
    for (app, lim) in apps {
        for controller in needed(lim) {
            let enforced = hierarchies.iter().any(|h| match h.version {
                Version::V1 => h.has(controller),
                Version::V2 => v2_enabled.iter().any(|c| c == controller),
            });
            if !enforced {
                let cgroup = hierarchies
                    .iter()
                    .find(|h| h.version == Version::V2)
                    .map(|h| h.own.clone())
                    .unwrap_or_else(|| PathBuf::from("(no cgroup hierarchy mounted)"));
                return Err(CgroupError::NotDelegated {
                    app: app.clone(),
                    controller,
                    cgroup,
                });
            }
        }
    }
    Ok(())
}

/// Removes a recorded supervisor leaf when it is empty; one still in use (another pod's stage1
/// of the same unit) stays. Returns whether it went.
pub fn remove_leaf(leaf: &Path, uuid: &str) -> Result<bool> {
    if leaf.file_name().is_none_or(|n| n != SUPERVISOR_LEAF) {
        return Err(CgroupError::Foreign {
            path: leaf.to_path_buf(),
            uuid: uuid.to_string(),
        });
    }
    match fs::remove_dir(leaf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            crate::debug!("cgroup {}: still in use; left in place", leaf.display());
            Ok(false)
        }
        Err(source) => Err(CgroupError::Remove {
            path: leaf.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(own: &Path, relative: &str) -> Hierarchy {
        Hierarchy {
            version: Version::V2,
            controllers: Vec::new(),
            own: own.to_path_buf(),
            relative: relative.into(),
        }
    }

    #[test]
    fn plans_a_leaf_only_for_a_lone_process_with_offered_controllers() {
        let tmp = tempfile::tempdir().unwrap();
        let own = tmp.path();
        fs::write(own.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        fs::write(own.join("cgroup.subtree_control"), "\n").unwrap();
        fs::write(own.join("cgroup.procs"), "42\n").unwrap();
        let h = v2(own, "/system.slice/x.service");
        assert_eq!(plan(&h, 42).unwrap(), Some(own.join(SUPERVISOR_LEAF)));
        assert_eq!(plan(&v2(own, "/"), 42).unwrap(), None, "the root");
        assert_eq!(plan(&h, 7).unwrap(), None, "another process is there");
        fs::write(own.join("cgroup.subtree_control"), "cpu memory pids\n").unwrap();
        assert_eq!(plan(&h, 42).unwrap(), None, "already enabled");
    }

    #[test]
    fn unenforceable_limits_name_the_controller_and_the_fix() {
        let h = v2(Path::new("/sys/fs/cgroup/system.slice/x.service"), "/x");
        let lim = AppLimits {
            memory: Some(1 << 25),
            ..AppLimits::default()
        };
        let apps = [("web".to_string(), lim)];
        let err = check_enforceable(std::slice::from_ref(&h), &[], &apps)
            .unwrap_err()
            .to_string();
        assert!(err.contains("web") && err.contains("memory"), "{err}");
        assert!(
            err.contains("Delegate=yes") && err.contains("x.service"),
            "{err}"
        );
        assert!(check_enforceable(std::slice::from_ref(&h), &["memory".into()], &apps).is_ok());
        let v1 = Hierarchy {
            version: Version::V1,
            controllers: vec!["memory".into()],
            ..h.clone()
        };
        assert!(check_enforceable(&[v1, h.clone()], &[], &apps).is_ok());
        let none = [("db".to_string(), AppLimits::default())];
        assert!(check_enforceable(&[h], &[], &none).is_ok());
    }

    #[test]
    fn removes_only_an_empty_supervisor_leaf() {
        let tmp = tempfile::tempdir().unwrap();
        let leaf = tmp.path().join(SUPERVISOR_LEAF);
        fs::create_dir(&leaf).unwrap();
        assert!(remove_leaf(&leaf, "u").unwrap());
        assert!(!remove_leaf(&leaf, "u").unwrap(), "already gone");
        assert!(
            remove_leaf(tmp.path(), "u").is_err(),
            "not a supervisor leaf"
        );
    }
}
