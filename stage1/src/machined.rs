//! Registration with systemd-machined, so `machinectl list` shows the pod as `rkt-<uuid>` and
//! `machinectl terminate` stops it.
//!
//! `RegisterMachine` (not `CreateMachine`): the pod stays in the cgroup it is in, and machined
//! attributes it to the unit that process belongs to, so terminating the machine stops the unit
//! running `rkt run`, which stops the pod. Outside a unit machined refuses, which is fine.
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

/// Registers the pod whose PID 1 is host pid `leader`; true when machined took it.
pub fn register(uuid: &str, leader: i32, root: &Path) -> bool {
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
