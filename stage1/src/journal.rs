//! App output to journald, named after the app.
//!
//! When the pod runs as a systemd unit whose output already goes to the journal (stdout or
//! stderr is the stream that `$JOURNAL_STREAM` names), each app gets its own two stream
//! connections to journald's [`STREAM_SOCKET`], opened by stage1's host-side process before the
//! fork: the identifier is the app's name (`journalctl -t APP`), and journald finds the unit
//! from the cgroup of the process that wrote each line (`journalctl -u UNIT`). stdout logs at
//! info, stderr at error. Anywhere else the apps keep stage1's stdout and stderr.
//!
//! journald looks a line's unit up lazily, from the writer's pid (the app's, which it receives
//! with the data, not the connecting stage1's): an app that has exited by the time journald
//! gets to its output (a pod that exits at once, a busy journald) has no cgroup left to read.
//! journald then takes the unit named in the stream's header, so that has to be the unit
//! journald would have found: the first unit below the slices, not stage1's own leaf cgroup.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// journald's socket for stdout streams.
pub const STREAM_SOCKET: &str = "/run/systemd/journal/stdout";

/// syslog priorities of the two streams.
const PRIORITY_INFO: u8 = 6;
const PRIORITY_ERR: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("app {app}: cannot open a journal stream at {STREAM_SOCKET}")]
    Connect {
        app: String,
        #[source]
        source: io::Error,
    },
}

/// The two journal streams of one app.
#[derive(Debug)]
pub struct AppLog {
    pub app: String,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Whether our own stdout or stderr is the journal stream systemd gave the unit.
pub fn under_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream
        .to_str()
        .and_then(|s| s.split_once(':'))
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)))
    else {
        return false;
    };
    ["/proc/self/fd/1", "/proc/self/fd/2"]
        .iter()
        .any(|fd| std::fs::metadata(fd).is_ok_and(|m| m.dev() == dev && m.ino() == ino))
}

/// Streams for `apps` when the pod logs to the journal; empty otherwise (or with `interactive`).
/// An app whose streams cannot be opened keeps stage1's output, with a warning.
pub fn open(apps: &[String], interactive: bool) -> Vec<AppLog> {
    if interactive || !under_journal() || !Path::new(STREAM_SOCKET).exists() {
        return Vec::new();
    }
    apps.iter()
        .filter_map(|app| match open_app(app) {
            Ok(log) => Some(log),
            Err(e) => {
                eprintln!("stage1: {}", stage2::error_chain(&e));
                None
            }
        })
        .collect()
}

fn open_app(app: &str) -> Result<AppLog, JournalError> {
    let err = |source| JournalError::Connect {
        app: app.to_string(),
        source,
    };
    let stdout = stream(app, PRIORITY_INFO).map_err(err)?;
    let stderr = stream(app, PRIORITY_ERR).map_err(err)?;
    Ok(AppLog {
        app: app.to_string(),
        stdout,
        stderr,
    })
}

/// One connection: journald's stream header, then the raw output follows.
fn stream(identifier: &str, priority: u8) -> io::Result<OwnedFd> {
    let mut s = UnixStream::connect(STREAM_SOCKET)?;
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let unit = own_unit(&cgroup).unwrap_or_default();
    s.write_all(header(identifier, unit, priority).as_bytes())?;
    // journald only reads from it: a half-closed socket tells it nothing will be asked back.
    s.shutdown(std::net::Shutdown::Read)?;
    Ok(OwnedFd::from(s))
}

/// Identifier, unit id, priority, level prefix, and no forwarding to syslog, kmsg or the
/// console. The unit id is journald's fallback for lines whose writer is gone (module doc).
fn header(identifier: &str, unit: &str, priority: u8) -> String {
    let clean = |s: &str| -> String { s.chars().filter(|c| *c != '\n').collect() };
    format!(
        "{}\n{}\n{priority}\n0\n0\n0\n0\n",
        clean(identifier),
        clean(unit)
    )
}

/// The unit a `/proc/self/cgroup` text places us in, as journald names it: the first component
/// of the v2 (`0::`) or else the v1 `name=systemd` path that is not a slice, when that is a
/// `.service` or `.scope`. Deeper components are cgroups inside that unit (stage1's
/// `machine-rkt-<uuid>.scope/stage1.scope`, or a user manager's units below `user@.service`).
pub(crate) fn own_unit(proc_cgroup: &str) -> Option<&str> {
    let v2 = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"));
    let v1 = proc_cgroup
        .lines()
        .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p));
    [v2, v1].into_iter().flatten().find_map(|path| {
        path.split('/')
            .find(|c| !c.is_empty() && !c.ends_with(".slice"))
            .filter(|c| c.ends_with(".service") || c.ends_with(".scope"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_seven_lines() {
        let h = header("web", "", PRIORITY_INFO);
        assert_eq!(h, "web\n\n6\n0\n0\n0\n0\n");
        assert_eq!(header("a\nb", "", PRIORITY_ERR).lines().next(), Some("ab"));
        assert_eq!(
            header("web", "x.service", PRIORITY_ERR),
            "web\nx.service\n3\n0\n0\n0\n0\n"
        );
    }

    #[test]
    fn the_unit_is_the_first_below_the_slices() {
        assert_eq!(
            own_unit("0::/system.slice/rkt-exit.service\n"),
            Some("rkt-exit.service")
        );
        // stage1's own leaf inside the unit (what a pod under `systemd-run` looks like).
        assert_eq!(
            own_unit("0::/system.slice/rkt-late.service/machine-rkt\\x2d1.scope/stage1.scope\n"),
            Some("rkt-late.service")
        );
        assert_eq!(
            own_unit("0::/user.slice/user-0.slice/session-3.scope/machine-rkt.scope\n"),
            Some("session-3.scope")
        );
        assert_eq!(
            own_unit("12:pids:/x\n1:name=systemd:/system.slice/a.service/b.scope\n0::/\n"),
            Some("a.service"),
            "a v2 path without a unit falls back to name=systemd"
        );
        assert_eq!(
            own_unit("1:name=systemd:/system.slice/a.service/b.scope\n"),
            Some("a.service")
        );
        assert_eq!(own_unit("0::/user.slice\n"), None);
        assert_eq!(own_unit("0::/machine-rkt.scope-not-a-unit/x\n"), None);
        assert_eq!(own_unit("0::/rkt-ft-systemd-1/payload\n"), None);
    }

    #[test]
    fn nothing_without_a_journal_stream() {
        // The test runner's output is not a journal stream.
        // SAFETY: no other test in this module reads JOURNAL_STREAM.
        unsafe { std::env::set_var("JOURNAL_STREAM", "1:1") };
        assert!(!under_journal());
        assert!(open(&["a".into()], false).is_empty());
        unsafe { std::env::remove_var("JOURNAL_STREAM") };
        assert!(!under_journal());
    }
}
