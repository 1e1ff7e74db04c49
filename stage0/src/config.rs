//! rkt's configuration directories: `{system,local,user}/{paths.d,stage1.d,auth.d}/*.json`.
//!
//! Each file carries `rktKind` and `rktVersion: "v1"`. Directories are read system, then local,
//! then user; within one directory files are read in name order; a later value of a key
//! overrides an earlier one (rkt's per-key merge). A malformed file is an error naming the file,
//! never a silent default.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the three configuration layers live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDirs {
    pub system: PathBuf,
    pub local: PathBuf,
    pub user: Option<PathBuf>,
}

impl Default for ConfigDirs {
    fn default() -> Self {
        ConfigDirs {
            system: "/usr/lib/rkt".into(),
            local: "/etc/rkt".into(),
            user: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("config file {path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// `paths.d`: where rkt keeps its data and looks for stage1 images.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PathsConfig {
    pub data: Option<PathBuf>,
    #[serde(rename = "stage1-images")]
    pub stage1_images: Option<PathBuf>,
}

/// `stage1.d`: the default stage1 image by name/version, and where to get it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stage1Config {
    pub name: Option<String>,
    pub version: Option<String>,
    pub location: Option<String>,
}

/// `auth.d` (kind `auth`): headers for HTTPS fetches from some domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    pub domains: Vec<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
}

/// `auth.d` (kind `dockerAuth`): registry credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerAuthConfig {
    pub registries: Vec<String>,
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
}

/// The merged configuration, what `rkt config` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Config {
    pub paths: PathsConfig,
    pub stage1: Stage1Config,
    /// Per domain; a later layer replaces a domain's entry.
    pub auth: BTreeMap<String, AuthConfig>,
    /// Per registry; a later layer replaces a registry's entry.
    pub docker_auth: BTreeMap<String, DockerAuthConfig>,
}

#[derive(Deserialize)]
struct Header {
    #[serde(rename = "rktKind")]
    kind: String,
    #[serde(rename = "rktVersion")]
    version: String,
}

impl Config {
    /// Read every layer in `dirs`; a missing directory is an empty layer.
    pub fn load(dirs: &ConfigDirs) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let layers = [Some(&dirs.system), Some(&dirs.local), dirs.user.as_ref()];
        for dir in layers.into_iter().flatten() {
            for sub in ["paths.d", "stage1.d", "auth.d"] {
                for file in json_files(&dir.join(sub))? {
                    config.apply_file(sub, &file)?;
                }
            }
        }
        Ok(config)
    }

    fn apply_file(&mut self, subdir: &str, path: &Path) -> Result<(), ConfigError> {
        let bytes = fs::read(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| ConfigError::Json {
                path: path.into(),
                source,
            })?;
        let header: Header =
            serde_json::from_value(value.clone()).map_err(|source| ConfigError::Json {
                path: path.into(),
                source,
            })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.into(),
            message,
        };
        if header.version != "v1" {
            return Err(invalid(format!(
                "rktVersion {:?} is not supported (want \"v1\")",
                header.version
            )));
        }
        let field = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
        match (subdir, header.kind.as_str()) {
            ("paths.d", "paths") => {
                if let Some(d) = field("data") {
                    self.paths.data = Some(d.into());
                }
                if let Some(d) = field("stage1-images") {
                    self.paths.stage1_images = Some(d.into());
                }
            }
            ("stage1.d", "stage1") => {
                for (key, slot) in [
                    ("name", &mut self.stage1.name),
                    ("version", &mut self.stage1.version),
                    ("location", &mut self.stage1.location),
                ] {
                    if let Some(v) = field(key) {
                        *slot = Some(v);
                    }
                }
            }
            ("auth.d", "auth") => {
                let auth: AuthConfig =
                    serde_json::from_value(value.clone()).map_err(|source| ConfigError::Json {
                        path: path.into(),
                        source,
                    })?;
                for d in &auth.domains {
                    self.auth.insert(d.clone(), auth.clone());
                }
            }
            ("auth.d", "dockerAuth") => {
                let auth: DockerAuthConfig =
                    serde_json::from_value(value.clone()).map_err(|source| ConfigError::Json {
                        path: path.into(),
                        source,
                    })?;
                for r in &auth.registries {
                    self.docker_auth.insert(r.clone(), auth.clone());
                }
            }
            (dir, kind) => {
                return Err(invalid(format!(
                    "rktKind {kind:?} does not belong in {dir}"
                )));
            }
        }
        Ok(())
    }
}

/// The `*.json` files of a directory in name order; none if it does not exist.
fn json_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::Io {
                path: dir.into(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::Io {
            path: dir.into(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, sub: &str, name: &str, body: &str) {
        fs::create_dir_all(dir.join(sub)).unwrap();
        fs::write(dir.join(sub).join(name), body).unwrap();
    }

    #[test]
    fn later_layers_override_per_key() {
        let t = tempfile::tempdir().unwrap();
        let (sys, local) = (t.path().join("sys"), t.path().join("local"));
        write(
            &sys,
            "paths.d",
            "a.json",
            r#"{"rktKind":"paths","rktVersion":"v1","data":"/sys-data","stage1-images":"/s1"}"#,
        );
        write(
            &local,
            "paths.d",
            "a.json",
            r#"{"rktKind":"paths","rktVersion":"v1","data":"/local-data"}"#,
        );
        write(
            &local,
            "stage1.d",
            "s.json",
            r#"{"rktKind":"stage1","rktVersion":"v1","name":"example.com/s1","version":"1"}"#,
        );
        write(
            &local,
            "auth.d",
            "x.json",
            r#"{"rktKind":"auth","rktVersion":"v1","domains":["a.com"],"type":"basic","credentials":{"user":"u","password":"p"}}"#,
        );
        let dirs = ConfigDirs {
            system: sys,
            local,
            user: None,
        };
        let c = Config::load(&dirs).unwrap();
        assert_eq!(c.paths.data.as_deref(), Some(Path::new("/local-data")));
        assert_eq!(c.paths.stage1_images.as_deref(), Some(Path::new("/s1")));
        assert_eq!(c.stage1.name.as_deref(), Some("example.com/s1"));
        assert_eq!(c.auth["a.com"].credentials["user"], "u");
    }

    #[test]
    fn bad_files_are_named_errors() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "paths.d", "bad.json", "{not json");
        let dirs = ConfigDirs {
            system: t.path().into(),
            local: t.path().join("none"),
            user: None,
        };
        let e = Config::load(&dirs).unwrap_err();
        assert!(e.to_string().contains("bad.json"), "{e}");
        write(
            t.path(),
            "paths.d",
            "bad.json",
            r#"{"rktKind":"stage1","rktVersion":"v1"}"#,
        );
        assert!(matches!(
            Config::load(&dirs),
            Err(ConfigError::Invalid { .. })
        ));
        write(
            t.path(),
            "paths.d",
            "bad.json",
            r#"{"rktKind":"paths","rktVersion":"v2"}"#,
        );
        assert!(matches!(
            Config::load(&dirs),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
