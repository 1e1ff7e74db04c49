//! rkt's `run`/`prepare` command line after the subcommand (rkt.md §1 "run", "per-app flags").
//!
//! `IMAGE [app flags] [-- args… ---] IMAGE…`: pod flags may appear anywhere; per-app flags
//! apply to the image before them, or to every image when they come before the first one (an
//! app's own value wins); arguments after `--` belong to the image before it, up to `---`;
//! rkt's global flags are accepted anywhere and handed back for the CLI to apply. Values take
//! `--flag=v` or `--flag v`; booleans `--x` or `--x=true|false`.

use std::path::PathBuf;

pub mod net;
mod values;

use aci::isolator::{IsolatorValue, from_cli_flag};
use aci::manifest::{ExposedPort, Volume};
use aci::types::{AcIdentifier, AcName};

/// Which subcommand the arguments are for (`prepare` also takes `--quiet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Run,
    Prepare,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Prepare => "prepare",
        }
    }
}

/// A command line that cannot be used; each names the flag(s) involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgsError {
    #[error("unknown flag {flag} for rkt {command}; see `rkt {command} --help`")]
    UnknownFlag { flag: String, command: &'static str },
    #[error("flag {flag} needs a value")]
    MissingValue { flag: String },
    #[error("{flag}={value:?}: {rule}")]
    BadValue {
        flag: String,
        value: String,
        rule: String,
    },
    #[error("conflicting flags: {first} and {second}: {why}")]
    Conflict {
        first: String,
        second: String,
        why: String,
    },
    #[error("\"--\" must follow an image: the arguments after it are that image's app arguments")]
    ArgsWithoutImage,
    #[error("\"---\" ends the app arguments started by \"--\", but none were started")]
    StrayTerminator,
    #[error("give at least one image or --pod-manifest")]
    NoImages,
    #[error("{flag} is not supported yet: {why}")]
    Unsupported { flag: String, why: &'static str },
}

type Result<T> = std::result::Result<T, ArgsError>;

use values::{bad, name_value, parse_bool, parse_gids, parse_mount, parse_port};

/// rkt's global flags found after the subcommand; `None` = not given there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalFlags {
    pub debug: Option<bool>,
    pub dir: Option<PathBuf>,
    pub insecure_options: Option<String>,
    pub local_config: Option<PathBuf>,
    pub system_config: Option<PathBuf>,
    pub user_config: Option<PathBuf>,
    pub trust_keys_from_https: Option<bool>,
    pub max_image_size: Option<String>,
}

/// The one stage1 flag given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage1Flag {
    Path(PathBuf),
    Name(String),
    Hash(String),
    Url(String),
    FromDir(String),
}

impl Stage1Flag {
    /// The flag as spelled on the command line.
    pub fn flag(&self) -> &'static str {
        match self {
            Stage1Flag::Path(_) => "--stage1-path",
            Stage1Flag::Name(_) => "--stage1-name",
            Stage1Flag::Hash(_) => "--stage1-hash",
            Stage1Flag::Url(_) => "--stage1-url",
            Stage1Flag::FromDir(_) => "--stage1-from-dir",
        }
    }
}

/// Pod-wide flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodFlags {
    pub volumes: Vec<Volume>,
    pub set_env: Vec<(String, String)>,
    pub set_env_files: Vec<PathBuf>,
    pub inherit_env: bool,
    pub hostname: Option<String>,
    pub interactive: bool,
    pub uuid_file_save: Option<PathBuf>,
    pub pod_manifest: Option<PathBuf>,
    pub no_overlay: bool,
    /// `--net` values in order; empty means rkt's `default`.
    pub net: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub dns_domain: Option<String>,
    pub hosts_entries: Vec<String>,
    pub ports: Vec<ExposedPort>,
    pub mds_register: bool,
    pub ipc: Option<String>,
    pub pull_policy: Option<String>,
    pub stage1: Option<Stage1Flag>,
    /// `prepare --quiet`: print only the UUID.
    pub quiet: bool,
    /// `--private-users`: run the pod in its own user namespace (a fresh 65536-id range).
    pub private_users: bool,
    /// `--pids-limit=N|max`: the pod's `pids.max` (stage1's default when absent).
    pub pids_limit: Option<String>,
}

