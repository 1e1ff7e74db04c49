//! Support for rkt-rs's functional tests: test images around the `inspect` probe
//! ([`image`]), a private rkt world per test that runs the real `rkt` binary and cleans up
//! after itself ([`ctx::RktCtx`]), and a pseudo-terminal runner ([`pty`]).
//!
//! The static binaries come from the Makefile (`make test` exports `RKT_STAGE1_ACI`,
//! `RKT_STAGE1_BIN` and `RKT_INSPECT_BIN`); the tests that run pods need root.

pub mod ctx;
pub mod image;
pub mod pty;

use std::path::{Path, PathBuf};

pub use ctx::{Out, RktCtx, SpawnedPod};
pub use image::{ImageBuilder, InspectImage};

/// The path in env var `var`; panics naming `make test` when it is unset or missing.
pub fn env_path(var: &str) -> PathBuf {
    let Some(p) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        panic!(
            "{var} is not set: run the functional tests through `make test`, which builds the static binaries and the stage1 image and exports it"
        );
    };
    let p = PathBuf::from(p);
    assert!(
        p.exists(),
        "{var}={} does not exist: rebuild with `make test`",
        p.display()
    );
    p
}

/// Panics unless running as root: pods need namespaces and mounts.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "the functional tests run real pods and need root (euid is {euid}): run `make test` as root"
    );
}

/// The last value of `KEY=value` lines for `key` in `text`.
pub fn kv<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    all_kv(text, key).pop()
}

/// Every value of `KEY=value` lines for `key` in `text`, in order.
pub fn all_kv<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| after_escapes(l).strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// What a terminal shows of `line` last: the text after its final escape sequence (a progress
/// bar on the same pty redraws itself with `ESC [ ... K` and may share the line).
fn after_escapes(line: &str) -> &str {
    let Some(start) = line.rfind('\x1b') else {
        return line;
    };
    let rest = &line[start + 1..];
    let rest = rest.strip_prefix('[').unwrap_or(rest);
    match rest.find(|c: char| c.is_ascii_alphabetic()) {
        Some(end) => &rest[end + 1..],
        None => line,
    }
}

/// The name of a pod's cgroup (`machine-rkt\x2d<uuid with \x2d>.scope`), as stage1 makes it.
pub fn pod_scope(uuid: &str) -> String {
    format!("machine-rkt\\x2d{}.scope", uuid.replace('-', "\\x2d"))
}

/// Panics if any mounted hierarchy (v2, or each v1 controller) still holds the pod's cgroup.
pub fn assert_no_pod_cgroups(uuid: &str) {
    let scope = pod_scope(uuid);
    let root = Path::new("/sys/fs/cgroup");
    let mut bases = vec![root.to_path_buf()];
    if let Ok(dirs) = std::fs::read_dir(root) {
        bases.extend(dirs.flatten().map(|e| e.path()));
    }
    for base in bases {
        let left = base.join(&scope);
        assert!(!left.exists(), "{} left behind", left.display());
    }
}
