//! The CNI runner: execs a network's plugins with the `CNI_*` environment and the conf on
//! stdin, parses what they print, and undoes them in reverse.
//!
//! No async runtime: each plugin runs as a child process, a helper thread collects its
//! output and exit status, and the caller waits on a channel with a timeout (the plugin is
//! SIGKILLed when it runs out). The helper threads are joined before a call returns, so the
//! caller is single-threaded again afterwards (stage1 forks right after).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::conf::{ActiveNet, CniResult, parse_result};

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(
        "network {net}: CNI plugin {plugin:?} not found in {dirs} (install it or fix the conf's \"type\")"
    )]
    NotFound {
        net: String,
        plugin: String,
        dirs: String,
    },
    #[error("network {net}: cannot start the CNI plugin {}", path.display())]
    Spawn {
        net: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("network {net}: CNI plugin {} ({command}) did not finish within {secs}s and was killed", path.display())]
    Timeout {
        net: String,
        path: PathBuf,
        command: &'static str,
        secs: u64,
    },
    #[error("network {net}: CNI plugin {} ({command}) failed: {message}", path.display())]
    Failed {
        net: String,
        path: PathBuf,
        command: &'static str,
        message: String,
    },
    #[error("network {net}: CNI plugin {} returned an unusable result: {problem}", path.display())]
    BadResult {
        net: String,
        path: PathBuf,
        problem: String,
    },
    #[error("{first} (undoing the networks already added also failed: {teardown})")]
    WithTeardown {
        first: Box<RunnerError>,
        teardown: String,
    },
}

type Result<T> = std::result::Result<T, RunnerError>;

/// The CNI operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CniCommand {
    Add,
    Del,
}

impl CniCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            CniCommand::Add => "ADD",
            CniCommand::Del => "DEL",
        }
    }
}

/// One network attached to the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub net: ActiveNet,
    /// The main (first) plugin's binary.
    pub plugin_path: PathBuf,
    /// The last plugin's output as printed (the chain's result; DEL's `prevResult`).
    pub raw_result: Value,
    pub result: CniResult,
}

/// Runs the plugins of one pod.
#[derive(Debug, Clone)]
pub struct Runner {
    /// `CNI_CONTAINERID`: the pod UUID.
    pub container_id: String,
    /// `CNI_NETNS`: the bind-mounted network namespace file.
    pub netns: PathBuf,
    /// Plugin search path, in order (also `CNI_PATH`).
    pub plugin_dirs: Vec<PathBuf>,
    pub timeout: Duration,
    /// Pass plugin stderr through (else it is kept for error messages).
    pub debug: bool,
    /// The plugin dir of the stage1 image this code comes from (its `rkt-net-plugin` links).
    /// A plugin resolved there whose type is one of ours runs in-process, as a call into the
    /// same code (see [`inproc`]); every other plugin is exec'd.
    pub builtin_dir: Option<PathBuf>,
}

