//! The metadata API (appc.md §10) as a pure function, and the blocking HTTP loop around it.
//!
//! URL layout: `/<token>/acMetadata/v1/<path>`; the token picks the pod, so a pod can only
//! ever read its own data. Requests must carry `Metadata-Flavor: AppContainer` (a browser or
//! a confused proxy inside the pod cannot set it by accident).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use aci::manifest::Uuid;

use super::hmac::Key;
use super::registry::{PodData, Registry};

pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain; charset=us-ascii";
pub const FLAVOR_HEADER: &str = "Metadata-Flavor";
pub const FLAVOR: &str = "AppContainer";

/// One request, as the handler needs it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path without the query.
    pub path: &'a str,
    pub flavor: Option<&'a str>,
    pub peer: Option<IpAddr>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    fn error(status: u16, message: &str) -> Response {
        Response::new(status, TEXT, message)
    }
}

/// Answers `req`.
pub fn handle(registry: &Registry, key: &Key, req: &Request) -> Response {
    let Some(rest) = req.path.strip_prefix('/') else {
        return Response::error(404, "not found");
    };
    let (token, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(path) = rest.strip_prefix("acMetadata/v1/") else {
        return Response::error(404, "not found: paths are /<token>/acMetadata/v1/...");
    };
    if req.flavor != Some(FLAVOR) {
        return Response::error(400, "missing header Metadata-Flavor: AppContainer");
    }
    let Some(pod) = registry.lookup(token, req.peer) else {
        return Response::error(403, "unknown pod token");
    };
    let parts: Vec<&str> = path.split('/').collect();
    match (req.method, parts.as_slice()) {
        ("GET", ["pod", "annotations"]) => Response::new(200, JSON, pod.annotations.clone()),
        ("GET", ["pod", "annotations", name]) => annotation(&pod.annotations, name),
        ("GET", ["pod", "manifest"]) => Response::new(200, JSON, pod.manifest.clone()),
        ("GET", ["pod", "uuid"]) => Response::new(200, TEXT, pod.uuid.to_string()),
        ("GET", ["apps", app, rest @ ..]) => app_get(pod, app, rest),
        ("POST", ["pod", "hmac", "sign"]) => sign(pod, key, req.body),
        ("POST", ["pod", "hmac", "verify"]) => verify(key, req.body),
        (_, ["pod", "hmac", _]) => Response::error(405, "use POST"),
        _ => Response::error(404, "not found"),
    }
}

fn app_get(pod: &PodData, app: &str, rest: &[&str]) -> Response {
    let Some(data) = pod.apps.get(app) else {
        return Response::error(404, "no such app in this pod");
    };
    match rest {
        ["annotations"] => Response::new(200, JSON, data.annotations.clone()),
        ["annotations", name] => annotation(&data.annotations, name),
        ["image", "manifest"] => Response::new(200, JSON, data.image_manifest.clone()),
        ["image", "id"] => Response::new(200, TEXT, data.image_id.clone()),
        _ => Response::error(404, "not found"),
    }
}

/// rkt's extension: one annotation's value as text, from an `annotations` JSON array.
fn annotation(annotations: &[u8], name: &str) -> Response {
    let list: Vec<serde_json::Value> = serde_json::from_slice(annotations).unwrap_or_default();
    let value = list
        .iter()
        .find(|a| a.get("name").and_then(|n| n.as_str()) == Some(name))
        .and_then(|a| a.get("value").and_then(|v| v.as_str()));
    match value {
        Some(v) => Response::new(200, TEXT, v),
        None => Response::error(404, "no such annotation"),
    }
}

fn sign(pod: &PodData, key: &Key, body: &[u8]) -> Response {
    let form = parse_form(body);
    match form_value(&form, "content") {
        Some(content) => Response::new(200, TEXT, key.sign(&pod.uuid, content)),
        None => Response::error(400, "form field content is missing"),
    }
}

fn verify(key: &Key, body: &[u8]) -> Response {
    let form = parse_form(body);
    let (Some(content), Some(uuid), Some(sig)) = (
        form_value(&form, "content"),
        form_value(&form, "uuid"),
        form_value(&form, "signature"),
    ) else {
        return Response::error(400, "form fields content, uuid and signature are required");
    };
    let Some(uuid) = std::str::from_utf8(uuid)
        .ok()
        .and_then(|u| u.parse::<Uuid>().ok())
    else {
        return Response::error(400, "uuid is not a UUID");
    };
    let sig = String::from_utf8_lossy(sig);
    if key.verify(&uuid, content, &sig) {
        Response::new(200, TEXT, "")
    } else {
        Response::error(403, "signature does not match")
    }
}

fn form_value<'a>(form: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    form.iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| v.as_slice())
}

/// `application/x-www-form-urlencoded` pairs (bytes: content need not be UTF-8).
pub fn parse_form(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = it.next().unwrap_or_default();
            let v = it.next().unwrap_or_default();
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = std::str::from_utf8(&s[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Serves `server` until it fails, answering each request on its own thread (a slow client
/// must not hold up the others).
pub fn serve_http(server: Arc<tiny_http::Server>, registry: Arc<Mutex<Registry>>, key: Arc<Key>) {
    for mut request in server.incoming_requests() {
        let registry = Arc::clone(&registry);
        let key = Arc::clone(&key);
        std::thread::spawn(move || {
            let mut body = Vec::new();
            let limited = std::io::Read::take(request.as_reader(), 1 << 20);
            let _ = std::io::Read::read_to_end(&mut { limited }, &mut body);
            let url = request.url().to_string();
            let path = url.split('?').next().unwrap_or_default();
            let flavor = request
                .headers()
                .iter()
                .find(|h| h.field.equiv(FLAVOR_HEADER))
                .map(|h| h.value.as_str().to_string());
            let method = request.method().as_str().to_string();
            let req = Request {
                method: &method,
                path,
                flavor: flavor.as_deref(),
                peer: request.remote_addr().map(|a| a.ip()),
                body: &body,
            };
            let resp = match registry.lock() {
                Ok(r) => handle(&r, &key, &req),
                Err(_) => Response::error(500, "registry unavailable"),
            };
            let header =
                tiny_http::Header::from_bytes(&b"Content-Type"[..], resp.content_type.as_bytes());
            let mut out = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
            if let Ok(h) = header {
                out = out.with_header(h);
            }
            if let Err(e) = request.respond(out) {
                tracing::debug!("metadata service: cannot answer: {e}");
            }
        });
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
