use super::*;
use crate::metadata::TOKEN_FILE;
use crate::pod::{PodDir, Pods};

const UUID: &str = "6b1a0f3c-6a3e-4a5b-9c2d-1e2f3a4b5c6d";
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

/// A registry over a temp data dir with one registered pod in `run`.
fn setup() -> (tempfile::TempDir, Registry) {
    let tmp = tempfile::tempdir().unwrap();
    let pods = Pods::new(tmp.path()).unwrap();
    let dir = pods.state_dir(PodDir::Run).join(UUID);
    std::fs::create_dir_all(dir.join("appsinfo/web")).unwrap();
    std::fs::write(
        dir.join("pod"),
        r#"{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"web","image":{"id":"sha512-ab"}}],"annotations":[{"name":"p","value":"1"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("appsinfo/web/manifest"), r#"{"name":"img"}"#).unwrap();
    std::fs::write(dir.join(TOKEN_FILE), TOKEN).unwrap();
    let mut reg = Registry::new(tmp.path()).unwrap();
    assert_eq!(reg.rescan().unwrap(), 1);
    (tmp, reg)
}

fn get(reg: &Registry, path: &str) -> Response {
    let key = Key::from_bytes([9; 64]);
    let req = Request {
        method: "GET",
        path,
        flavor: Some(FLAVOR),
        peer: None,
        body: b"",
    };
    handle(reg, &key, &req)
}

fn post(reg: &Registry, path: &str, body: &str) -> Response {
    let key = Key::from_bytes([9; 64]);
    let req = Request {
        method: "POST",
        path,
        flavor: Some(FLAVOR),
        peer: None,
        body: body.as_bytes(),
    };
    handle(reg, &key, &req)
}

fn url(p: &str) -> String {
    format!("/{TOKEN}/acMetadata/v1/{p}")
}

#[test]
fn endpoints_serve_exact_bodies_and_types() {
    let (_tmp, reg) = setup();
    let r = get(&reg, &url("pod/uuid"));
    assert_eq!(
        (r.status, r.content_type, r.body.as_slice()),
        (200, TEXT, UUID.as_bytes())
    );
    let r = get(&reg, &url("pod/annotations"));
    assert_eq!((r.status, r.content_type), (200, JSON));
    assert_eq!(r.body, br#"[{"name":"p","value":"1"}]"#);
    let r = get(&reg, &url("pod/annotations/p"));
    assert_eq!(
        (r.status, r.content_type, r.body.as_slice()),
        (200, TEXT, &b"1"[..])
    );
    assert_eq!(get(&reg, &url("pod/annotations/q")).status, 404);
    assert_eq!(get(&reg, &url("apps/web/annotations/p")).status, 404);
    let r = get(&reg, &url("pod/manifest"));
    assert!(r.body.starts_with(br#"{"acKind":"PodManifest""#));
    let r = get(&reg, &url("apps/web/image/id"));
    assert_eq!(
        (r.content_type, r.body.as_slice()),
        (TEXT, &b"sha512-ab"[..])
    );
    let r = get(&reg, &url("apps/web/image/manifest"));
    assert_eq!(
        (r.content_type, r.body.as_slice()),
        (JSON, &br#"{"name":"img"}"#[..])
    );
    let r = get(&reg, &url("apps/web/annotations"));
    assert_eq!((r.content_type, r.body.as_slice()), (JSON, &b"null"[..]));
    assert_eq!(get(&reg, &url("apps/nope/image/id")).status, 404);
    assert_eq!(get(&reg, &url("pod/nope")).status, 404);
}

#[test]
fn unknown_tokens_and_missing_flavor_are_refused() {
    let (_tmp, reg) = setup();
    let other = "f".repeat(48);
    assert_eq!(
        get(&reg, &format!("/{other}/acMetadata/v1/pod/uuid")).status,
        403
    );
    assert_eq!(
        get(&reg, &format!("/{UUID}/acMetadata/v1/pod/uuid")).status,
        403
    );
    let key = Key::from_bytes([9; 64]);
    let u = url("pod/uuid");
    let req = Request {
        method: "GET",
        path: &u,
        flavor: None,
        peer: None,
        body: b"",
    };
    assert_eq!(handle(&reg, &key, &req).status, 400);
}

#[test]
fn sign_then_verify_and_forgery() {
    let (_tmp, reg) = setup();
    let r = post(&reg, &url("pod/hmac/sign"), "content=hello+world%21");
    assert_eq!((r.status, r.content_type), (200, TEXT));
    let sig = String::from_utf8(r.body).unwrap();
    let enc: String = sig
        .bytes()
        .map(|b| match b {
            b'+' => "%2B".to_string(),
            b'/' => "%2F".to_string(),
            b'=' => "%3D".to_string(),
            b => (b as char).to_string(),
        })
        .collect();
    let ok = format!("content=hello%20world!&uuid={UUID}&signature={enc}");
    assert_eq!(post(&reg, &url("pod/hmac/verify"), &ok).status, 200);
    let forged = format!("content=hello%20world?&uuid={UUID}&signature={enc}");
    assert_eq!(post(&reg, &url("pod/hmac/verify"), &forged).status, 403);
    assert_eq!(get(&reg, &url("pod/hmac/sign")).status, 405);
    assert_eq!(post(&reg, &url("pod/hmac/verify"), "content=x").status, 400);
}

#[test]
fn form_decoding() {
    assert_eq!(
        parse_form(b"a=1%2B2&b=x+y&c&d=%zz"),
        vec![
            (b"a".to_vec(), b"1+2".to_vec()),
            (b"b".to_vec(), b"x y".to_vec()),
            (b"c".to_vec(), b"".to_vec()),
            (b"d".to_vec(), b"%zz".to_vec()),
        ]
    );
}

#[test]
fn deregistered_pods_are_refused() {
    let (_tmp, mut reg) = setup();
    assert!(reg.deregister(UUID));
    assert_eq!(get(&reg, &url("pod/uuid")).status, 403);
}
