//! The app's seccomp filter: the spec stage1 writes ([`SeccompSpec`]), the isolator → spec
//! mapping with rkt's groups ([`from_isolator`], [`default_spec`]), and the classic-BPF program
//! stage2 installs as its very last step before `execve` ([`compile`]).
//!
//! The program is written here rather than with a filter crate: `seccompiler`'s installer always
//! sets no_new_privs (rkt apps run without it unless asked), and its generated prologue checks
//! the architecture only, so the x32 numbers (`nr | 0x4000_0000`) would slip past a denylist.
//!
//! Semantics (rkt's, with Docker's default profile as the default):
//! - no isolator → [`default_spec`]: allow Docker's default set (names only, plus Docker's
//!   argument checks on `clone`, `clone3`, `socket`, `personality`), everything else `EPERM`.
//! - `os/linux/seccomp-retain-set` → allowlist; `-remove-set` → denylist. Without `errno` the
//!   blocked call kills the app with SIGSYS (rkt: systemd's default action); with it the call
//!   fails with that errno.
//! - `@appc.io/all` in a retain-set: no filter. `@appc.io/empty` alone in a remove-set: the
//!   default filter (with the set's errno, else `EPERM`).
//! - `execve`, `exit`, `exit_group` and `rt_sigreturn` are always allowed in an allowlist (the
//!   app has to start and end; systemd does the same); a denylist naming `execve` is refused.

mod bpf;
mod groups;
mod systemd;
mod x86_64;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use aci::isolator::SeccompMode;
use serde::{Deserialize, Serialize};

pub use bpf::{Action, SockFilter, install};
pub use groups::{DOCKER_DEFAULT_ALLOW, DOCKER_DEFAULT_DENY, OTHER_ARCH};
pub use x86_64::X86_64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeccompError {
    #[error("app {app}: unknown system call {name:?} in its seccomp set")]
    UnknownSyscall { app: String, name: String },
    #[error(
        "app {app}: unknown seccomp group {group:?} (known: @rkt/default-whitelist, \
         @rkt/default-blacklist, @docker/default-whitelist, @docker/default-blacklist, \
         @appc.io/all, @appc.io/empty, @systemd/{{clock,default-whitelist,mount,network-io,\
         obsolete,privileged,process,raw-io}})"
    )]
    UnknownGroup { app: String, group: String },
    #[error("app {app}: unknown errno {name:?} for its seccomp set (use a name such as EPERM)")]
    UnknownErrno { app: String, name: String },
    #[error("app {app}: seccomp errno {value} is outside 1..=4095")]
    ErrnoRange { app: String, value: i32 },
    #[error("app {app}: its seccomp remove-set blocks execve, so the app could never start")]
    ExecveBlocked { app: String },
    #[error("app {app}: the seccomp filter has {len} instructions, more than the kernel's 4096")]
    TooLarge { app: String, len: usize },
}

/// Whether the listed calls are the only ones allowed or the ones blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterMode {
    Allow,
    Deny,
}

/// The filter stage2 installs: concrete x86_64 call names (groups already expanded by stage1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompSpec {
    pub mode: FilterMode,
    pub syscalls: Vec<String>,
    /// Allow mode only: also allow Docker's argument-checked calls: `clone` without namespace
    /// flags, `socket` except AF_VSOCK, `personality` with Docker's five values, and `clone3`
    /// answered with ENOSYS (so libc falls back to the checked `clone`).
    #[serde(default)]
    pub docker_arg_filters: bool,
    /// What a blocked call returns; `None` kills the process with SIGSYS.
    #[serde(default)]
    pub errno: Option<i32>,
}

/// The number of a call in the x86_64 ABI.
pub fn syscall_number(name: &str) -> Option<i64> {
    // A map built once: the default spec alone looks up ~350 names, twice (stage1 writes and
    // checks the spec, stage2 checks and compiles it), and scanning the ~380-entry table for
    // each cost a few hundred microseconds of every pod start.
    static BY_NAME: OnceLock<HashMap<&'static str, i64>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| X86_64.iter().copied().collect())
        .get(name)
        .copied()
}

/// Whether `name` is a call of another architecture only (accepted in sets, never filtered).
fn other_arch(name: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| OTHER_ARCH.iter().copied().collect())
        .contains(name)
}

/// The filter apps get with no seccomp isolator: Docker's default allowlist, `EPERM` otherwise.
pub fn default_spec() -> SeccompSpec {
    SeccompSpec {
        mode: FilterMode::Allow,
        syscalls: x86_64_only(DOCKER_DEFAULT_ALLOW),
        docker_arg_filters: true,
        errno: Some(libc::EPERM),
    }
}

fn x86_64_only(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|n| !other_arch(n))
        .map(|n| n.to_string())
        .collect()
}

