//! `inspect`: the probe the functional tests run inside pods (like rkt's own `inspect`).
//!
//! Every flag is one action, run in command-line order; output is `KEY=value` lines on stdout
//! so tests can parse it. `--content`, `--silent-sigterm`, `--ignore-sigterm` and `--exit-code`
//! are settings, not actions: they apply whatever their position. Failures print
//! `ERROR=<what>` and exit 1. With `--silent-sigterm`, SIGTERM ends the probe quietly with the
//! `--exit-code` value (so a stopped app's status is predictable).
//! std + libc only: it is linked statically and runs in images that hold nothing else.

#[path = "inspect/tries.rs"]
mod tries;

use std::io::{self, BufRead, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::exit;
use std::sync::atomic::{AtomicI32, Ordering};

/// The `--exit-code` value, for the SIGTERM handler.
static EXIT_CODE: AtomicI32 = AtomicI32::new(0);

const USAGE: &str = "usage: inspect [--print-msg=S] [--print-env[=VAR]] [--print-user] \
[--print-caps] [--print-cwd] [--print-hostname] [--print-pid] [--print-mounts] \
[--print-cgroup] [--print-fds] [--read-file=P] [--write-file=P] [--content=S] [--stat=P] \
[--read-stdin] [--check-tty] [--print-seccomp] [--try-syscall=NAME] [--sleep=SECONDS] \
[--silent-sigterm] [--ignore-sigterm] [--exit-code=N] [--print-ipv4] [--print-mac] [--serve-tcp=PORT] \
[--alloc=MIB] [--fork-bomb=N] [--notify-ready-after=MS] [--log-sigterm] [--http-get=URL] [--http-post=URL] [--mds-hmac=TEXT] \
[--wait-file=PATH] [--serve-udp=PORT] [--serve-tcp-peer=PORT] \
[--connect-tcp=IP:PORT] [--send-udp=IP:PORT] [--exists=P] [--list-dir=P]";

/// One thing to do, in order.
enum Action {
    Msg(String),
    Env(Option<String>),
    User,
    Caps,
    Cwd,
    Hostname,
    Pid,
    Mounts,
    Cgroup,
    Fds,
    Read(String),
    Write(String),
    Stat(String),
    /// `EXISTS <path>=yes|no` (no symlink followed at the end).
    Exists(String),
    Stdin,
    Tty,
    Sleep(f64),
    /// `IPV4_<ifname>=<address>` for every IPv4 address.
    Ipv4,
    /// `MAC_<ifname>=<aa:bb:..>` for every interface with a hardware address.
    Macs,
    /// Answer every TCP connection on the port with the `--content` text, forever.
    ServeTcp(u16),
    /// Answer every UDP datagram on the port with the `--content` text, from a background
    /// thread (so a `--serve-tcp` after it can run too).
    ServeUdp(u16),
    /// Answer every TCP connection with `PEER=<the client's IP>`, forever.
    ServeTcpPeer(u16),
    /// `CONNECTED=<what the server sent, first line>`; retried for a few seconds.
    ConnectTcp(String),
    /// Send the `--content` text and print `UDP_REPLY=<the answer, first line>`.
    SendUdp(String),
    Seccomp,
    TrySyscall(String),
    Alloc(usize),
    ForkBomb(usize),
    /// Wait MS milliseconds, then send `STATUS=` and `READY=1` to `$NOTIFY_SOCKET`.
    NotifyReady(u64),
    /// `HTTP_STATUS:<url>=`, `HTTP_TYPE:<url>=`, `HTTP_BODY_HEX:<url>=` (url as given).
    HttpGet(String),
    /// The same for a POST of the `--content` text as a form body.
    HttpPost(String),
    /// Signs the text with `$AC_METADATA_URL`, verifies it, then verifies a forgery:
    /// `HMAC_SIGN=`, `HMAC_VERIFY=`, `HMAC_FORGED=` (HTTP statuses).
    MdsHmac(String),
    /// Waits (up to 30s) until the path exists: `WAITED=<path>`.
    WaitFile(String),
    /// Probes that report an outcome instead of failing (see `tries`).
    Try(tries::Try),
}

struct Settings {
    actions: Vec<Action>,
    content: String,
    silent_sigterm: bool,
    ignore_sigterm: bool,
    /// `--log-sigterm`: SIGTERM prints `SIGNAL=SIGTERM`, then ends like `--silent-sigterm`.
    log_sigterm: bool,
    exit_code: i32,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = match parse(&args) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("inspect: {msg}\n{USAGE}");
            exit(2);
        }
    };
    EXIT_CODE.store(settings.exit_code, Ordering::SeqCst);
    if settings.log_sigterm {
        // SAFETY: the handler only writes a constant, reads an atomic and calls _exit, all
        // async-signal-safe.
        unsafe {
            libc::signal(
                libc::SIGTERM,
                on_sigterm_logged as *const () as libc::sighandler_t,
            )
        };
    } else if settings.ignore_sigterm {
        // SAFETY: SIG_IGN needs no handler code.
        unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    } else if settings.silent_sigterm {
        // SAFETY: the handler only reads an atomic and calls _exit, both async-signal-safe.
        unsafe { libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t) };
    }
    let mut failed = false;
    for action in &settings.actions {
        if let Err(e) = perform(action, &settings.content) {
            println!("ERROR={e}");
            failed = true;
        }
        let _ = io::stdout().flush();
    }
    exit(if failed { 1 } else { settings.exit_code });
}