impl PodFlags {
    /// The `--net` value stage1 gets (`default` when none was given).
    pub fn net_spec(&self) -> String {
        if self.net.is_empty() {
            "default".to_string()
        } else {
            self.net.join(",")
        }
    }

    fn net_has(&self, kind: &str) -> bool {
        self.net
            .iter()
            .flat_map(|n| n.split(','))
            .any(|n| n.split(':').next() == Some(kind))
    }
}

/// `--mount volume=V,target=P`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFlag {
    pub volume: AcName,
    pub target: String,
}

/// Per-app flags; `None`/empty = not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppFlags {
    pub exec: Option<String>,
    /// The arguments after `--` (appended to the exec, as rkt does).
    pub args: Option<Vec<String>>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub supplementary_gids: Option<Vec<u32>>,
    pub working_dir: Option<String>,
    pub environment: Vec<(String, String)>,
    pub name: Option<AcName>,
    pub mounts: Vec<MountFlag>,
    pub readonly_rootfs: Option<bool>,
    pub annotations: Vec<(AcIdentifier, String)>,
    pub user_annotations: Vec<(String, String)>,
    pub user_labels: Vec<(String, String)>,
    pub isolators: Vec<IsolatorValue>,
    /// `--signature`: the detached signature of this image file.
    pub signature: Option<PathBuf>,
}

impl AppFlags {
    /// These flags (an app's own) over `defaults` (those before the first image).
    fn over(mut self, defaults: &AppFlags) -> AppFlags {
        let d = defaults.clone();
        self.exec = self.exec.or(d.exec);
        self.user = self.user.or(d.user);
        self.group = self.group.or(d.group);
        self.supplementary_gids = self.supplementary_gids.or(d.supplementary_gids);
        self.working_dir = self.working_dir.or(d.working_dir);
        self.name = self.name.or(d.name);
        self.readonly_rootfs = self.readonly_rootfs.or(d.readonly_rootfs);
        self.signature = self.signature.or(d.signature);
        self.environment = merge_pairs(d.environment, self.environment, |a, b| a.0 == b.0);
        self.annotations = merge_pairs(d.annotations, self.annotations, |a, b| a.0 == b.0);
        self.user_annotations =
            merge_pairs(d.user_annotations, self.user_annotations, |a, b| a.0 == b.0);
        self.user_labels = merge_pairs(d.user_labels, self.user_labels, |a, b| a.0 == b.0);
        self.isolators = merge_pairs(d.isolators, self.isolators, |a, b| a.name() == b.name());
        self.mounts = merge_pairs(d.mounts, self.mounts, |a, b| a.target == b.target);
        self
    }

    fn is_empty(&self) -> bool {
        *self == AppFlags::default()
    }
}

/// `base` then `over`, where an entry of `over` replaces the entries of `base` it `same`s.
fn merge_pairs<T>(base: Vec<T>, over: Vec<T>, same: impl Fn(&T, &T) -> bool) -> Vec<T> {
    let mut out: Vec<T> = base
        .into_iter()
        .filter(|b| !over.iter().any(|o| same(b, o)))
        .collect();
    out.extend(over);
    out
}

/// One image to run with its effective flags (the defaults already folded in).
#[derive(Debug, Clone, PartialEq)]
pub struct AppRequest {
    pub image: String,
    pub flags: AppFlags,
}

/// The parsed command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunArgs {
    pub global: GlobalFlags,
    pub pod: PodFlags,
    pub apps: Vec<AppRequest>,
    /// `--help`/`-h` was given: print the usage and do nothing else.
    pub help: bool,
}

const BOOL_FLAGS: &[&str] = &[
    "debug",
    "trust-keys-from-https",
    "inherit-env",
    "interactive",
    "no-overlay",
    "mds-register",
    "private-users",
    "readonly-rootfs",
    "quiet",
    "help",
];

