//! Remote-fetch test support: a CA and server certificates made per test (rcgen), a network
//! namespace whose own hosts file resolves test names (`example.com`, ...) to its loopback
//! (`ip netns exec` bind-mounts `/etc/netns/NAME/hosts`), and a small HTTP(S)/1.1 server on
//! that loopback which logs every request and serves files with ETag, Range and
//! If-None-Match, or misbehaves on purpose (cut bodies, stalls).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use sha2::{Digest, Sha512};

use crate::support::{Run, TestEnv};

/// A test CA; its PEM is written to `ca.pem` in a temp dir for `SSL_CERT_FILE`.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    pub dir: tempfile::TempDir,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "rkt-rs test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA cert");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).expect("writing ca.pem");
        Ca { cert, key, dir }
    }

    pub fn pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server identity for `names`, signed by this CA.
    pub fn server_identity(&self, names: &[&str]) -> native_tls::Identity {
        let (params, key) = server_params(names);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("server cert");
        native_tls::Identity::from_pkcs8(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .expect("identity")
    }
}

fn server_params(names: &[&str]) -> (CertificateParams, KeyPair) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("server params");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
        .distinguished_name
        .push(DnType::CommonName, "rkt-rs test server");
    (params, KeyPair::generate().expect("server key"))
}

/// A self-signed server identity no CA vouches for.
pub fn self_signed_identity(names: &[&str]) -> native_tls::Identity {
    let (params, key) = server_params(names);
    let cert = params.self_signed(&key).expect("self-signed cert");
    native_tls::Identity::from_pkcs8(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .expect("identity")
}

static NS_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace with `lo` up and a hosts file mapping `hosts` to 127.0.0.1.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new(hosts: &[&str]) -> NetNs {
        let name = format!(
            "rktrs-{}-{}",
            std::process::id(),
            NS_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let ns = NetNs { name };
        ip(&["netns", "add", &ns.name]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        let dir = ns.etc_dir();
        std::fs::create_dir_all(&dir).expect("creating /etc/netns dir");
        let mut text = String::from("127.0.0.1 localhost\n");
        for h in hosts {
            text.push_str(&format!("127.0.0.1 {h}\n"));
        }
        std::fs::write(dir.join("hosts"), text).expect("writing the netns hosts file");
        ns
    }

    fn etc_dir(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(self.etc_dir());
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2) must be installed");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One request as the server saw it; header names lowercase.
#[derive(Debug, Clone)]
pub struct Req {
    pub host: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// True when it came over TLS.
    pub tls: bool,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A served body and its extra headers.
type Served = (Vec<u8>, Vec<(String, String)>);

/// What a site does besides serving its files.
#[derive(Default)]
pub struct Site {
    /// `host + path` (path with query) → (body, extra headers).
    files: Mutex<HashMap<String, Served>>,
    /// Cut the next full (200) answer for this key after so many body bytes.
    cut_next: Mutex<HashMap<String, usize>>,
    /// Answer these keys with headers only, then nothing for a long time.
    stall: Mutex<HashSet<String>>,
    /// Answer these keys with a body that never ends.
    endless: Mutex<HashSet<String>>,
    /// 404 the first request for these keys (a signature made on demand).
    missing_once: Mutex<HashSet<String>>,
    /// Answer every Range request for these keys with 416 (the part does not fit).
    refuse_ranges: Mutex<HashSet<String>>,
    pub log: Mutex<Vec<Req>>,
}

impl Site {
    pub fn put(&self, host_path: &str, body: impl Into<Vec<u8>>) {
        self.put_with(host_path, body, &[]);
    }

    pub fn put_with(&self, host_path: &str, body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.files
            .lock()
            .unwrap()
            .insert(host_path.to_string(), (body.into(), headers));
    }

    pub fn cut_next(&self, host_path: &str, after: usize) {
        self.cut_next
            .lock()
            .unwrap()
            .insert(host_path.to_string(), after);
    }

    pub fn refuse_ranges(&self, host_path: &str) {
        self.refuse_ranges
            .lock()
            .unwrap()
            .insert(host_path.to_string());
    }

    pub fn stall(&self, host_path: &str) {
        self.stall.lock().unwrap().insert(host_path.to_string());
    }

    pub fn endless(&self, host_path: &str) {
        self.endless.lock().unwrap().insert(host_path.to_string());
    }

    pub fn missing_once(&self, host_path: &str) {
        self.missing_once
            .lock()
            .unwrap()
            .insert(host_path.to_string());
    }

    /// Requests for `host_path`, in order.
    pub fn requests(&self, host_path: &str) -> Vec<Req> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| format!("{}{}", r.host, r.path) == host_path)
            .cloned()
            .collect()
    }

    pub fn all_requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    /// A discovery page with the given `(kind, prefix, content)` meta tags.
    pub fn discovery_page(tags: &[(&str, &str, &str)]) -> String {
        let mut html = String::from("<!DOCTYPE html>\n<html><head>\n");
        for (kind, prefix, content) in tags {
            html.push_str(&format!(
                "<meta name=\"{kind}\" content=\"{prefix} {content}\">\n"
            ));
        }
        html.push_str("</head><body>rkt-rs test</body></html>\n");
        html
    }
}

pub fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(Sha512::digest(body))[..16])
}