extern "C" fn on_sigterm_logged(_: libc::c_int) {
    let msg = b"SIGNAL=SIGTERM\n";
    // SAFETY: write and _exit are async-signal-safe; the buffer is a constant.
    unsafe {
        libc::write(1, msg.as_ptr().cast(), msg.len());
        libc::_exit(EXIT_CODE.load(Ordering::SeqCst));
    }
}

extern "C" fn on_sigterm(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe and ends the process without touching shared state.
    unsafe { libc::_exit(EXIT_CODE.load(Ordering::SeqCst)) };
}

fn parse(args: &[String]) -> Result<Settings, String> {
    let mut s = Settings {
        actions: Vec::new(),
        content: String::new(),
        silent_sigterm: false,
        ignore_sigterm: false,
        log_sigterm: false,
        exit_code: 0,
    };
    for arg in args {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let need = |v: Option<String>| v.ok_or_else(|| format!("{flag} needs a value ({flag}=X)"));
        let action = match flag {
            "--print-msg" => Action::Msg(need(value)?),
            "--print-env" => Action::Env(value),
            "--print-user" => Action::User,
            "--print-caps" => Action::Caps,
            "--print-cwd" => Action::Cwd,
            "--print-hostname" => Action::Hostname,
            "--print-ipv4" => Action::Ipv4,
            "--print-mac" => Action::Macs,
            "--serve-tcp" => {
                let v = need(value)?;
                Action::ServeTcp(
                    v.parse()
                        .map_err(|_| format!("--serve-tcp={v}: not a port"))?,
                )
            }
            "--serve-udp" => Action::ServeUdp(port(flag, &need(value)?)?),
            "--serve-tcp-peer" => Action::ServeTcpPeer(port(flag, &need(value)?)?),
            "--connect-tcp" => Action::ConnectTcp(need(value)?),
            "--send-udp" => Action::SendUdp(need(value)?),
            "--print-pid" => Action::Pid,
            "--print-mounts" => Action::Mounts,
            "--print-cgroup" => Action::Cgroup,
            "--print-fds" => Action::Fds,
            "--read-file" => Action::Read(need(value)?),
            "--write-file" => Action::Write(need(value)?),
            "--stat" => Action::Stat(need(value)?),
            "--exists" => Action::Exists(need(value)?),
            "--read-stdin" => Action::Stdin,
            "--alloc" => Action::Alloc(number(flag, &need(value)?)?),
            "--fork-bomb" => Action::ForkBomb(number(flag, &need(value)?)?.min(MAX_FORKS)),
            "--check-tty" => Action::Tty,
            "--print-seccomp" => Action::Seccomp,
            "--http-get" => Action::HttpGet(need(value)?),
            "--http-post" => Action::HttpPost(need(value)?),
            "--mds-hmac" => Action::MdsHmac(need(value)?),
            "--wait-file" => Action::WaitFile(need(value)?),
            f if tries::Try::is_flag(f) => Action::Try(tries::Try::parse(f, need(value)?)?),
            "--try-syscall" => Action::TrySyscall(need(value)?),
            "--sleep" => {
                let v = need(value)?;
                let secs = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| format!("--sleep={v}: not a number of seconds"))?;
                Action::Sleep(secs)
            }
            "--content" => {
                s.content = need(value)?;
                continue;
            }
            "--silent-sigterm" => {
                s.silent_sigterm = true;
                continue;
            }
            "--log-sigterm" => {
                s.log_sigterm = true;
                continue;
            }
            "--notify-ready-after" => {
                let v = need(value)?;
                Action::NotifyReady(
                    v.parse()
                        .map_err(|_| format!("--notify-ready-after={v}: not milliseconds"))?,
                )
            }
            "--ignore-sigterm" => {
                s.ignore_sigterm = true;
                continue;
            }
            "--exit-code" => {
                let v = need(value)?;
                s.exit_code = v
                    .parse()
                    .map_err(|_| format!("--exit-code={v}: not an integer"))?;
                continue;
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        };
        s.actions.push(action);
    }
    Ok(s)
}

