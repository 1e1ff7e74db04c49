//! [`RktCtx`]: one private rkt world per test (its own `--dir` and config dirs in a temp dir),
//! running the real `rkt` binary with time limits, and cleaning everything up when dropped:
//! running pods are force-stopped, `rkt gc --grace-period=0s` removes them, and a mount left
//! under the temp dir fails the test (after being detached, so the host stays clean).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one rkt command may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The outcome of one command.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Assert exit code 0 and return stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "command failed: {self:#?}");
        &self.stdout
    }

    /// Assert exit code `code`.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }

    /// The last `KEY=value` value for `key` on stdout.
    pub fn kv(&self, key: &str) -> Option<&str> {
        crate::kv(&self.stdout, key)
    }

    /// Like [`Out::kv`], failing the test (with the whole output) when the key is missing.
    #[track_caller]
    pub fn get(&self, key: &str) -> &str {
        match self.kv(key) {
            Some(v) => v,
            None => panic!("no {key}= line in the output: {self:#?}"),
        }
    }
}

/// A private rkt world; see the module docs.
pub struct RktCtx {
    root: tempfile::TempDir,
    rkt: PathBuf,
}

impl RktCtx {
    /// Needs root and the Makefile's static binaries (see [`crate::env_path`]).
    pub fn new() -> RktCtx {
        crate::require_root();
        for var in ["RKT_STAGE1_ACI", "RKT_INSPECT_BIN"] {
            crate::env_path(var);
        }
        let root = tempfile::Builder::new()
            .prefix("rkt-ft-")
            .tempdir()
            .expect("creating the test's temp dir");
        for d in ["data", "local", "system", "user", "work"] {
            std::fs::create_dir_all(root.path().join(d)).expect("creating test dirs");
        }
        RktCtx {
            root,
            rkt: rkt_bin(),
        }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }
    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }
    pub fn local_config(&self) -> PathBuf {
        self.path().join("local")
    }
    pub fn system_config(&self) -> PathBuf {
        self.path().join("system")
    }
    pub fn user_config(&self) -> PathBuf {
        self.path().join("user")
    }
    /// Scratch space for the test's images, host volumes and files.
    pub fn work(&self) -> PathBuf {
        self.path().join("work")
    }

    /// `rkt` with this world's dirs, stdin from /dev/null.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.rkt);
        cmd.arg(format!("--dir={}", self.data_dir().display()))
            .arg(format!("--local-config={}", self.local_config().display()))
            .arg(format!(
                "--system-config={}",
                self.system_config().display()
            ))
            .arg(format!("--user-config={}", self.user_config().display()))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    pub fn rkt<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        output(self.command(args), TIMEOUT)
    }

    /// `rkt --insecure-options=image run --net=none ARGS…`.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Out {
        self.rkt(&run_args(args))
    }

    /// `rkt --insecure-options=image prepare --quiet IMAGE`; the prepared pod's UUID.
    pub fn prepare(&self, image: &Path) -> String {
        let out = self.rkt(&[
            OsStr::new("--insecure-options=image"),
            OsStr::new("prepare"),
            OsStr::new("--quiet"),
            image.as_os_str(),
        ]);
        out.ok().trim().to_string()
    }

    /// [`RktCtx::run`] of a single image with no other flags.
    pub fn run_image(&self, image: &Path) -> Out {
        self.run(&[image])
    }

    /// Start `rkt run ARGS…` in the background (as [`RktCtx::run`]) and wait until every app
    /// has started (the supervisor's `ready` link).
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> SpawnedPod<'_> {
        let n = std::fs::read_dir(self.work()).map_or(0, |d| d.count());
        let uuid_file = self.work().join(format!("spawn-{n}.uuid"));
        let stdout = self.work().join(format!("spawn-{n}.out"));
        let stderr = self.work().join(format!("spawn-{n}.err"));
        let mut all = vec![format!("--uuid-file-save={}", uuid_file.display()).into()];
        all.extend(args.iter().map(|s| s.as_ref().to_os_string()));
        let mut cmd = self.command(&run_args(&all));
        cmd.stdout(file(&stdout)).stderr(file(&stderr));
        let child = cmd.spawn().expect("starting rkt run");
        let mut pod = SpawnedPod {
            ctx: self,
            child: Some(child),
            uuid: String::new(),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if pod.uuid.is_empty() {
                pod.uuid = std::fs::read_to_string(&uuid_file)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
            }
            let ready = !pod.uuid.is_empty()
                && self.pod_dir(&pod.uuid).is_some_and(|d| {
                    d.join("stage1/rootfs/rkt/supervisor-status")
                        .symlink_metadata()
                        .is_ok()
                });
            if ready {
                return pod;
            }
            if !pod.is_running() || Instant::now() > deadline {
                let out = pod.take_output();
                panic!("the pod did not become ready: {out:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `rkt status UUID` as a map of its `key=value` lines.
    pub fn status(&self, uuid: &str) -> BTreeMap<String, String> {
        parse_kv(self.rkt(&["status", uuid]).ok())
    }

    /// `rkt list --format=json`, parsed.
    pub fn pods_json(&self) -> serde_json::Value {
        let out = self.rkt(&["list", "--format=json"]);
        serde_json::from_str(out.ok())
            .unwrap_or_else(|e| panic!("rkt list --format=json is not JSON ({e}): {out:#?}"))
    }

    /// The pod's directory in whatever state it is (`<data>/pods/<state>/<uuid>`).
    pub fn pod_dir(&self, uuid: &str) -> Option<PathBuf> {
        let pods = std::fs::read_dir(self.data_dir().join("pods")).ok()?;
        pods.flatten()
            .map(|state| state.path().join(uuid))
            .find(|p| p.is_dir())
    }

    /// UUIDs of the pods in `pods/run` (running or exited, not yet collected).
    fn run_pods(&self) -> Vec<String> {
        let dir = std::fs::read_dir(self.data_dir().join("pods/run"));
        dir.into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Default for RktCtx {
    fn default() -> Self {
        RktCtx::new()
    }
}

impl Drop for RktCtx {
    fn drop(&mut self) {
        for uuid in self.run_pods() {
            let _ = self.command(&["stop", "--force", &uuid]).output();
        }
        // Stopped pods release their lock as they die: gc until none is left.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let _ = self.command(&["gc", "--grace-period=0s"]).output();
            if self.run_pods().is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let leaked = mounts_under(self.path());
        for m in leaked.iter().rev() {
            if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
                // SAFETY: a valid C string; MNT_DETACH never blocks.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        if !leaked.is_empty() && !std::thread::panicking() {
            panic!("mounts left on the host under the test dir: {leaked:?}");
        }
    }
}

/// A `rkt run` in the background; dropping it force-stops the pod.
pub struct SpawnedPod<'a> {
    ctx: &'a RktCtx,
    child: Option<Child>,
    pub uuid: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl SpawnedPod<'_> {
    /// Whether the `rkt run` process (stage1's init) is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Wait for the pod to end (at most `timeout`) and return what `rkt run` printed.
    pub fn wait(mut self, timeout: Duration) -> Out {
        let deadline = Instant::now() + timeout;
        while self.is_running() {
            if Instant::now() > deadline {
                let out = self.take_output();
                panic!(
                    "the pod {} did not end within {timeout:?}: {out:#?}",
                    self.uuid
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.take_output()
    }

    /// Kill what is left and collect the exit code and output.
    fn take_output(&mut self) -> Out {
        let code = match self.child.take() {
            Some(mut c) => {
                if matches!(c.try_wait(), Ok(None)) {
                    let _ = c.kill();
                }
                c.wait().ok().and_then(|s| s.code()).unwrap_or(-1)
            }
            None => -1,
        };
        Out {
            code,
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

impl Drop for SpawnedPod<'_> {
    fn drop(&mut self) {
        if self.is_running() && !self.uuid.is_empty() {
            let _ = self.ctx.command(&["stop", "--force", &self.uuid]).output();
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.is_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.take_output();
    }
}

/// The `rkt` binary: `RKT_BIN`, else `rkt` in the cargo profile dir this test runs from.
pub fn rkt_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RKT_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    // Test executables live in `<target>/<profile>/deps/`.
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf);
    let rkt = profile_dir.map(|d| d.join("rkt")).unwrap_or_default();
    assert!(
        rkt.is_file(),
        "no rkt binary at {}: build it first (`make test` does), or set RKT_BIN",
        rkt.display()
    );
    rkt
}

fn run_args<S: AsRef<OsStr>>(args: &[S]) -> Vec<std::ffi::OsString> {
    let mut all: Vec<std::ffi::OsString> = vec!["--insecure-options=image".into(), "run".into()];
    // `--net=none` unless the test picks the network itself.
    if !args
        .iter()
        .any(|a| a.as_ref().to_string_lossy().starts_with("--net"))
    {
        all.push("--net=none".into());
    }
    all.extend(args.iter().map(|s| s.as_ref().to_os_string()));
    all
}

fn file(path: &Path) -> std::fs::File {
    std::fs::File::create(path).expect("creating an output file")
}

/// `key=value` lines into a map (the last value wins).
pub fn parse_kv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Run `cmd` to its end with stdout and stderr captured; kill it and fail after `timeout`.
pub fn output(mut cmd: Command, timeout: Duration) -> Out {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(child.stdout.take().map(|r| Box::new(r) as _));
    let err = reader(child.stderr.take().map(|r| Box::new(r) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let result = Out {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "{cmd:?} took longer than {timeout:?}: {result:#?}"
    );
    result
}

/// Mount points at or below `dir` in this (the host's) mount namespace, in mount order.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b[i], oct) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape_mountinfo(r"/plain\0"), r"/plain\0");
    }

    #[test]
    fn kv_lines() {
        let m = parse_kv("state=running\napp-a=0\nnoise\n");
        assert_eq!(m["state"], "running");
        assert_eq!(m["app-a"], "0");
        assert_eq!(m.len(), 2);
    }
}