/// The default limit for one plugin exec.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Runner {
    /// The plugin binary for `ty`: the first regular executable `<dir>/<ty>` on the search path.
    pub fn find_plugin(&self, net: &str, ty: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        self.plugin_dirs
            .iter()
            .map(|d| d.join(ty))
            .find(|p| {
                std::fs::metadata(p)
                    .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false)
            })
            .ok_or_else(|| RunnerError::NotFound {
                net: net.to_string(),
                plugin: ty.to_string(),
                dirs: self.cni_path(),
            })
    }

    /// `CNI_PATH`: the search dirs joined with `:`.
    pub fn cni_path(&self) -> String {
        self.plugin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The `CNI_*` variables for one exec.
    pub fn env(&self, cmd: CniCommand, if_name: &str, args: &str) -> Vec<(String, String)> {
        let mut cni_args = "IgnoreUnknown=1".to_string();
        if !args.is_empty() {
            cni_args.push(';');
            cni_args.push_str(args);
        }
        [
            ("CNI_COMMAND", cmd.as_str().to_string()),
            ("CNI_CONTAINERID", self.container_id.clone()),
            ("CNI_NETNS", self.netns.display().to_string()),
            ("CNI_IFNAME", if_name.to_string()),
            ("CNI_ARGS", cni_args),
            ("CNI_PATH", self.cni_path()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Runs `plugin` once, in-process when it is one of our built-ins, else exec'd; its
    /// stdout (the result JSON) when it succeeds.
    fn invoke(
        &self,
        net: &ActiveNet,
        plugin: &Path,
        cmd: CniCommand,
        stdin: &Value,
    ) -> Result<Vec<u8>> {
        match self.builtin(plugin) {
            Some(ty) => inproc::call(self, net, plugin, ty, cmd, stdin),
            None => self.exec(net, plugin, cmd, stdin),
        }
    }

    /// The plugin type when `plugin` is one of ours from [`Runner::builtin_dir`].
    fn builtin<'a>(&self, plugin: &'a Path) -> Option<&'a str> {
        let dir = self.builtin_dir.as_deref()?;
        if plugin.parent() != Some(dir) {
            return None;
        }
        let ty = plugin.file_name()?.to_str()?;
        crate::plugins::dispatch::PLUGINS
            .contains(&ty)
            .then_some(ty)
    }

    /// Execs `plugin` once; its stdout when it succeeds.
    fn exec(
        &self,
        net: &ActiveNet,
        plugin: &Path,
        cmd: CniCommand,
        stdin: &Value,
    ) -> Result<Vec<u8>> {
        let mut command = Command::new(plugin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CNI_") {
                command.env_remove(k);
            }
        }
        command
            .envs(self.env(cmd, &net.if_name, &net.args))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if self.debug {
                Stdio::inherit()
            } else {
                Stdio::piped()
            });
        let spawn_err = |source| RunnerError::Spawn {
            net: net.conf.name.clone(),
            path: plugin.to_path_buf(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_err)?;
        let pid = child.id() as libc::pid_t;
        if let Some(mut input) = child.stdin.take() {
            // A plugin that exits without reading its conf fails below with its own message.
            let _ = input.write_all(stdin.to_string().as_bytes());
        }
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let outcome = match rx.recv_timeout(self.timeout) {
            Ok(r) => Ok(r),
            Err(_) => {
                // SAFETY: kill takes plain integers; the child is not reaped until the waiter
                // thread's wait returns, so the pid is still ours.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = rx.recv();
                Err(RunnerError::Timeout {
                    net: net.conf.name.clone(),
                    path: plugin.to_path_buf(),
                    command: cmd.as_str(),
                    secs: self.timeout.as_secs(),
                })
            }
        };
        let _ = waiter.join();
        let output = outcome?.map_err(spawn_err)?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        Err(RunnerError::Failed {
            net: net.conf.name.clone(),
            path: plugin.to_path_buf(),
            command: cmd.as_str(),
            message: failure_message(&output.stdout, &output.stderr, output.status),
        })
    }

    /// ADD for one network (each plugin of a conf list in order, chained by `prevResult`).
    pub fn add(&self, net: &ActiveNet) -> Result<Attachment> {
        let mut prev: Option<Value> = None;
        let mut first_path = None;
        for (i, plugin) in net.conf.plugins.iter().enumerate() {
            let ty = plugin.get("type").and_then(Value::as_str).unwrap_or("");
            let path = self.find_plugin(&net.conf.name, ty)?;
            crate::debug(
                self.debug,
                &format!("{} ADD {}", net.conf.name, path.display()),
            );
            let out = self.invoke(
                net,
                &path,
                CniCommand::Add,
                &net.conf.plugin_stdin(i, prev.as_ref()),
            )?;
            let bad = |problem: String| RunnerError::BadResult {
                net: net.conf.name.clone(),
                path: path.clone(),
                problem,
            };
            let value: Value = serde_json::from_slice(&out).map_err(|e| bad(e.to_string()))?;
            parse_result(&value, net.conf.cni_version()).map_err(bad)?;
            prev = Some(value);
            first_path.get_or_insert(path);
        }
        let raw_result = prev.unwrap_or(Value::Null);
        let result = parse_result(&raw_result, net.conf.cni_version()).unwrap_or_default();
        Ok(Attachment {
            net: net.clone(),
            plugin_path: first_path.unwrap_or_default(),
            raw_result,
            result,
        })
    }

    /// DEL for one network (a conf list's plugins in reverse). `prev` is the ADD result when
    /// known; it is passed to plugins of spec 0.4.0 and later. Every plugin is tried; the
    /// first error is returned.
    pub fn del(&self, net: &ActiveNet, prev: Option<&Value>) -> Result<()> {
        let version = net.conf.cni_version();
        let with_prev = !["0.1.", "0.2.", "0.3."]
            .iter()
            .any(|v| version.starts_with(v));
        let prev = prev.filter(|p| with_prev && !p.is_null());
        let mut first_err = None;
        for (i, plugin) in net.conf.plugins.iter().enumerate().rev() {
            let ty = plugin.get("type").and_then(Value::as_str).unwrap_or("");
            let r = self.find_plugin(&net.conf.name, ty).and_then(|path| {
                crate::debug(
                    self.debug,
                    &format!("{} DEL {}", net.conf.name, path.display()),
                );
                self.invoke(net, &path, CniCommand::Del, &net.conf.plugin_stdin(i, prev))
            });
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// ADD every network in order. On a failure, DELs the failing network and then every
    /// one already added, in reverse, and returns the ADD error.
    pub fn add_all(&self, nets: &[ActiveNet]) -> Result<Vec<Attachment>> {
        let mut done: Vec<Attachment> = Vec::new();
        for net in nets {
            match self.add(net) {
                Ok(a) => done.push(a),
                Err(e) => {
                    let mut errors: Vec<String> = Vec::new();
                    if let Err(d) = self.del(net, None) {
                        crate::debug(self.debug, &format!("cleanup after failed ADD: {d}"));
                    }
                    errors.extend(self.del_all(&done).iter().map(|d| d.to_string()));
                    if errors.is_empty() {
                        return Err(e);
                    }
                    return Err(RunnerError::WithTeardown {
                        first: Box::new(e),
                        teardown: errors.join("; "),
                    });
                }
            }
        }
        Ok(done)
    }

    /// DEL every attachment in reverse order; the errors (all are tried).
    pub fn del_all(&self, done: &[Attachment]) -> Vec<RunnerError> {
        done.iter()
            .rev()
            .filter_map(|a| self.del(&a.net, Some(&a.raw_result)).err())
            .collect()
    }
}

/// A plugin failure in one line: the CNI error object's `msg` (+ `details`), else stderr,
/// else the exit status.
fn failure_message(stdout: &[u8], stderr: &[u8], status: std::process::ExitStatus) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(stdout)
        && let Some(msg) = v.get("msg").and_then(Value::as_str)
    {
        let code = v.get("code").and_then(Value::as_u64).unwrap_or(0);
        return match v.get("details").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => format!("{msg}: {d} (CNI error {code})"),
            _ => format!("{msg} (CNI error {code})"),
        };
    }
    let err = String::from_utf8_lossy(stderr);
    let err = err.trim();
    if !err.is_empty() {
        return err.lines().last().unwrap_or(err).to_string();
    }
    format!("exited with {status}")
}

mod inproc;
#[cfg(test)]
mod tests;
