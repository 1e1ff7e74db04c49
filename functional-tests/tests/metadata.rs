//! The appc metadata service end to end: each test starts its own `rkt metadata-service` on a
//! free port with its own registration socket (`RKT_METADATA_SOCK`, never the host's), runs
//! pods with `--mds-register`, and kills the service after. The tests share the process
//! environment (the socket variable reaches `rkt run` and `rkt gc` through it), so they run
//! one at a time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use functional_tests::{InspectImage, RktCtx};
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

const BASE: &str = "$AC_METADATA_URL/acMetadata/v1";

/// A running `rkt metadata-service`, killed on drop.
struct Service {
    child: Child,
    port: u16,
    socket: PathBuf,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("0.0.0.0:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Service {
    fn start(ctx: &RktCtx, port: u16, socket: &Path) -> Service {
        let log = std::fs::File::create(ctx.work().join(format!("mds-{port}.log"))).unwrap();
        let child = ctx
            .command(&[
                "metadata-service",
                &format!("--listen-port={port}"),
                &format!("--socket={}", socket.display()),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting rkt metadata-service");
        let mut svc = Service {
            child,
            port,
            socket: socket.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            if let Ok(Some(status)) = svc.child.try_wait() {
                let log = std::fs::read_to_string(ctx.work().join(format!("mds-{port}.log")));
                panic!("the metadata service exited with {status}: {log:?}");
            }
            assert!(
                Instant::now() < deadline,
                "the metadata service did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        svc
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Serialises the tests and points rkt at this test's socket.
fn world() -> (std::sync::MutexGuard<'static, ()>, RktCtx, PathBuf) {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ctx = RktCtx::new();
    let socket = ctx.work().join("mds.sock");
    // SAFETY: every test of this binary holds SERIAL while it touches the environment.
    unsafe { std::env::set_var("RKT_METADATA_SOCK", &socket) };
    (guard, ctx, socket)
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// (status, content type, body) the probe printed for `path`.
fn probed(out: &functional_tests::Out, path: &str) -> (u16, String, Vec<u8>) {
    let label = format!("{BASE}/{path}");
    let status = out.get(&format!("HTTP_STATUS:{label}")).parse().unwrap();
    let ctype = out.get(&format!("HTTP_TYPE:{label}")).to_string();
    let body = hex_decode(out.kv(&format!("HTTP_BODY_HEX:{label}")).unwrap_or(""));
    (status, ctype, body)
}

/// GET from the host with the metadata flavor header: (status, body).
fn host_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut conn = TcpStream::connect(host).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nMetadata-Flavor: AppContainer\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// The `AC_METADATA_URL` stage1 gave the app `app` of the running pod `uuid`.
fn app_url(ctx: &RktCtx, uuid: &str, app: &str) -> String {
    let dir = ctx.pod_dir(uuid).unwrap();
    let spec = dir.join(format!("stage1/rootfs/rkt/appspec/{app}.json"));
    let spec: Value = serde_json::from_slice(&std::fs::read(spec).unwrap()).unwrap();
    let env = spec["environment"].as_array().unwrap();
    env.iter()
        .find(|v| v["name"] == "AC_METADATA_URL")
        .and_then(|v| v["value"].as_str())
        .expect("AC_METADATA_URL in the app's spec")
        .to_string()
}

fn uuid_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
fn probe_reads_every_endpoint_over_the_default_network() {
    let (_g, ctx, socket) = world();
    let svc = Service::start(&ctx, free_port(), &socket);
    let paths = [
        "pod/uuid",
        "pod/manifest",
        "pod/annotations",
        "apps/mdsprobe/annotations",
        "apps/mdsprobe/image/manifest",
        "apps/mdsprobe/image/id",
    ];
    let mut args = vec![
        "--print-env=AC_METADATA_URL".to_string(),
        "--print-env=AC_APP_NAME".to_string(),
        "--mds-hmac=hello metadata".to_string(),
    ];
    args.extend(paths.iter().map(|p| format!("--http-get={BASE}/{p}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let img = InspectImage::new("rkt-rs.dev/ft/mdsprobe")
        .annotation("ft/first", "image")
        .annotation("ft/second", "image")
        .args(&args)
        .build(&ctx.work());
    let uuid_file = ctx.work().join("uuid");
    let out = ctx.run(&[
        "--net=default".to_string(),
        "--mds-register".to_string(),
        format!("--uuid-file-save={}", uuid_file.display()),
        img.display().to_string(),
        "--annotation=ft/second=pod".to_string(),
        "--annotation=ft/third=pod".to_string(),
    ]);
    out.ok();
    let uuid = uuid_of(&uuid_file);
    let dir = ctx.pod_dir(&uuid).unwrap();
    let url = out.get("AC_METADATA_URL");
    assert!(url.starts_with("http://") && !url.ends_with('/'), "{url}");
    assert!(url.contains(&format!(":{}/", svc.port)), "{url}");
    assert!(
        !url.contains(&uuid),
        "the token must not be the UUID: {url}"
    );
    assert_eq!(out.get("AC_APP_NAME"), "mdsprobe");

    let text = "text/plain; charset=us-ascii";
    let json = "application/json";
    assert_eq!(
        probed(&out, "pod/uuid"),
        (200, text.into(), uuid.clone().into_bytes())
    );
    let stored = std::fs::read(dir.join("pod")).unwrap();
    assert_eq!(
        probed(&out, "pod/manifest"),
        (200, json.into(), stored.clone())
    );
    let manifest: Value = serde_json::from_slice(&stored).unwrap();
    let (status, ctype, body) = probed(&out, "pod/annotations");
    assert_eq!((status, ctype.as_str()), (200, json));
    let served: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        served,
        manifest.get("annotations").cloned().unwrap_or(Value::Null)
    );
    let image_manifest = std::fs::read(dir.join("appsinfo/mdsprobe/manifest")).unwrap();
    assert_eq!(
        probed(&out, "apps/mdsprobe/image/manifest"),
        (200, json.into(), image_manifest)
    );
    let id = manifest["apps"][0]["image"]["id"].as_str().unwrap();
    assert_eq!(
        probed(&out, "apps/mdsprobe/image/id"),
        (200, text.into(), id.as_bytes().to_vec())
    );
    let (status, ctype, body) = probed(&out, "apps/mdsprobe/annotations");
    assert_eq!((status, ctype.as_str()), (200, json));
    let merged: Value = serde_json::from_slice(&body).unwrap();
    let pairs: Vec<(&str, &str)> = merged
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["value"].as_str().unwrap()))
        .filter(|(n, _)| n.starts_with("ft/"))
        .collect();
    // Image order kept, the pod's value in place, the new one appended.
    assert_eq!(
        pairs,
        [
            ("ft/first", "image"),
            ("ft/second", "pod"),
            ("ft/third", "pod")
        ]
    );
    assert_eq!(out.get("HMAC_SIGN"), "200");
    assert_eq!(out.get("HMAC_VERIFY"), "200");
    assert_eq!(out.get("HMAC_FORGED"), "403");
}

#[test]
fn another_pods_token_is_refused() {
    let (_g, ctx, socket) = world();
    let _svc = Service::start(&ctx, free_port(), &socket);
    let sleeper = InspectImage::new("rkt-rs.dev/ft/sleeper")
        .args(&["--silent-sigterm", "--sleep=60"])
        .build(&ctx.work());
    let pod_a = ctx.spawn(&[
        "--net=default".to_string(),
        "--mds-register".to_string(),
        sleeper.display().to_string(),
    ]);
    let a_url = app_url(&ctx, &pod_a.uuid, "sleeper");
    let stolen = format!("--http-get={a_url}/acMetadata/v1/pod/uuid");
    let own = format!("--http-get={BASE}/pod/uuid");
    let thief = InspectImage::new("rkt-rs.dev/ft/thief")
        .args(&[stolen.as_str(), own.as_str()])
        .build(&ctx.work());
    let out = ctx.run(&[
        "--net=default".to_string(),
        "--mds-register".to_string(),
        thief.display().to_string(),
    ]);
    out.ok();
    let label = format!("{a_url}/acMetadata/v1/pod/uuid");
    assert_eq!(out.get(&format!("HTTP_STATUS:{label}")), "403", "{out:#?}");
    assert_eq!(probed(&out, "pod/uuid").0, 200);
    let stop = ctx.rkt(&["stop", &pod_a.uuid]);
    stop.ok();
    pod_a.wait(Duration::from_secs(30));
}

#[test]
fn restart_keeps_registered_pods_and_gc_deregisters() {
    let (_g, ctx, socket) = world();
    let port = free_port();
    let mut svc = Service::start(&ctx, port, &socket);
    let sleeper = InspectImage::new("rkt-rs.dev/ft/sleeper")
        .args(&["--silent-sigterm", "--sleep=60"])
        .build(&ctx.work());
    let pod = ctx.spawn(&[
        "--net=host".to_string(),
        "--mds-register".to_string(),
        sleeper.display().to_string(),
    ]);
    let uuid = pod.uuid.clone();
    let url = app_url(&ctx, &uuid, "sleeper");
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/")),
        "{url}"
    );
    let uuid_url = format!("{url}/acMetadata/v1/pod/uuid");
    assert_eq!(host_get(&uuid_url), (200, uuid.clone()));

    svc.stop();
    drop(svc);
    let svc = Service::start(&ctx, port, &socket);
    assert_eq!(host_get(&uuid_url), (200, uuid.clone()), "after a restart");

    ctx.rkt(&["stop", &uuid]).ok();
    pod.wait(Duration::from_secs(30));
    let mut gc = ctx.command(&["gc", "--grace-period=0s"]);
    gc.env("RKT_METADATA_SOCK", &svc.socket);
    let gc = gc.output().unwrap();
    assert!(gc.status.success(), "{gc:?}");
    assert!(ctx.pod_dir(&uuid).is_none(), "gc removed the pod");
    assert_eq!(host_get(&uuid_url).0, 403, "gc deregistered the pod");
}

#[test]
fn register_without_a_service_fails_clearly() {
    let (_g, ctx, _socket) = world();
    let img = InspectImage::new("rkt-rs.dev/ft/lonely").build(&ctx.work());
    let out = ctx.run(&[
        "--net=host".to_string(),
        "--mds-register".to_string(),
        img.display().to_string(),
    ]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains("metadata service is not running"),
        "{out:#?}"
    );
}

/// Waits up to 20 s for the service to end; its exit code (None when it did not end).
fn exit_code_within(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn sigterm_and_sigint_remove_the_socket_and_exit_0() {
    let (_g, ctx, socket) = world();
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut svc = Service::start(&ctx, free_port(), &socket);
        assert!(socket.exists());
        // SAFETY: signalling our own child, which has not been waited for yet.
        assert_eq!(unsafe { libc::kill(svc.child.id() as i32, sig) }, 0);
        let code = exit_code_within(&mut svc.child, Duration::from_secs(20));
        assert_eq!(code, Some(0), "signal {sig}");
        assert!(!socket.exists(), "signal {sig}: the socket is removed");
    }
}

/// `rkt metadata-service` started as systemd would: the listening sockets at fds 3 and 4,
/// `LISTEN_FDS=2` and `LISTEN_PID` = the service's own pid (set by the shell it execs from).
fn start_activated(ctx: &RktCtx, socket: &Path) -> Service {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let tcp = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let unix = std::os::unix::net::UnixListener::bind(socket).unwrap();
    let real = ctx.command(&["metadata-service", "--listen-port=1"]);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("export LISTEN_PID=$$ LISTEN_FDS=2; exec \"$0\" \"$@\"")
        .arg(real.get_program())
        .args(real.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(ctx.work().join("mds-activated.log")).unwrap());
    let (tcp_fd, unix_fd) = (tcp.as_raw_fd(), unix.as_raw_fd());
    // SAFETY: only fcntl/dup2/close (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Out of the way first, so that placing one cannot overwrite the other.
            let t = libc::fcntl(tcp_fd, libc::F_DUPFD, 100);
            let u = libc::fcntl(unix_fd, libc::F_DUPFD, 100);
            if t < 0 || u < 0 || libc::dup2(t, 3) < 0 || libc::dup2(u, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(t);
            libc::close(u);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .expect("starting the activated metadata service");
    Service {
        child,
        port,
        socket: socket.to_path_buf(),
    }
}

#[test]
fn socket_activation_serves_registrations_and_requests() {
    let (_g, ctx, socket) = world();
    let mut svc = start_activated(&ctx, &socket);
    let sleeper = InspectImage::new("rkt-rs.dev/ft/sleeper")
        .args(&["--silent-sigterm", "--sleep=60"])
        .build(&ctx.work());
    let pod = ctx.spawn(&[
        "--net=host".to_string(),
        "--mds-register".to_string(),
        sleeper.display().to_string(),
    ]);
    let url = app_url(&ctx, &pod.uuid, "sleeper");
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{}/", svc.port)),
        "the activated port, not --listen-port: {url}"
    );
    let got = host_get(&format!("{url}/acMetadata/v1/pod/uuid"));
    assert_eq!(got, (200, pod.uuid.clone()));
    ctx.rkt(&["stop", &pod.uuid]).ok();
    pod.wait(Duration::from_secs(30));
    // SAFETY: signalling our own child, which has not been waited for yet.
    assert_eq!(
        unsafe { libc::kill(svc.child.id() as i32, libc::SIGTERM) },
        0
    );
    assert_eq!(
        exit_code_within(&mut svc.child, Duration::from_secs(20)),
        Some(0)
    );
    assert!(
        socket.exists(),
        "an activated socket belongs to its creator"
    );
}

#[test]
fn run_prepared_registers_with_mds_register() {
    let (_g, ctx, socket) = world();
    let svc = Service::start(&ctx, free_port(), &socket);
    let probe = InspectImage::new("rkt-rs.dev/ft/mdsprepared")
        .args(&[
            "--print-env=AC_METADATA_URL",
            &format!("--http-get={BASE}/pod/uuid"),
        ])
        .build(&ctx.work());
    let uuid = ctx.prepare(&probe);
    let out = ctx.rkt(&["run-prepared", "--net=host", "--mds-register", &uuid]);
    out.ok();
    let url = out.get("AC_METADATA_URL");
    assert!(url.contains(&format!(":{}/", svc.port)), "{url}");
    assert_eq!(
        probed(&out, "pod/uuid"),
        (
            200,
            "text/plain; charset=us-ascii".into(),
            uuid.into_bytes()
        )
    );
}