/// The parser's position: which app the next per-app flag applies to.
struct State {
    cmd: Command,
    out: RunArgs,
    defaults: AppFlags,
    apps: Vec<(String, AppFlags)>,
}

impl State {
    fn app(&mut self) -> &mut AppFlags {
        match self.apps.last_mut() {
            Some((_, f)) => f,
            None => &mut self.defaults,
        }
    }

    fn set_stage1(&mut self, s: Stage1Flag) -> Result<()> {
        if let Some(old) = &self.out.pod.stage1
            && old.flag() != s.flag()
        {
            return Err(ArgsError::Conflict {
                first: old.flag().to_string(),
                second: s.flag().to_string(),
                why: "choose one stage1 image".to_string(),
            });
        }
        self.out.pod.stage1 = Some(s);
        Ok(())
    }

    /// Apply one flag; `Ok(false)` when the name is not a flag of this command.
    fn flag(&mut self, name: &str, v: Option<&str>) -> Result<bool> {
        let flag = format!("--{name}");
        let val = || {
            v.map(str::to_string)
                .ok_or(ArgsError::MissingValue { flag: flag.clone() })
        };
        let pod = &mut self.out.pod;
        let g = &mut self.out.global;
        match name {
            "debug" => g.debug = Some(parse_bool(&flag, v)?),
            "trust-keys-from-https" => g.trust_keys_from_https = Some(parse_bool(&flag, v)?),
            "dir" => g.dir = Some(val()?.into()),
            "insecure-options" => g.insecure_options = Some(val()?),
            "max-image-size" => g.max_image_size = Some(val()?),
            "local-config" => g.local_config = Some(val()?.into()),
            "system-config" => g.system_config = Some(val()?.into()),
            "user-config" => g.user_config = Some(val()?.into()),
            "help" => self.out.help = parse_bool(&flag, v)?,
            "quiet" if self.cmd == Command::Prepare => pod.quiet = parse_bool(&flag, v)?,
            "volume" => pod.volumes.push(
                Volume::from_cli(&val()?)
                    .map_err(|e| bad(&flag, v.unwrap_or(""), e.to_string()))?,
            ),
            "set-env" => pod.set_env.push(name_value(&flag, &val()?)?),
            "set-env-file" => pod.set_env_files.push(val()?.into()),
            "inherit-env" => pod.inherit_env = parse_bool(&flag, v)?,
            "hostname" => pod.hostname = Some(val()?),
            "interactive" => pod.interactive = parse_bool(&flag, v)?,
            "uuid-file-save" => pod.uuid_file_save = Some(val()?.into()),
            "pod-manifest" => pod.pod_manifest = Some(val()?.into()),
            "no-overlay" => pod.no_overlay = parse_bool(&flag, v)?,
            // rkt's `--net` alone means `default` (pflag NoOptDefVal); only `--net=X` sets it.
            "net" => pod.net.push(v.unwrap_or("default").to_string()),
            "dns" => pod.dns.push(val()?),
            "dns-search" => pod.dns_search.push(val()?),
            "dns-opt" => pod.dns_opt.push(val()?),
            "dns-domain" => pod.dns_domain = Some(val()?),
            "hosts-entry" => pod.hosts_entries.push(val()?),
            "port" => pod.ports.push(parse_port(&flag, &val()?)?),
            "mds-register" => pod.mds_register = parse_bool(&flag, v)?,
            "ipc" => {
                let ipc = val()?;
                if !matches!(ipc.as_str(), "auto" | "private" | "parent") {
                    return Err(bad(&flag, &ipc, "use auto, private or parent"));
                }
                pod.ipc = Some(ipc);
            }
            "private-users" => {
                let on = parse_bool(&flag, v)?;
                if on && self.cmd == Command::Prepare {
                    return Err(ArgsError::Unsupported {
                        flag,
                        why: "give --private-users to `rkt run`, or to `rkt run-prepared` (prepared pods do not keep it)",
                    });
                }
                pod.private_users = on;
            }
            "pids-limit" => {
                let limit = val()?;
                let ok = limit == "max" || limit.parse::<u64>().is_ok_and(|n| n > 0);
                if !ok {
                    return Err(bad(&flag, &limit, "use a positive number of tasks, or max"));
                }
                pod.pids_limit = Some(limit);
            }
            "pull-policy" => {
                let p = val()?;
                if !matches!(p.as_str(), "new" | "update" | "never") {
                    return Err(bad(&flag, &p, "use new, update or never"));
                }
                pod.pull_policy = Some(p);
            }
            "stage1-path" => self.set_stage1(Stage1Flag::Path(val()?.into()))?,
            "stage1-name" => self.set_stage1(Stage1Flag::Name(val()?))?,
            "stage1-hash" => self.set_stage1(Stage1Flag::Hash(val()?))?,
            "stage1-url" => self.set_stage1(Stage1Flag::Url(val()?))?,
            "stage1-from-dir" => self.set_stage1(Stage1Flag::FromDir(val()?))?,
            _ => return self.app_flag(name, &flag, v),
        }
        Ok(true)
    }

