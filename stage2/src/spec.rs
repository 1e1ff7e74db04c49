//! [`AppSpec`]: the one message that crosses from stage1 into stage2.
//!
//! It is JSON with snake_case keys; unknown keys are refused so that a stage1 and a stage2 built
//! from different trees fail loudly instead of silently dropping a setting.

use std::io::Read;
use std::path::{Path, PathBuf};

use aci::types::AcName;
use rustix::process::Resource;
use serde::{Deserialize, Serialize};

use crate::seccomp::SeccompSpec;

/// The largest spec we read: it is written by stage1, but a runaway writer must not exhaust RAM.
const MAX_SPEC_BYTES: u64 = 4 << 20;

/// Why a spec could not be loaded. Each variant names the source (`file` or `stdin`).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read the app spec from {source_name}")]
    Read {
        source_name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the app spec from {source_name} is larger than {MAX_SPEC_BYTES} bytes")]
    TooLarge { source_name: String },
    #[error("the app spec from {source_name} is not valid JSON for stage2")]
    Parse {
        source_name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("app {app}: invalid spec field {field}: {problem}")]
    Invalid {
        app: String,
        field: &'static str,
        problem: String,
    },
}

/// One environment variable, in the order stage1 merged them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

impl EnvVar {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        EnvVar {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One resource limit: `resource` is `RLIMIT_NOFILE`, `nofile` or `NOFILE` (any case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlimitSpec {
    pub resource: String,
    pub soft: u64,
    pub hard: u64,
}

/// Everything stage2 needs to start one app; see the crate docs for who writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The app's name in the pod (an AC name); becomes `AC_APP_NAME`.
    pub name: AcName,
    /// The app's rootfs as stage2 sees it (absolute).
    pub root: PathBuf,
    /// argv; argv[0] is looked up like `execvp` over the app's `PATH` (no shell).
    pub exec: Vec<String>,
    /// A number, a name from the image's `/etc/passwd`, or an absolute path in the rootfs.
    pub user: String,
    /// A number, a name from the image's `/etc/group`, or an absolute path in the rootfs.
    pub group: String,
    #[serde(default)]
    pub supplementary_gids: Vec<u32>,
    /// Already merged by stage1 (rkt's precedence); stage2 only adds missing defaults.
    #[serde(default)]
    pub environment: Vec<EnvVar>,
    #[serde(default = "default_working_directory")]
    pub working_directory: PathBuf,
    /// The capability bounding set, by name.
    #[serde(default = "default_capabilities")]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub no_new_privileges: bool,
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
    #[serde(default)]
    pub rlimits: Vec<RlimitSpec>,
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Fds above 2 that must reach the app (e.g. socket activation); every other one is closed.
    #[serde(default)]
    pub keep_fds: Vec<i32>,
    /// The seccomp filter installed just before the exec; `None`: no filter.
    #[serde(default)]
    pub seccomp: Option<SeccompSpec>,
    /// `--private-users`: a pinned user namespace (an nsfs file, absolute, as stage2 sees it
    /// before entering the app root) the app joins after its mounts are done; its uids and
    /// gids are then those of that namespace.
    #[serde(default)]
    pub user_namespace: Option<PathBuf>,
}

fn default_working_directory() -> PathBuf {
    PathBuf::from("/")
}

fn default_capabilities() -> Vec<String> {
    aci::isolator::DEFAULT_CAPABILITIES
        .iter()
        .map(|c| c.to_string())
        .collect()
}

impl AppSpec {
    /// Reads and validates a spec from `path`, or from stdin when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<AppSpec, SpecError> {
        let source_name = match path {
            Some(p) => p.display().to_string(),
            None => "stdin".to_string(),
        };
        let read_err = |source| SpecError::Read {
            source_name: source_name.clone(),
            source,
        };
        let mut bytes = Vec::new();
        let reader: Box<dyn Read> = match path {
            Some(p) => Box::new(std::fs::File::open(p).map_err(read_err)?),
            None => Box::new(std::io::stdin().lock()),
        };
        reader
            .take(MAX_SPEC_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(SpecError::TooLarge { source_name });
        }
        AppSpec::from_json(&bytes, &source_name)
    }

