//! `docker://` from a real registry on loopback (Debian's docker-registry, distribution 2.8):
//! TLS with a CA the test makes, htpasswd (basic) auth, images pushed with skopeo.

mod oci_support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use functional_tests::ctx::{TIMEOUT, output};
use functional_tests::{Out, RktCtx};
use oci_support::*;

const USER: &str = "tester";
const PASSWORD: &str = "s3cret-pw";

/// A registry process, killed (by its pid) when dropped.
struct Registry {
    child: Child,
    port: u16,
    root: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().expect("running a test tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn make_certs(dir: &Path) {
    let o = |args: &[&str]| sh(Command::new("openssl").current_dir(dir).args(args));
    o(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=rkt-rs test CA",
    ]);
    o(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    o(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

fn start_registry(dir: &Path, tls: bool) -> Registry {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let root = dir.join("storage");
    let mut cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
         http:\n  addr: 127.0.0.1:{port}\n",
        root.display()
    );
    if tls {
        make_certs(dir);
        let out = Command::new("htpasswd")
            .args(["-Bbn", USER, PASSWORD])
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(dir.join("htpasswd"), out.stdout).unwrap();
        cfg += &format!(
            "  tls:\n    certificate: {d}/server.crt\n    key: {d}/server.key\n\
             auth:\n  htpasswd:\n    realm: rkt-rs-test\n    path: {d}/htpasswd\n",
            d = dir.display()
        );
    }
    std::fs::write(dir.join("config.yml"), cfg).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting docker-registry (`make deps` installs it)");
    let reg = Registry { child, port, root };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    reg
}

fn push(reg: &Registry, layout: &Path, name: &str, tls: bool) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--quiet", "--dest-tls-verify=false"]);
    if tls {
        cmd.arg(format!("--dest-creds={USER}:{PASSWORD}"));
    }
    cmd.arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://127.0.0.1:{}/{name}", reg.port));
    sh(&mut cmd);
}

fn auth_config(ctx: &RktCtx, port: u16, password: &str) {
    let dir = ctx.local_config().join("auth.d");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = serde_json::json!({"rktKind": "dockerAuth", "rktVersion": "v1",
        "registries": [format!("127.0.0.1:{port}")],
        "credentials": {"user": USER, "password": password}});
    std::fs::write(dir.join("registry.json"), conf.to_string()).unwrap();
}

fn rkt_run(ctx: &RktCtx, ca: Option<&Path>, insecure: &str, image: &str) -> Out {
    let mut cmd = ctx.command(&[
        &format!("--insecure-options={insecure}"),
        "run",
        "--net=none",
        image,
    ]);
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    output(cmd, TIMEOUT)
}

#[test]
fn tls_registry_with_auth_shares_layers_and_checks_digests() {
    let ctx = RktCtx::new();
    let reg = start_registry(&ctx.work().join("registry"), true);
    let ca = ctx.work().join("registry/ca.crt");
    let (base, change) = (base_layer(), change_layer());
    let app = ctx.work().join("app");
    write_layout(
        &app,
        &[&base, &change],
        &config(&[&base, &change], &probe_cmd()),
        "v1",
    );
    push(&reg, &app, "team/app:v1", true);
    let other_layer = Layer::new().file("other", b"o").tar();
    let other = ctx.work().join("other");
    write_layout(
        &other,
        &[&base, &other_layer],
        &config(&[&base, &other_layer], &["--read-file=/other"]),
        "v1",
    );
    push(&reg, &other, "team/other:v1", true);

    // No credentials: a clear error naming the registry and the fix.
    let image = format!("docker://127.0.0.1:{}/team/app:v1", reg.port);
    let out = rkt_run(&ctx, Some(&ca), "image", &image);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("authentication failed") && out.stderr.contains("dockerAuth"),
        "{}",
        out.stderr
    );
    auth_config(&ctx, reg.port, "wrong");
    let out = rkt_run(&ctx, Some(&ca), "image", &image);
    assert!(
        out.stderr.contains("authentication failed"),
        "{}",
        out.stderr
    );
    // Without the test CA the certificate is refused.
    auth_config(&ctx, reg.port, PASSWORD);
    let out = rkt_run(&ctx, None, "image", &image);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("HTTPS"), "{}", out.stderr);

    let out = rkt_run(&ctx, Some(&ca), "image", &image);
    let text = out.ok().to_string();
    assert_eq!(out.get("UID"), "1234", "{text}");
    assert_eq!(out.get("OCI_VAR"), "from-config");
    assert_eq!(out.get("EXISTS /a/gone"), "no");
    assert_eq!(out.get("LS /b"), "new");
    assert_eq!(layer_blobs(&ctx.data_dir()), 2);
    // The second image fetches and renders only its own layer.
    let out = rkt_run(
        &ctx,
        Some(&ca),
        "image",
        &format!("docker://127.0.0.1:{}/team/other:v1", reg.port),
    );
    out.ok();
    assert_eq!(out.get("READ"), "o");
    assert_eq!(
        layer_blobs(&ctx.data_dir()),
        3,
        "the shared base blob is stored once"
    );
    assert_eq!(layer_trees(&ctx.data_dir()), 3, "and rendered once");

    // A blob corrupted in the registry's storage is refused and nothing is kept.
    let ctx2 = RktCtx::new();
    auth_config(&ctx2, reg.port, PASSWORD);
    let gz = gzip(&change);
    let hex = &sha(&gz)[7..];
    let data = reg.root.join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = std::fs::read(&data).expect("the pushed layer in the registry's storage");
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let out = rkt_run(&ctx2, Some(&ca), "image", &image);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("digest mismatch"), "{}", out.stderr);
    // A failed import leaves the store as it was: the intact base layer it added goes too.
    assert_eq!(
        layer_trees(&ctx2.data_dir()),
        0,
        "nothing of the failed import"
    );
    assert_eq!(
        layer_blobs(&ctx2.data_dir()),
        0,
        "nothing of the failed import"
    );
}

#[test]
fn plain_http_registry_needs_insecure_http() {
    let ctx = RktCtx::new();
    let reg = start_registry(&ctx.work().join("registry"), false);
    let base = base_layer();
    let app = ctx.work().join("app");
    write_layout(
        &app,
        &[&base],
        &config(&[&base], &["--print-msg=over-http"]),
        "v1",
    );
    push(&reg, &app, "plain:v1", false);
    let image = format!("docker://127.0.0.1:{}/plain:v1", reg.port);
    let out = rkt_run(&ctx, None, "image", &image);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("--insecure-options=http"),
        "{}",
        out.stderr
    );
    let out = rkt_run(&ctx, None, "image,http", &image);
    out.ok();
    assert!(out.stdout.contains("over-http"), "{}", out.stdout);
}