fn perform(action: &Action, content: &str) -> Result<(), String> {
    match action {
        Action::Msg(m) => println!("{m}"),
        Action::Env(Some(var)) => match std::env::var_os(var) {
            Some(v) => println!("{var}={}", v.to_string_lossy()),
            None => println!("UNSET={var}"),
        },
        Action::Env(None) => {
            let mut vars: Vec<_> = std::env::vars_os().collect();
            vars.sort();
            for (k, v) in vars {
                println!("{}={}", k.to_string_lossy(), v.to_string_lossy());
            }
        }
        Action::User => print_user(),
        Action::Caps => print_status_lines(&["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"])?,
        Action::Cwd => {
            let cwd = std::env::current_dir().map_err(|e| format!("cwd: {e}"))?;
            println!("CWD={}", cwd.display());
        }
        Action::Hostname => println!("HOSTNAME={}", hostname()?),
        Action::Ipv4 => print_ipv4()?,
        Action::Macs => print_macs()?,
        Action::ServeTcp(port) => serve_tcp(*port, content)?,
        Action::ServeUdp(port) => serve_udp(*port, content)?,
        Action::ServeTcpPeer(port) => serve_tcp_peer(*port)?,
        Action::ConnectTcp(addr) => println!("CONNECTED={}", connect_tcp(addr)?),
        Action::SendUdp(addr) => println!("UDP_REPLY={}", send_udp(addr, content)?),
        Action::Pid => {
            println!("PID={}", std::process::id());
            // SAFETY: getppid has no preconditions.
            println!("PPID={}", unsafe { libc::getppid() });
        }
        Action::Mounts => print_mounts()?,
        Action::Cgroup => {
            for line in read("/proc/self/cgroup")?.lines() {
                println!("CGROUP={line}");
            }
        }
        Action::Fds => print_fds(),
        Action::Read(p) => println!("READ={}", read(p)?.trim_end_matches('\n')),
        Action::Write(p) => {
            std::fs::write(p, content).map_err(|e| format!("writing {p}: {e}"))?;
            println!("WROTE={p}");
        }
        Action::Stat(p) => print_stat(p)?,
        Action::Try(t) => t.run(),
        Action::Exists(p) => {
            let yes = std::fs::symlink_metadata(p).is_ok();
            println!("EXISTS {p}={}", if yes { "yes" } else { "no" });
        }
        Action::Stdin => {
            let mut line = String::new();
            io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("reading stdin: {e}"))?;
            println!("STDIN={}", line.trim_end_matches('\n'));
        }
        Action::Tty => {
            for (name, fd) in [("STDIN", 0), ("STDOUT", 1), ("STDERR", 2)] {
                // SAFETY: isatty only inspects the fd.
                let tty = unsafe { libc::isatty(fd) } == 1;
                println!("TTY_{name}={tty}");
            }
        }
        Action::Sleep(secs) => std::thread::sleep(std::time::Duration::from_secs_f64(*secs)),
        Action::NotifyReady(ms) => notify_ready(*ms)?,
        Action::Seccomp => {
            for line in read("/proc/self/status")?.lines() {
                if let Some((k @ ("Seccomp" | "Seccomp_filters" | "NoNewPrivs"), v)) =
                    line.split_once(':')
                {
                    println!("{}={}", k.to_uppercase(), v.trim());
                }
            }
        }
        Action::TrySyscall(name) => {
            let result = try_syscall(name)?;
            println!("SYSCALL_{}={result}", name.to_uppercase());
        }
        Action::Alloc(mib) => alloc(*mib),
        Action::ForkBomb(n) => fork_bomb(*n),
        Action::HttpGet(url) => print_http(url, http("GET", &expand(url)?, b"")?),
        Action::HttpPost(url) => print_http(url, http("POST", &expand(url)?, content.as_bytes())?),
        Action::MdsHmac(text) => mds_hmac(text)?,
        Action::WaitFile(p) => {
            // Until it has content: another app's --write-file creates the file, then writes.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::fs::metadata(p).map_or(true, |m| m.len() == 0) {
                if std::time::Instant::now() > deadline {
                    return Err(format!("{p} did not appear (with content) within 30s"));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            println!("WAITED={p}");
        }
    }
    Ok(())
}

