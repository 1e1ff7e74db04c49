//! Registration with systemd-machined, so `machinectl list` shows the pod as `rkt-<uuid>` and
//! `machinectl terminate` stops it.
//!
//! `RegisterMachine` (not `CreateMachine`): the pod stays in the cgroup it is in, and machined
//! attributes it to the unit that process belongs to, so terminating the machine stops the unit
//! running `rkt run`, which stops the pod. Only inside a unit that is the pod's own: machined
//! refuses outside any unit (the root cgroup), and from a login shell the unit would be the
//! session's scope (or a user manager), which `machinectl terminate` would then stop whole.
//! There the pod is not registered.
//!
//! No `CreateMachine` fallback (what nspawn does without `--keep-unit`): machined would start
//! `machine.slice/machine-rkt-<uuid>.scope` and move only the leader, the pod's PID 1, into
//! it; stage1 has by then placed PID 1 in its own pod cgroup (`stage1.scope`, counted by the
//! pod's pids limit, removed by gc) and every app in its limited cgroup, which the scope would
//! not hold. Creating the scope before stage1 builds its cgroups would make the leader the
//! host-side process (whose root is the host's, not the pod's) and reorder stage1's start.
//! The call goes through `busctl` (shipped with systemd wherever machined is): no D-Bus client
//! library and no threads in stage1. Every failure is only a debug message: a pod never fails
//! because machined is absent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
const DEST: [&str; 3] = [
    "org.freedesktop.machine1",
    "/org/freedesktop/machine1",
    "org.freedesktop.machine1.Manager",
];

/// The machine name of a pod.
pub fn machine_name(uuid: &str) -> String {
    format!("rkt-{uuid}")
}

/// `busctl` on PATH, when the system bus is there to talk to.
fn busctl() -> Option<PathBuf> {
    if std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_none() && !Path::new(SYSTEM_BUS).exists() {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("busctl"))
        .find(|p| p.is_file())
}

/// The UUID's 16 bytes as busctl arguments of an `ay`; `None` unless it is a UUID.
fn uuid_bytes(uuid: &str) -> Option<Vec<String>> {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..16)
        .map(|i| {
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .ok()
                .map(|b| b.to_string())
        })
        .collect()
}

/// The busctl arguments of `RegisterMachine(name, id, "rkt", "container", leader, root)`.
fn register_args(uuid: &str, leader: i32, root: &Path) -> Option<Vec<String>> {
    let mut args: Vec<String> = ["--timeout=5", "call"]
        .into_iter()
        .chain(DEST)
        .chain(["RegisterMachine", "sayssus"])
        .map(String::from)
        .collect();
    args.push(machine_name(uuid));
    args.push("16".into());
    args.extend(uuid_bytes(uuid)?);
    args.extend(["rkt".into(), "container".into(), leader.to_string()]);
    args.push(root.to_string_lossy().into_owned());
    Some(args)
}

fn call(args: &[String]) -> bool {
    let Some(busctl) = busctl() else {
        crate::debug!("machined: no system bus or busctl, not registering");
        return false;
    };
    match Command::new(&busctl)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            crate::debug!(
                "machined: {} failed: {}",
                args.get(5).map_or("call", |s| s.as_str()),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            crate::debug!("machined: cannot run {}: {e}", busctl.display());
            false
        }
    }
}

/// Whether `unit` (ours, see [`crate::journal`]) stands for the pod: a service or a scope of
/// its own, not a login session, a user's manager or PID 1's scope; nor stage1's own pod cgroup
/// (`machine-rkt\x2d<uuid>.scope`, no unit of systemd's), which is first when rkt runs from
/// the root cgroup.
fn pod_owns(unit: &str) -> bool {
    !(unit.starts_with("session-") && unit.ends_with(".scope")
        || unit.starts_with("machine-rkt")
        || unit.starts_with("user@") && unit.ends_with(".service")
        || unit == "init.scope")
}

/// Registers the pod whose PID 1 is host pid `leader`; true when machined took it.
pub fn register(uuid: &str, leader: i32, root: &Path) -> bool {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    match crate::journal::own_unit(&cgroup) {
        Some(unit) if pod_owns(unit) => {}
        other => {
            crate::debug!("machined: not registering outside a unit of its own ({other:?})");
            return false;
        }
    }
    match register_args(uuid, leader, root) {
        Some(args) => call(&args),
        None => false,
    }
}

/// Forgets the pod (at its end, while the unit may still run); harmless when not registered.
pub fn unregister(uuid: &str) {
    let mut args: Vec<String> = ["--timeout=5", "call"]
        .into_iter()
        .chain(DEST)
        .chain(["UnregisterMachine", "s"])
        .map(String::from)
        .collect();
    args.push(machine_name(uuid));
    call(&args);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_unit_of_the_pods_own() {
        assert!(pod_owns("rkt-web.service"));
        assert!(pod_owns("run-u42.scope"));
        assert!(!pod_owns("session-3.scope"));
        assert!(!pod_owns("user@0.service"));
        assert!(!pod_owns("init.scope"));
        assert!(!pod_owns("machine-rkt\\x2d0123.scope"));
    }

    #[test]
    fn register_call_arguments() {
        let uuid = "0123abcd-0000-4000-8000-00000000ff10";
        let args = register_args(uuid, 42, Path::new("/p/stage1/rootfs")).unwrap();
        assert_eq!(args[5], "RegisterMachine");
        assert_eq!(args[6], "sayssus");
        assert_eq!(args[7], format!("rkt-{uuid}"));
        assert_eq!(args[8], "16");
        assert_eq!(&args[9..11], ["1", "35"]);
        assert_eq!(args[24], "16");
        assert_eq!(&args[25..], ["rkt", "container", "42", "/p/stage1/rootfs"]);
        assert!(register_args("not-a-uuid", 1, Path::new("/")).is_none());
    }
}