    /// Parses and validates a spec; `source_name` only labels errors.
    pub fn from_json(bytes: &[u8], source_name: &str) -> Result<AppSpec, SpecError> {
        let spec: AppSpec = serde_json::from_slice(bytes).map_err(|source| SpecError::Parse {
            source_name: source_name.to_string(),
            source,
        })?;
        spec.validate()?;
        Ok(spec)
    }

    fn invalid(&self, field: &'static str, problem: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            app: self.name.as_str().to_string(),
            field,
            problem: problem.into(),
        }
    }

    /// Checks the rules serde cannot express; every later step relies on them.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !self.root.is_absolute() {
            return Err(self.invalid("root", "must be an absolute path"));
        }
        if self
            .user_namespace
            .as_ref()
            .is_some_and(|p| !p.is_absolute())
        {
            return Err(self.invalid("user_namespace", "must be an absolute path"));
        }
        if !self.working_directory.is_absolute() {
            return Err(self.invalid("working_directory", "must be an absolute path"));
        }
        match self.exec.first() {
            None => return Err(self.invalid("exec", "is empty: nothing to run")),
            Some(a) if a.is_empty() => return Err(self.invalid("exec", "argv[0] is empty")),
            _ => {}
        }
        if self.exec.iter().any(|a| a.contains('\0')) {
            return Err(self.invalid("exec", "an argument contains a NUL byte"));
        }
        if self.user.is_empty() || self.group.is_empty() {
            return Err(self.invalid("user/group", "both are required"));
        }
        for var in &self.environment {
            if var.name.is_empty() || var.name.contains(['=', '\0']) || var.value.contains('\0') {
                return Err(self.invalid("environment", format!("bad variable {:?}", var.name)));
            }
        }
        for cap in &self.capabilities {
            if aci::isolator::capability_number(cap).is_none() {
                return Err(self.invalid("capabilities", format!("unknown capability {cap:?}")));
            }
        }
        if let Some(adj) = self.oom_score_adj
            && !(-1000..=1000).contains(&adj)
        {
            return Err(self.invalid("oom_score_adj", format!("{adj} is not in -1000..=1000")));
        }
        for limit in &self.rlimits {
            if rlimit_resource(&limit.resource).is_none() {
                return Err(
                    self.invalid("rlimits", format!("unknown resource {:?}", limit.resource))
                );
            }
            if limit.soft > limit.hard {
                return Err(self.invalid("rlimits", format!("{}: soft > hard", limit.resource)));
            }
        }
        if let Some(fd) = self.keep_fds.iter().find(|fd| **fd < 3) {
            return Err(self.invalid("keep_fds", format!("{fd}: 0-2 are always kept")));
        }
        if let Some(filter) = &self.seccomp {
            crate::seccomp::check(self.name.as_str(), filter)
                .map_err(|e| self.invalid("seccomp", e.to_string()))?;
        }
        Ok(())
    }

    /// The bounding set as a bit mask (bit n = capability n).
    pub fn capability_mask(&self) -> u64 {
        self.capabilities
            .iter()
            .filter_map(|c| aci::isolator::capability_number(c))
            .fold(0, |mask, n| mask | (1u64 << n))
    }
}