/// A leading `$AC_METADATA_URL` replaced by its value (there is no shell to do it).
fn expand(url: &str) -> Result<String, String> {
    match url.strip_prefix("$AC_METADATA_URL") {
        Some(rest) => {
            let base = std::env::var("AC_METADATA_URL").map_err(|_| "AC_METADATA_URL is unset")?;
            Ok(format!("{base}{rest}"))
        }
        None => Ok(url.to_string()),
    }
}

struct HttpReply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn print_http(label: &str, r: HttpReply) {
    println!("HTTP_STATUS:{label}={}", r.status);
    println!("HTTP_TYPE:{label}={}", r.content_type);
    let hex: String = r.body.iter().map(|b| format!("{b:02x}")).collect();
    println!("HTTP_BODY_HEX:{label}={hex}");
}

/// A minimal HTTP/1.0 client with the metadata flavor header (std only: the probe is static).
fn http(method: &str, url: &str, body: &[u8]) -> Result<HttpReply, String> {
    use std::io::Read;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut conn =
        std::net::TcpStream::connect(host).map_err(|e| format!("connect {host}: {e}"))?;
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nMetadata-Flavor: AppContainer\r\n\
         Connection: close\r\n"
    );
    if method == "POST" {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes())
        .and_then(|_| conn.write_all(body))
        .map_err(|e| format!("send to {host}: {e}"))?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .map_err(|e| format!("read from {host}: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{url}: no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{url}: bad status line"))?;
    let mut content_type = String::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-type") {
                content_type = v.trim().to_string();
            }
            if k.eq_ignore_ascii_case("content-length")
                && let Ok(n) = v.trim().parse::<usize>()
            {
                body.truncate(n);
            }
        }
    }
    Ok(HttpReply {
        status,
        content_type,
        body,
    })
}

