//! The reified pod manifest `rkt run`/`prepare` write: each image's app with the command-line
//! overrides applied (rkt's `generatePodManifest`), pure so it is tested without a store.

use std::collections::BTreeMap;

use aci::manifest::{
    Annotations, App, EnvVar, ImageManifest, Isolator, Mount, PodManifest, RuntimeApp, RuntimeImage,
};
use aci::types::{AcIdentifier, AcName, ImageId};

use super::args::{AppFlags, PodFlags};

/// Why the pod manifest cannot be made; each names the app or image.
#[derive(Debug, thiserror::Error)]
pub enum ManifestGenError {
    #[error("image {image}: its name gives no usable app name ({error}); give one with --name")]
    AppName { image: String, error: String },
    #[error(
        "two apps are named {name:?} (images {first} and {second}); give one of them another \
         name with --name"
    )]
    DuplicateApp {
        name: String,
        first: String,
        second: String,
    },
    #[error("image {image} has no app section and --exec is not given")]
    NoApp { image: String },
    #[error("app {app}: {error}")]
    Invalid {
        app: String,
        #[source]
        error: aci::manifest::ManifestError,
    },
}

type Result<T> = std::result::Result<T, ManifestGenError>;

/// One app to put in the pod: its flags, its image manifest and the image's full ID.
#[derive(Debug, Clone)]
pub struct AppInput<'a> {
    pub flags: &'a AppFlags,
    pub image: &'a ImageManifest,
    pub id: ImageId,
}

/// The environment layers below `--environment`, lowest first (rkt.md "Env"): the host's
/// environment (with `--inherit-env`), then the image's, then these files, then `--set-env`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvLayers {
    pub inherited: Vec<(String, String)>,
    pub files: Vec<(String, String)>,
    pub set_env: Vec<(String, String)>,
}

/// The default app name of an image: the last component of its name, sanitized (rkt's
/// `imageNameToAppName`).
pub fn default_app_name(image: &ImageManifest) -> Result<AcName> {
    let name = image.name.as_str();
    let last = name.rsplit('/').next().unwrap_or(name);
    AcName::sanitize(last).map_err(|e| ManifestGenError::AppName {
        image: name.to_string(),
        error: e.to_string(),
    })
}

/// `--set-env-file` content: `NAME=VALUE` lines; blank lines and `#` comments are skipped,
/// lines without `=` too (rkt ignores them).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(n, _)| !n.is_empty())
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Set `name` in `env`: replace it in place when present, else append.
fn set_env(env: &mut Vec<EnvVar>, name: &str, value: &str) {
    match env.iter_mut().find(|e| e.name == name) {
        Some(e) => e.value = value.to_string(),
        None => env.push(EnvVar {
            name: name.to_string(),
            value: value.to_string(),
        }),
    }
}