/// The spec for an app's seccomp isolator (`set` and `errno` as in the isolator); `None` means
/// no filter (`@appc.io/all`). Unknown names, groups and errnos are errors naming `app`.
pub fn from_isolator(
    app: &str,
    mode: SeccompMode,
    set: &[String],
    errno: Option<&str>,
) -> Result<Option<SeccompSpec>, SeccompError> {
    let errno =
        match errno {
            None => None,
            Some(name) => Some(aci::isolator::errno_number(name).ok_or_else(|| {
                SeccompError::UnknownErrno {
                    app: app.to_string(),
                    name: name.to_string(),
                }
            })?),
        };
    if mode == SeccompMode::Retain && set.iter().any(|s| s == "@appc.io/all") {
        return Ok(None);
    }
    if mode == SeccompMode::Remove && set.iter().all(|s| s == "@appc.io/empty") {
        return Ok(Some(SeccompSpec {
            errno: errno.or(Some(libc::EPERM)),
            ..default_spec()
        }));
    }
    let mut spec = SeccompSpec {
        mode: match mode {
            SeccompMode::Retain => FilterMode::Allow,
            SeccompMode::Remove => FilterMode::Deny,
        },
        syscalls: Vec::new(),
        docker_arg_filters: false,
        errno,
    };
    for entry in set {
        expand(app, entry, &mut spec)?;
    }
    spec.syscalls.sort();
    spec.syscalls.dedup();
    check(app, &spec)?;
    Ok(Some(spec))
}

/// Adds one set entry (a name or an `@scope/name` group) to `spec`.
fn expand(app: &str, entry: &str, spec: &mut SeccompSpec) -> Result<(), SeccompError> {
    let names: &[&str] = match entry {
        "@rkt/default-whitelist" | "@docker/default-whitelist" => {
            // In an allowlist the group brings Docker's checked calls with it.
            spec.docker_arg_filters |= spec.mode == FilterMode::Allow;
            DOCKER_DEFAULT_ALLOW
        }
        "@rkt/default-blacklist" | "@docker/default-blacklist" => DOCKER_DEFAULT_DENY,
        "@appc.io/empty" => &[],
        group if group.starts_with("@systemd/") => {
            let found = systemd::group(&group["@systemd/".len()..]);
            let Some(names) = found else {
                return Err(SeccompError::UnknownGroup {
                    app: app.to_string(),
                    group: group.to_string(),
                });
            };
            spec.syscalls.extend(x86_64_only(&names));
            return Ok(());
        }
        group if group.starts_with('@') => {
            return Err(SeccompError::UnknownGroup {
                app: app.to_string(),
                group: group.to_string(),
            });
        }
        name => {
            if syscall_number(name).is_some() {
                spec.syscalls.push(name.to_string());
            } else if !other_arch(name) {
                return Err(SeccompError::UnknownSyscall {
                    app: app.to_string(),
                    name: name.to_string(),
                });
            }
            return Ok(());
        }
    };
    spec.syscalls.extend(x86_64_only(names));
    Ok(())
}

/// The rules a spec must follow before it is compiled (stage2 re-checks what stage1 wrote).
pub fn check(app: &str, spec: &SeccompSpec) -> Result<(), SeccompError> {
    if let Some(name) = spec.syscalls.iter().find(|n| syscall_number(n).is_none()) {
        return Err(SeccompError::UnknownSyscall {
            app: app.to_string(),
            name: name.clone(),
        });
    }
    if let Some(value) = spec.errno
        && !(1..=4095).contains(&value)
    {
        return Err(SeccompError::ErrnoRange {
            app: app.to_string(),
            value,
        });
    }
    if spec.mode == FilterMode::Deny && spec.syscalls.iter().any(|n| n == "execve") {
        return Err(SeccompError::ExecveBlocked {
            app: app.to_string(),
        });
    }
    Ok(())
}

/// Calls an allowlist always lets through: the exec that starts the app and the way out.
const ALWAYS_ALLOWED: [&str; 4] = ["execve", "exit", "exit_group", "rt_sigreturn"];

/// The BPF program for `spec` (checked first; `app` names it in errors).
pub fn compile(app: &str, spec: &SeccompSpec) -> Result<Vec<SockFilter>, SeccompError> {
    check(app, spec)?;
    let block = match spec.errno {
        Some(e) => Action::Errno(e as u16),
        None => Action::KillProcess,
    };
    let mut numbers: Vec<i64> = spec
        .syscalls
        .iter()
        .filter_map(|n| syscall_number(n))
        .collect();
    let program = match spec.mode {
        FilterMode::Allow => {
            numbers.extend(ALWAYS_ALLOWED.iter().filter_map(|n| syscall_number(n)));
            numbers.sort_unstable();
            numbers.dedup();
            let checked = if spec.docker_arg_filters {
                bpf::docker_checks(block)
            } else {
                Vec::new()
            };
            bpf::program(&checked, &numbers, Action::Allow, block)
        }
        FilterMode::Deny => {
            numbers.sort_unstable();
            numbers.dedup();
            bpf::program(&[], &numbers, block, Action::Allow)
        }
    };
    if program.len() > bpf::MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLarge {
            app: app.to_string(),
            len: program.len(),
        });
    }
    Ok(program)
}

#[cfg(test)]
mod tests;