/// Form-encodes `s` (everything but unreserved characters escaped).
fn form_escape(s: &[u8]) -> String {
    s.iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn mds_hmac(text: &str) -> Result<(), String> {
    let base = expand("$AC_METADATA_URL/acMetadata/v1")?;
    let uuid = http("GET", &format!("{base}/pod/uuid"), b"")?;
    let uuid = String::from_utf8_lossy(&uuid.body).to_string();
    let body = format!("content={}", form_escape(text.as_bytes()));
    let sign = http("POST", &format!("{base}/pod/hmac/sign"), body.as_bytes())?;
    println!("HMAC_SIGN={}", sign.status);
    let sig = form_escape(&sign.body);
    for (key, content) in [
        ("HMAC_VERIFY", text.to_string()),
        ("HMAC_FORGED", format!("{text}!")),
    ] {
        let body = format!(
            "content={}&uuid={uuid}&signature={sig}",
            form_escape(content.as_bytes())
        );
        let r = http("POST", &format!("{base}/pod/hmac/verify"), body.as_bytes())?;
        println!("{key}={}", r.status);
    }
    Ok(())
}

/// The most processes `--fork-bomb` makes, whatever it is asked.
const MAX_FORKS: usize = 2000;

fn number(flag: &str, v: &str) -> Result<usize, String> {
    v.parse().map_err(|_| format!("{flag}={v}: not a number"))
}

/// Allocates and touches `mib` MiB, 1 MiB at a time (`ALLOCATED=<MiB>` after each 16), and
/// keeps it: under a memory limit the OOM killer ends the probe before it finishes.
fn alloc(mib: usize) {
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for i in 1..=mib {
        // Non-zero bytes: every page is really touched.
        kept.push(vec![1u8; 1 << 20]);
        if i % 16 == 0 {
            println!("ALLOCATED={i}");
            let _ = io::stdout().flush();
        }
    }
    println!("ALLOCATED={mib}");
    std::hint::black_box(&kept);
}

/// Forks up to `n` children that each wait for a pipe to close, counts how many forks succeed
/// (`FORKED=`) and the first error (`FORK_ERROR=`), then releases and reaps them all.
fn fork_bomb(n: usize) {
    let mut fds = [0; 2];
    // SAFETY: pipe fills the two-element array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        println!("FORK_ERROR=pipe: {}", io::Error::last_os_error());
        return;
    }
    let mut children = Vec::new();
    let mut error = None;
    for _ in 0..n {
        // SAFETY: the child only calls close, read and _exit (async-signal-safe).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let mut b = 0u8;
            // SAFETY: as above; the read returns at EOF, once the parent closes its end.
            unsafe {
                libc::close(fds[1]);
                libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
                libc::_exit(0);
            }
        }
        if pid < 0 {
            error = Some(io::Error::last_os_error());
            break;
        }
        children.push(pid);
    }
    // SAFETY: closing our fds releases every child; waitpid reaps them.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
        for pid in &children {
            libc::waitpid(*pid, std::ptr::null_mut(), 0);
        }
    }
    println!("FORKED={}", children.len());
    if let Some(e) = error {
        println!("FORK_ERROR={}", e.raw_os_error().unwrap_or(0));
    }
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("reading {path}: {e}"))
}

fn print_user() {
    // SAFETY: these getters have no preconditions.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    println!("UID={uid}\nEUID={euid}\nGID={gid}\nEGID={egid}");
    let mut groups = vec![0 as libc::gid_t; 1024];
    // SAFETY: the buffer holds `groups.len()` entries.
    let n = unsafe { libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr()) };
    groups.truncate(usize::try_from(n).unwrap_or(0));
    groups.sort_unstable();
    let list: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    println!("GROUPS={}", list.join(","));
}

/// `Name=value` of the named lines of /proc/self/status (capability sets, no_new_privs).
fn print_status_lines(names: &[&str]) -> Result<(), String> {
    let status = read("/proc/self/status")?;
    for line in status.lines() {
        if let Some((k, v)) = line.split_once(':')
            && (names.contains(&k) || k == "NoNewPrivs")
        {
            println!("{k}={}", v.trim());
        }
    }
    Ok(())
}

fn hostname() -> Result<String, String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return Err(format!("gethostname: {}", io::Error::last_os_error()));
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// `MOUNT=<mount point> <fs type> <mount options>` per mountinfo line.
fn print_mounts() -> Result<(), String> {
    for line in read("/proc/self/mountinfo")?.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields.iter().position(|f| *f == "-");
        if let (Some(sep), true) = (sep, fields.len() > 5) {
            let fstype = fields.get(sep + 1).copied().unwrap_or("?");
            println!("MOUNT={} {} {}", fields[4], fstype, fields[5]);
        }
    }
    Ok(())
}

/// `FDS=0,1,2` and `FD_<n>=<target>`: probed with fcntl, so listing opens no fd of its own.
fn print_fds() {
    let mut open = Vec::new();
    for fd in 0..4096 {
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            open.push(fd);
        }
    }
    let list: Vec<String> = open.iter().map(|fd| fd.to_string()).collect();
    println!("FDS={}", list.join(","));
    for fd in open {
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .map(|t| t.display().to_string())
            .unwrap_or_else(|e| format!("? ({e})"));
        println!("FD_{fd}={target}");
    }
}

fn print_stat(path: &str) -> Result<(), String> {
    let m = std::fs::symlink_metadata(path).map_err(|e| format!("stat {path}: {e}"))?;
    let ft = m.file_type();
    let kind = if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else {
        "other"
    };
    println!(
        "STAT={path} type={kind} mode={:04o} uid={} gid={} size={}",
        m.mode() & 0o7777,
        m.uid(),
        m.gid(),
        m.size()
    );
    Ok(())
}