/// A server on 127.0.0.1:`port` inside a namespace; stops when dropped.
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(
        ns: &NetNs,
        port: u16,
        tls: Option<native_tls::Identity>,
        site: Arc<Site>,
    ) -> Server {
        let acceptor =
            tls.map(|id| Arc::new(native_tls::TlsAcceptor::new(id).expect("TLS acceptor")));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let ns_path = PathBuf::from("/run/netns").join(&ns.name);
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            // setns affects only this thread: the listener lives in the test namespace.
            let f = std::fs::File::open(&ns_path).expect("opening the netns");
            let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let listener = TcpListener::bind(("127.0.0.1", port)).expect("binding the test server");
            listener.set_nonblocking(true).expect("nonblocking");
            tx.send(()).expect("server start");
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (site, acceptor, stop) =
                            (site.clone(), acceptor.clone(), stop2.clone());
                        std::thread::spawn(move || serve_conn(stream, acceptor, &site, &stop));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("test server did not start");
        Server {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_conn(
    stream: TcpStream,
    acceptor: Option<Arc<native_tls::TlsAcceptor>>,
    site: &Site,
    stop: &AtomicBool,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    match acceptor {
        Some(a) => {
            if let Ok(s) = a.accept(stream) {
                serve(s, true, site, stop);
            }
        }
        None => serve(stream, false, site, stop),
    }
}

fn read_head(s: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 || head.len() > 65536 {
            return None;
        }
        head.push(b[0]);
    }
    String::from_utf8(head).ok()
}

fn serve(mut s: impl Read + Write, tls: bool, site: &Site, stop: &AtomicBool) {
    let Some(head) = read_head(&mut s) else {
        return;
    };
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let host = headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.split(':').next().unwrap_or("").to_string())
        .unwrap_or_default();
    let req = Req {
        host,
        path,
        headers,
        tls,
    };
    site.log.lock().unwrap().push(req.clone());
    answer(&mut s, &req, site, stop);
}

fn answer(s: &mut impl Write, req: &Req, site: &Site, stop: &AtomicBool) {
    let key = format!("{}{}", req.host, req.path);
    if site.stall.lock().unwrap().contains(&key) {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        let _ = s.flush();
        for _ in 0..600 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        return;
    }
    if site.endless.lock().unwrap().contains(&key) {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![b'<'; 65536];
        while !stop.load(Ordering::SeqCst) && s.write_all(&chunk).is_ok() {}
        return;
    }
    if site.missing_once.lock().unwrap().remove(&key) {
        return reply(s, 404, &[], b"not yet");
    }
    let Some((body, extra)) = site.files.lock().unwrap().get(&key).cloned() else {
        return reply(s, 404, &[], b"not found");
    };
    let etag = etag_of(&body);
    let mut headers = extra;
    headers.push(("ETag".into(), etag.clone()));
    if req.header("if-none-match") == Some(etag.as_str()) {
        return reply(s, 304, &headers, b"");
    }
    if req.header("range").is_some() && site.refuse_ranges.lock().unwrap().contains(&key) {
        let total = vec![(
            "Content-Range".to_string(),
            format!("bytes */{}", body.len()),
        )];
        return reply(s, 416, &total, b"");
    }
    let range_from = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| req.header("if-range").is_none_or(|t| t == etag))
        .filter(|n| *n < body.len());
    if let Some(from) = range_from {
        headers.push((
            "Content-Range".into(),
            format!("bytes {from}-{}/{}", body.len() - 1, body.len()),
        ));
        return reply(s, 206, &headers, &body[from..]);
    }
    if let Some(cut) = site.cut_next.lock().unwrap().remove(&key) {
        let _ = write_head(s, 200, &headers, body.len());
        let _ = s.write_all(&body[..cut.min(body.len())]);
        let _ = s.flush();
        return;
    }
    reply(s, 200, &headers, &body);
}

fn write_head(
    s: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    len: usize,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
}

fn reply(s: &mut impl Write, status: u16, headers: &[(String, String)], body: &[u8]) {
    let len = if status == 304 { 0 } else { body.len() };
    let _ = write_head(s, status, headers, len);
    let _ = s.write_all(&body[..len]);
    let _ = s.flush();
}

/// [`rkt_in`] with stdin, stdout and stderr on a new pseudo-terminal (util-linux `script`);
/// everything the terminal showed is in `stdout`.
pub fn rkt_in_pty(ns: &NetNs, env: &TestEnv, ca: &Ca, args: &[&str]) -> Run {
    let mut line = format!(
        "ip netns exec {} {} --dir={} --local-config={} --system-config={}",
        ns.name,
        env!("CARGO_BIN_EXE_rkt"),
        env.data_dir().display(),
        env.local_config().display(),
        env.system_config().display()
    );
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("SSL_CERT_FILE", ca.pem_path())
        .env("TERM", "xterm")
        .stdin(Stdio::null());
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(v);
    }
    let out = cmd.output().expect("running script (util-linux)");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `rkt ARGS` inside the namespace, trusting `ca` through `SSL_CERT_FILE`, without proxies.
pub fn rkt_in(ns: &NetNs, env: &TestEnv, ca: Option<&Ca>, args: &[&str]) -> Run {
    rkt_in_with(ns, env, ca, &[], args)
}

/// [`rkt_in`] with extra environment variables.
pub fn rkt_in_with(
    ns: &NetNs,
    env: &TestEnv,
    ca: Option<&Ca>,
    vars: &[(&str, &str)],
    args: &[&str],
) -> Run {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_rkt")])
        .arg(format!("--dir={}", env.data_dir().display()))
        .arg(format!("--local-config={}", env.local_config().display()))
        .arg(format!("--system-config={}", env.system_config().display()))
        .args(args)
        .stdin(Stdio::null());
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(vars.iter().copied());
    match ca {
        Some(ca) => cmd.env("SSL_CERT_FILE", ca.pem_path()),
        // A CA file trusting nothing of ours: the system store must not make the test pass.
        None => cmd.env("SSL_CERT_FILE", "/dev/null"),
    };
    let out = cmd.output().expect("running ip netns exec rkt");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