/// The kernel resource for an rlimit name in any of the accepted spellings.
pub fn rlimit_resource(name: &str) -> Option<Resource> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("RLIMIT_").unwrap_or(&upper);
    Some(match bare {
        "CPU" => Resource::Cpu,
        "FSIZE" => Resource::Fsize,
        "DATA" => Resource::Data,
        "STACK" => Resource::Stack,
        "CORE" => Resource::Core,
        "RSS" => Resource::Rss,
        "NPROC" => Resource::Nproc,
        "NOFILE" => Resource::Nofile,
        "MEMLOCK" => Resource::Memlock,
        "AS" => Resource::As,
        "LOCKS" => Resource::Locks,
        "SIGPENDING" => Resource::Sigpending,
        "MSGQUEUE" => Resource::Msgqueue,
        "NICE" => Resource::Nice,
        "RTPRIO" => Resource::Rtprio,
        "RTTIME" => Resource::Rttime,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"name":"web","root":"/opt/stage2/web/rootfs","exec":["/bin/web"],"user":"0","group":"0"}"#;

    #[test]
    fn minimal_spec_gets_defaults() {
        let spec = AppSpec::from_json(MINIMAL.as_bytes(), "test").unwrap();
        assert_eq!(spec.working_directory, Path::new("/"));
        assert_eq!(spec.capabilities.len(), 14);
        assert_eq!(spec.capability_mask(), 0xa80425fb);
        assert!(!spec.no_new_privileges && !spec.readonly_rootfs);
        assert!(spec.environment.is_empty() && spec.keep_fds.is_empty());
    }

    #[test]
    fn full_spec_round_trips() {
        let mut spec = AppSpec::from_json(MINIMAL.as_bytes(), "test").unwrap();
        spec.environment = vec![EnvVar::new("A", "1"), EnvVar::new("B", "x=y")];
        spec.rlimits = vec![RlimitSpec {
            resource: "nofile".into(),
            soft: 10,
            hard: 20,
        }];
        spec.oom_score_adj = Some(-500);
        let json = serde_json::to_vec(&spec).unwrap();
        assert_eq!(AppSpec::from_json(&json, "test").unwrap(), spec);
    }

    fn invalid_field(json: &str) -> &'static str {
        match AppSpec::from_json(json.as_bytes(), "test") {
            Err(SpecError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn with(extra: &str) -> String {
        format!("{},{extra}}}", &MINIMAL[..MINIMAL.len() - 1])
    }

    #[test]
    fn rule_breaking_specs_name_the_field() {
        let empty_exec = MINIMAL.replace(r#"["/bin/web"]"#, "[]");
        assert_eq!(invalid_field(&empty_exec), "exec");
        assert_eq!(invalid_field(&MINIMAL.replace("/opt", "opt")), "root");
        assert_eq!(
            invalid_field(&with(r#""working_directory":"x""#)),
            "working_directory"
        );
        assert_eq!(
            invalid_field(&with(r#""capabilities":["CAP_NOPE"]"#)),
            "capabilities"
        );
        assert_eq!(
            invalid_field(&with(r#""oom_score_adj":1001"#)),
            "oom_score_adj"
        );
        let bad_env = r#""environment":[{"name":"A=B","value":""}]"#;
        assert_eq!(invalid_field(&with(bad_env)), "environment");
        let bad_limit = r#""rlimits":[{"resource":"nofile","soft":2,"hard":1}]"#;
        assert_eq!(invalid_field(&with(bad_limit)), "rlimits");
        let unknown = r#""rlimits":[{"resource":"bogus","soft":1,"hard":1}]"#;
        assert_eq!(invalid_field(&with(unknown)), "rlimits");
        assert_eq!(invalid_field(&with(r#""keep_fds":[2]"#)), "keep_fds");
    }

    #[test]
    fn unknown_keys_and_bad_names_are_parse_errors() {
        for json in [with(r#""usr":"0""#), MINIMAL.replace("web\"", "Web!\"")] {
            assert!(matches!(
                AppSpec::from_json(json.as_bytes(), "t"),
                Err(SpecError::Parse { .. })
            ));
        }
    }

    #[test]
    fn rlimit_names_in_any_spelling() {
        for name in ["RLIMIT_NOFILE", "nofile", "Nofile"] {
            assert_eq!(rlimit_resource(name), Some(Resource::Nofile));
        }
        assert_eq!(rlimit_resource("RLIMIT_"), None);
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.json");
        std::fs::write(&path, MINIMAL).unwrap();
        assert_eq!(AppSpec::load(Some(&path)).unwrap().exec, ["/bin/web"]);
        let missing = dir.path().join("nope.json");
        let err = AppSpec::load(Some(&missing)).unwrap_err();
        assert!(err.to_string().contains("nope.json"), "{err}");
    }
}