/// Calls `f(ifname, address)` for every interface address `getifaddrs` lists.
fn each_ifaddr(mut f: impl FnMut(&str, &libc::sockaddr)) -> Result<(), String> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(format!("getifaddrs: {}", io::Error::last_os_error()));
    }
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: a non-null ifa_addr points to a sockaddr of the list; ifa_name is a
            // NUL-terminated string of the same node.
            let (addr, name) = unsafe { (&*ifa.ifa_addr, std::ffi::CStr::from_ptr(ifa.ifa_name)) };
            f(&name.to_string_lossy(), addr);
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(())
}

fn print_ipv4() -> Result<(), String> {
    each_ifaddr(|name, addr| {
        if i32::from(addr.sa_family) == libc::AF_INET {
            // SAFETY: an AF_INET address of getifaddrs is a sockaddr_in.
            let sin = unsafe { &*(addr as *const libc::sockaddr as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            println!("IPV4_{name}={ip}");
        }
    })
}

/// `MAC_<ifname>=aa:bb:..` for every interface with a link-layer address (not `lo`'s zeros).
fn print_macs() -> Result<(), String> {
    each_ifaddr(|name, addr| {
        if i32::from(addr.sa_family) == libc::AF_PACKET {
            // SAFETY: an AF_PACKET address of getifaddrs is a sockaddr_ll.
            let ll = unsafe { &*(addr as *const libc::sockaddr as *const libc::sockaddr_ll) };
            let len = usize::from(ll.sll_halen).min(ll.sll_addr.len());
            let bytes = &ll.sll_addr[..len];
            if bytes.iter().any(|b| *b != 0) {
                let mac: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                println!("MAC_{name}={}", mac.join(":"));
            }
        }
    })
}

fn serve_tcp(port: u16, content: &str) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(("0.0.0.0", port))
        .map_err(|e| format!("listening on port {port}: {e}"))?;
    println!("LISTENING={port}");
    let _ = io::stdout().flush();
    // A failed accept (a client that went away) is skipped; the server keeps serving.
    for mut c in listener.incoming().flatten() {
        let _ = c.write_all(content.as_bytes());
    }
    Ok(())
}

fn port(flag: &str, v: &str) -> Result<u16, String> {
    v.parse().map_err(|_| format!("{flag}={v}: not a port"))
}

fn serve_udp(port: u16, content: &str) -> Result<(), String> {
    let sock = std::net::UdpSocket::bind(("0.0.0.0", port))
        .map_err(|e| format!("binding UDP port {port}: {e}"))?;
    println!("LISTENING_UDP={port}");
    let reply = content.as_bytes().to_vec();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            if let Ok((_, peer)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&reply, peer);
            }
        }
    });
    Ok(())
}

fn serve_tcp_peer(port: u16) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(("0.0.0.0", port))
        .map_err(|e| format!("listening on port {port}: {e}"))?;
    println!("LISTENING={port}");
    let _ = io::stdout().flush();
    for mut c in listener.incoming().flatten() {
        if let Ok(peer) = c.peer_addr() {
            let _ = writeln!(c, "PEER={}", peer.ip());
        }
    }
    Ok(())
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().next().unwrap_or_default().to_string()
}

/// Retries refused connections for up to 5s (the server may be starting); an unreachable
/// network fails at once.
fn connect_tcp(addr: &str) -> Result<String, String> {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let sa: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| format!("--connect-tcp={addr}: not IP:PORT"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(3)) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got);
                return Ok(first_line(&got));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(format!("connecting to {addr}: {e}")),
        }
    }
}

/// Resends every 200ms for up to 5s (UDP may be dropped while rules or servers come up).
fn send_udp(addr: &str, content: &str) -> Result<String, String> {
    use std::time::{Duration, Instant};
    let sa: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| format!("--send-udp={addr}: not IP:PORT"))?;
    let sock = std::net::UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| format!("udp: {e}"))?;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        let _ = sock.send_to(content.as_bytes(), sa);
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return Ok(first_line(&buf[..n]));
        }
    }
    Err(format!("no UDP answer from {addr}"))
}

