//! Registration over the service's unix socket (mode 0600: root only). One JSON line each way:
//! `{"op":"register","uuid":U}` → `{"ok":true,"port":P}`;
//! `{"op":"deregister","uuid":U}` → `{"ok":true}`; failures → `{"ok":false,"error":E}`.
//! The service reads the pod's token and manifests from its own data dir, so a client can
//! only name pods that exist there.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::registry::Registry;
use super::{MetadataError, Result, TOKEN_FILE};
use crate::pod::Pod;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    Register { uuid: String },
    Deregister { uuid: String },
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Applies one request line to the registry.
pub fn answer(registry: &Mutex<Registry>, port: u16, line: &str) -> Reply {
    let fail = |e: String| Reply {
        ok: false,
        error: Some(e),
        ..Reply::default()
    };
    let op: Op = match serde_json::from_str(line) {
        Ok(op) => op,
        Err(e) => return fail(format!("bad request: {e}")),
    };
    let Ok(mut reg) = registry.lock() else {
        return fail("registry unavailable".into());
    };
    match op {
        Op::Register { uuid } => match reg.register(&uuid) {
            Ok(()) => Reply {
                ok: true,
                port: Some(port),
                error: None,
            },
            Err(e) => fail(e.to_string()),
        },
        Op::Deregister { uuid } => {
            if reg.deregister(&uuid) {
                tracing::info!("metadata service: deregistered pod {uuid}");
            }
            Reply {
                ok: true,
                ..Reply::default()
            }
        }
    }
}

/// Serves registrations on `listener` until it fails.
pub fn serve_unix(listener: UnixListener, registry: Arc<Mutex<Registry>>, port: u16) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let registry = Arc::clone(&registry);
        std::thread::spawn(move || {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(&conn);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                return;
            }
            let reply = answer(&registry, port, line.trim());
            let mut text = serde_json::to_string(&reply).unwrap_or_default();
            text.push('\n');
            let _ = (&conn).write_all(text.as_bytes());
        });
    }
}

fn call(socket: &Path, op: &Op) -> Result<Reply> {
    let conn = UnixStream::connect(socket).map_err(|source| MetadataError::NotRunning {
        socket: socket.to_path_buf(),
        source,
    })?;
    let io = |source: std::io::Error| MetadataError::Io {
        action: "talk to the metadata service at",
        path: socket.to_path_buf(),
        source,
    };
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let mut text = serde_json::to_string(op).map_err(|e| io(std::io::Error::other(e)))?;
    text.push('\n');
    (&conn).write_all(text.as_bytes()).map_err(io)?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).map_err(io)?;
    let reply: Reply = serde_json::from_str(line.trim()).map_err(|_| MetadataError::BadReply {
        socket: socket.to_path_buf(),
        reply: line.clone(),
    })?;
    if !reply.ok {
        return Err(MetadataError::Refused {
            socket: socket.to_path_buf(),
            message: reply.error.unwrap_or_else(|| "refused".into()),
        });
    }
    Ok(reply)
}

/// Registers the pod `uuid`; returns the service's HTTP port.
pub fn register(socket: &Path, uuid: &str) -> Result<u16> {
    let reply = call(
        socket,
        &Op::Register {
            uuid: uuid.to_string(),
        },
    )?;
    reply.port.ok_or_else(|| MetadataError::BadReply {
        socket: socket.to_path_buf(),
        reply: "no port in the reply".into(),
    })
}

pub fn deregister(socket: &Path, uuid: &str) -> Result<()> {
    call(
        socket,
        &Op::Deregister {
            uuid: uuid.to_string(),
        },
    )
    .map(|_| ())
}

/// gc's step: deregisters `pod` if it was registered (it has a token). A service that is not
/// running has nothing to forget, so that is not an error.
pub fn deregister_pod(pod: &Pod) -> Result<()> {
    if !pod.path().join(TOKEN_FILE).exists() {
        return Ok(());
    }
    match deregister(&super::socket_path(), &pod.uuid().to_string()) {
        Err(MetadataError::NotRunning { .. }) => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_one_json_object_each() {
        let op = Op::Register { uuid: "u".into() };
        assert_eq!(
            serde_json::to_string(&op).unwrap(),
            r#"{"op":"register","uuid":"u"}"#
        );
        let back: Op = serde_json::from_str(r#"{"op":"deregister","uuid":"x"}"#).unwrap();
        assert_eq!(back, Op::Deregister { uuid: "x".into() });
    }

    #[test]
    fn answers_name_the_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = Mutex::new(Registry::new(tmp.path()).unwrap());
        let r = answer(&reg, 1, "nonsense");
        assert!(!r.ok && r.error.unwrap().contains("bad request"));
        let r = answer(&reg, 1, r#"{"op":"register","uuid":"not-a-uuid"}"#);
        assert!(!r.ok && r.error.unwrap().contains("not a pod UUID"));
        let u = "6b1a0f3c-6a3e-4a5b-9c2d-1e2f3a4b5c6d";
        let r = answer(&reg, 1, &format!(r#"{{"op":"register","uuid":"{u}"}}"#));
        assert!(!r.ok && r.error.unwrap().contains("same --dir"));
        let r = answer(&reg, 1, &format!(r#"{{"op":"deregister","uuid":"{u}"}}"#));
        assert!(r.ok);
    }

    #[test]
    fn a_missing_service_is_named_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let err = register(&tmp.path().join("none.sock"), "u").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("not running") && msg.contains("rkt metadata-service"),
            "{msg}"
        );
    }
}