/// The effective app: the image's app (or a minimal one for `--exec`) with the flags applied.
fn effective_app(input: &AppInput, env: &EnvLayers, uid_gid: (u32, u32)) -> Result<App> {
    let f = input.flags;
    let mut app = match (&input.image.app, &f.exec) {
        (Some(app), _) => app.clone(),
        (None, Some(_)) => App {
            exec: Vec::new(),
            event_handlers: Vec::new(),
            user: uid_gid.0.to_string(),
            group: uid_gid.1.to_string(),
            supplementary_gids: Vec::new(),
            working_directory: None,
            environment: Vec::new(),
            mount_points: Vec::new(),
            ports: Vec::new(),
            isolators: Vec::new(),
            user_annotations: BTreeMap::new(),
            user_labels: BTreeMap::new(),
        },
        (None, None) => {
            return Err(ManifestGenError::NoApp {
                image: input.image.name.to_string(),
            });
        }
    };
    // rkt: --exec replaces the whole command line; `-- args` are appended to it.
    if let Some(exec) = &f.exec {
        app.exec = vec![exec.clone()];
    }
    if let Some(args) = &f.args {
        app.exec.extend(args.iter().cloned());
    }
    if let Some(u) = &f.user {
        app.user = u.clone();
    }
    if let Some(g) = &f.group {
        app.group = g.clone();
    }
    if let Some(gids) = &f.supplementary_gids {
        app.supplementary_gids = gids.clone();
    }
    if let Some(wd) = &f.working_dir {
        app.working_directory = Some(wd.clone());
    }
    let mut merged = Vec::new();
    for (n, v) in &env.inherited {
        set_env(&mut merged, n, v);
    }
    for e in &app.environment {
        set_env(&mut merged, &e.name, &e.value);
    }
    for (n, v) in env.files.iter().chain(&env.set_env).chain(&f.environment) {
        set_env(&mut merged, n, v);
    }
    app.environment = merged;
    for iso in &f.isolators {
        // A flag replaces the image's isolators of its kind: retain and remove sets included.
        use aci::isolator as i;
        let kind: &[&str] = match iso.name() {
            i::SECCOMP_RETAIN_SET | i::SECCOMP_REMOVE_SET => {
                &[i::SECCOMP_RETAIN_SET, i::SECCOMP_REMOVE_SET]
            }
            i::CAPABILITIES_RETAIN_SET | i::CAPABILITIES_REMOVE_SET => {
                &[i::CAPABILITIES_RETAIN_SET, i::CAPABILITIES_REMOVE_SET]
            }
            _ => &[],
        };
        app.isolators
            .retain(|i| i.name.as_str() != iso.name() && !kind.contains(&i.name.as_str()));
        let name = AcIdentifier::new(iso.name()).map_err(|e| ManifestGenError::Invalid {
            app: input.image.name.to_string(),
            error: aci::manifest::ManifestError::Invalid {
                path: "isolators".into(),
                value: iso.name().into(),
                rule: e.to_string(),
            },
        })?;
        app.isolators.push(Isolator {
            name,
            value: iso.to_json(),
        });
    }
    for (k, v) in &f.user_annotations {
        app.user_annotations.insert(k.clone(), v.clone());
    }
    for (k, v) in &f.user_labels {
        app.user_labels.insert(k.clone(), v.clone());
    }
    Ok(app)
}

/// The pod manifest for `apps` with the pod flags (volumes, ports). `uid_gid` is the caller's,
/// used (as rkt does) for the minimal app of an image without one run with `--exec`.
pub fn pod_manifest(
    apps: &[AppInput],
    pod: &PodFlags,
    env: &EnvLayers,
    uid_gid: (u32, u32),
) -> Result<PodManifest> {
    let mut pm = PodManifest::new();
    for input in apps {
        let name = match &input.flags.name {
            Some(n) => n.clone(),
            None => default_app_name(input.image)?,
        };
        if let Some(other) = pm.apps.iter().find(|a| a.name == name) {
            return Err(ManifestGenError::DuplicateApp {
                name: name.to_string(),
                first: other
                    .image
                    .name
                    .as_ref()
                    .map_or_else(|| other.image.id.to_string(), |n| n.to_string()),
                second: input.image.name.to_string(),
            });
        }
        let app = effective_app(input, env, uid_gid)?;
        let mut annotations = input.image.annotations.clone();
        for (k, v) in &input.flags.annotations {
            annotations.set(k.clone(), v.clone());
        }
        let ra = RuntimeApp {
            name: name.clone(),
            image: RuntimeImage {
                name: Some(input.image.name.clone()),
                id: input.id.clone(),
                labels: input.image.labels.clone(),
            },
            app: Some(app),
            read_only_root_fs: input.flags.readonly_rootfs.unwrap_or(false),
            mounts: input
                .flags
                .mounts
                .iter()
                .map(|m| Mount {
                    volume: m.volume.clone(),
                    path: m.target.clone(),
                    app_volume: None,
                })
                .collect(),
            annotations: Annotations::new(annotations.as_slice().to_vec()).map_err(|error| {
                ManifestGenError::Invalid {
                    app: name.to_string(),
                    error,
                }
            })?,
        };
        pm.apps.push(ra);
    }
    pm.volumes = pod.volumes.clone();
    pm.ports = pod.ports.clone();
    pm.validate().map_err(|error| ManifestGenError::Invalid {
        app: "(pod)".to_string(),
        error,
    })?;
    Ok(pm)
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