/// Makes the call `name` with arguments that change nothing (bad fds, null pointers, invalid
/// commands), so the answer shows whether the call reached the kernel: `ok`, or the errno's
/// name (`EPERM`, `ENOSYS`, …; a seccomp filter answers before any argument check).
fn try_syscall(name: &str) -> Result<String, String> {
    use libc::*;
    let null = std::ptr::null::<c_void>();
    // SAFETY (all calls): the arguments are invalid or no-ops (null pointers the kernel checks,
    // fd -1, flags 0), so none of them changes the process or the system when allowed.
    let rc: c_long = unsafe {
        match name {
            "getpid" => syscall(SYS_getpid),
            "read" => syscall(SYS_read, -1, null, 0),
            "write" => syscall(SYS_write, -1, null, 0),
            "mount" => syscall(SYS_mount, null, null, null, 0, null),
            "umount2" => syscall(SYS_umount2, null, 0),
            "unshare" => syscall(SYS_unshare, 0),
            "setns" => syscall(SYS_setns, -1, 0),
            "keyctl" => syscall(SYS_keyctl, 9999, 0, 0, 0, 0),
            "add_key" => syscall(SYS_add_key, null, null, null, 0, 0),
            "request_key" => syscall(SYS_request_key, null, null, null, 0),
            "kexec_load" => syscall(SYS_kexec_load, 0, 0, null, 0xffff_0000u64),
            "init_module" => syscall(SYS_init_module, null, 0, null),
            "open_by_handle_at" => syscall(SYS_open_by_handle_at, -1, null, 0),
            "bpf" => syscall(SYS_bpf, -1, null, 0),
            "perf_event_open" => syscall(SYS_perf_event_open, null, -1, -1, -1, 0),
            "ptrace" => syscall(SYS_ptrace, PTRACE_PEEKDATA, -1, 0, 0),
            "userfaultfd" => syscall(SYS_userfaultfd, -1),
            "io_uring_setup" => syscall(SYS_io_uring_setup, 0, null),
            "reboot" => syscall(SYS_reboot, 0, 0, 0, null),
            "swapon" => syscall(SYS_swapon, null, 0),
            "sethostname" => syscall(SYS_sethostname, null, 0),
            "uname" => {
                let mut u: utsname = std::mem::zeroed();
                syscall(SYS_uname, &mut u as *mut utsname)
            }
            "openat" => {
                let fd = syscall(SYS_openat, AT_FDCWD, c"/".as_ptr(), O_RDONLY | O_CLOEXEC);
                if fd >= 0 {
                    close(fd as c_int);
                }
                fd
            }
            "stat" => {
                let mut st: stat = std::mem::zeroed();
                syscall(
                    SYS_newfstatat,
                    AT_FDCWD,
                    c"/".as_ptr(),
                    &mut st as *mut stat,
                    0,
                )
            }
            // A real thread: the way libc and std create them (clone3, then clone).
            "thread" => match std::thread::spawn(|| 7).join() {
                Ok(7) => 0,
                _ => -1,
            },
            _ => return Err(format!("--try-syscall={name}: no harmless form known")),
        }
    };
    if rc >= 0 {
        return Ok("ok".into());
    }
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    Ok(errno_name(errno))
}

fn errno_name(errno: i32) -> String {
    let known = [
        (libc::EPERM, "EPERM"),
        (libc::ENOENT, "ENOENT"),
        (libc::ESRCH, "ESRCH"),
        (libc::EBADF, "EBADF"),
        (libc::EACCES, "EACCES"),
        (libc::EFAULT, "EFAULT"),
        (libc::EINVAL, "EINVAL"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::EOPNOTSUPP, "EOPNOTSUPP"),
        (libc::ENOTSUP, "ENOTSUP"),
        (libc::EAGAIN, "EAGAIN"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == errno)
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| format!("E{errno}"))
}

/// Sleeps `ms`, then tells `$NOTIFY_SOCKET` (a path) the probe is ready; prints `NOTIFIED=1`.
fn notify_ready(ms: u64) -> Result<(), String> {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    let path =
        std::env::var("NOTIFY_SOCKET").map_err(|_| "NOTIFY_SOCKET is not set".to_string())?;
    let sock = std::os::unix::net::UnixDatagram::unbound().map_err(|e| format!("socket: {e}"))?;
    sock.send_to(b"STATUS=probe ready\nREADY=1", &path)
        .map_err(|e| format!("sending to NOTIFY_SOCKET {path}: {e}"))?;
    println!("NOTIFIED=1");
    Ok(())
}