    fn app_flag(&mut self, name: &str, flag: &str, v: Option<&str>) -> Result<bool> {
        let val = || {
            v.map(str::to_string)
                .ok_or(ArgsError::MissingValue { flag: flag.into() })
        };
        let app = self.app();
        match name {
            "exec" => app.exec = Some(val()?),
            "user" => app.user = Some(val()?),
            "group" => app.group = Some(val()?),
            "supplementary-gids" => app.supplementary_gids = Some(parse_gids(flag, &val()?)?),
            "working-dir" => {
                let dir = val()?;
                if !dir.starts_with('/') {
                    return Err(bad(flag, &dir, "must be an absolute path"));
                }
                app.working_dir = Some(dir);
            }
            "environment" => {
                let pair = name_value(flag, &val()?)?;
                app.environment =
                    merge_pairs(std::mem::take(&mut app.environment), vec![pair], |a, b| {
                        a.0 == b.0
                    });
            }
            "name" => {
                let n = val()?;
                app.name = Some(AcName::new(n.as_str()).map_err(|e| bad(flag, &n, e.to_string()))?);
            }
            "mount" => app.mounts.push(parse_mount(flag, &val()?)?),
            "readonly-rootfs" => app.readonly_rootfs = Some(parse_bool(flag, v)?),
            "annotation" => {
                let (n, value) = name_value(flag, &val()?)?;
                let id = AcIdentifier::new(n.as_str()).map_err(|e| bad(flag, &n, e.to_string()))?;
                app.annotations.push((id, value));
            }
            "user-annotation" => app.user_annotations.push(name_value(flag, &val()?)?),
            "user-label" => app.user_labels.push(name_value(flag, &val()?)?),
            "signature" => app.signature = Some(val()?.into()),
            "memory" | "cpu" | "cpu-shares" | "caps-retain" | "caps-remove" | "seccomp"
            | "oom-score-adj" => {
                let arg = val()?;
                let iso = from_cli_flag(name, &arg).map_err(|e| bad(flag, &arg, e.to_string()))?;
                app.isolators =
                    merge_pairs(std::mem::take(&mut app.isolators), vec![iso], |a, b| {
                        a.name() == b.name()
                    });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Parse the arguments after `rkt run` / `rkt prepare`.
pub fn parse(cmd: Command, argv: &[String]) -> Result<RunArgs> {
    let mut st = State {
        cmd,
        out: RunArgs::default(),
        defaults: AppFlags::default(),
        apps: Vec::new(),
    };
    let mut i = 0;
    while i < argv.len() {
        let tok = argv[i].as_str();
        i += 1;
        if tok == "--" {
            let Some((_, app)) = st.apps.last_mut() else {
                return Err(ArgsError::ArgsWithoutImage);
            };
            let mut args = Vec::new();
            while i < argv.len() && argv[i] != "---" {
                args.push(argv[i].clone());
                i += 1;
            }
            i += 1; // the `---`, if any
            app.args = Some(args);
        } else if tok == "---" {
            return Err(ArgsError::StrayTerminator);
        } else if tok == "-h" {
            st.out.help = true;
        } else if let Some(rest) = tok.strip_prefix("--") {
            let (name, inline) = match rest.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (rest, None),
            };
            let value = match inline {
                Some(v) => Some(v),
                // Booleans and `--net` never take the next word as their value.
                None if BOOL_FLAGS.contains(&name) || name == "net" => None,
                None if i < argv.len() => {
                    i += 1;
                    Some(argv[i - 1].clone())
                }
                None => None,
            };
            if !st.flag(name, value.as_deref())? {
                return Err(ArgsError::UnknownFlag {
                    flag: format!("--{name}"),
                    command: cmd.name(),
                });
            }
        } else if tok.starts_with('-') && tok.len() > 1 {
            return Err(ArgsError::UnknownFlag {
                flag: tok.to_string(),
                command: cmd.name(),
            });
        } else {
            st.apps.push((tok.to_string(), AppFlags::default()));
        }
    }
    finish(st)
}

fn finish(st: State) -> Result<RunArgs> {
    let State {
        mut out,
        defaults,
        apps,
        ..
    } = st;
    if out.help {
        return Ok(out);
    }
    let have_defaults = !defaults.is_empty();
    out.apps = apps
        .into_iter()
        .map(|(image, flags)| AppRequest {
            image,
            flags: flags.over(&defaults),
        })
        .collect();
    check_conflicts(&out, have_defaults, &defaults)?;
    Ok(out)
}

fn conflict(first: &str, second: &str, why: &str) -> ArgsError {
    ArgsError::Conflict {
        first: first.to_string(),
        second: second.to_string(),
        why: why.to_string(),
    }
}

fn check_conflicts(out: &RunArgs, have_defaults: bool, defaults: &AppFlags) -> Result<()> {
    let pod = &out.pod;
    if pod.pod_manifest.is_some() {
        let why = "a pod manifest describes the whole pod";
        let others = [
            (!out.apps.is_empty(), "IMAGE"),
            (!pod.volumes.is_empty(), "--volume"),
            (!pod.ports.is_empty(), "--port"),
            (!pod.set_env.is_empty(), "--set-env"),
            (!pod.set_env_files.is_empty(), "--set-env-file"),
            (pod.inherit_env, "--inherit-env"),
            (have_defaults, "per-app flags"),
        ];
        if let Some((_, other)) = others.iter().find(|(set, _)| *set) {
            return Err(conflict("--pod-manifest", other, why));
        }
    } else if out.apps.is_empty() {
        return Err(ArgsError::NoImages);
    }
    if pod.interactive && out.apps.len() > 1 {
        return Err(conflict(
            "--interactive",
            "several images",
            "an interactive pod runs exactly one app",
        ));
    }
    net::check_net(&pod.net)?;
    if !pod.ports.is_empty() {
        for net in ["host", "none"] {
            if pod.net_has(net) {
                return Err(conflict(
                    "--port",
                    &format!("--net={net}"),
                    "ports are forwarded only into a pod network",
                ));
            }
        }
    }
    if pod.mds_register && pod.net_has("none") {
        return Err(conflict(
            "--mds-register",
            "--net=none",
            "the metadata service needs a network",
        ));
    }
    if defaults.signature.is_some() && out.apps.len() > 1 {
        return Err(conflict(
            "--signature",
            "several images",
            "a signature belongs to one image: put --signature after the image it signs",
        ));
    }
    let mut names: Vec<&AcName> = Vec::new();
    for app in &out.apps {
        if let Some(n) = &app.flags.name {
            if names.contains(&n) {
                return Err(conflict(
                    &format!("--name={n}"),
                    &format!("--name={n}"),
                    "app names must be unique in a pod",
                ));
            }
            names.push(n);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
