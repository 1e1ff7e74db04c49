//! The JSON form of a pod that `rkt list/status --format=json` print: rkt's api/v1 `Pod` and
//! `App`, with the app states rkt infers (from the pod state for immutable pods, from the
//! `<app>-created`/`-started`/status files for mutable ones).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::info::{NetInfo, unix_nanos, unix_secs};
use super::view::{AppView, PodView};
use super::{Pod, PodState, Result};

const MUTABLE_ANNOTATION: &str = "coreos.com/rkt/stage1/mutable";

/// The pod's times, read once per pod (every app of an immutable pod shares them).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Times {
    pub created: Option<SystemTime>,
    pub started: Option<SystemTime>,
    pub gc_marked: Option<SystemTime>,
}

impl Pod {
    pub(super) fn times(&self) -> Result<Times> {
        Ok(Times {
            created: self.created()?,
            started: self.started()?,
            gc_marked: self.gc_marked()?,
        })
    }

    /// The `--format=json` object. `codes` are the apps' recorded exit codes.
    pub(super) fn json(
        &self,
        manifest: Option<&PodView>,
        networks: &[NetInfo],
        times: &Times,
        codes: &BTreeMap<String, i32>,
    ) -> Result<PodJson> {
        let mut out = PodJson {
            name: self.uuid.to_string(),
            state: self.state().to_string(),
            networks: networks.to_vec(),
            app_names: Vec::new(),
            apps: Vec::new(),
            created_at: times.created.map(unix_secs),
            started_at: times.started.map(unix_secs),
            user_annotations: BTreeMap::new(),
            user_labels: BTreeMap::new(),
        };
        let Some(m) = manifest else { return Ok(out) };
        let mutable = m
            .annotations
            .get(MUTABLE_ANNOTATION)
            .is_some_and(|v| v == "true");
        // Only mutable pods look at per-app files beside the exit code.
        let rootfs = if mutable && !m.apps.is_empty() {
            Some(self.stage1_rootfs()?)
        } else {
            None
        };
        for ra in &m.apps {
            out.app_names.push(ra.name.as_str().to_string());
            let mut app = app_json(ra, m);
            let code = codes.get(ra.name.as_str()).copied();
            match &rootfs {
                Some(rootfs) => self.mutable_app_state(&mut app, rootfs, code, times)?,
                None => self.immutable_app_state(&mut app, code, times),
            }
            out.apps.push(app);
        }
        out.user_annotations = m.user_annotations.clone();
        out.user_labels = m.user_labels.clone();
        Ok(out)
    }

    /// All apps of an immutable pod share its fate; the exit code file says "exited".
    fn immutable_app_state(&self, app: &mut AppJson, code: Option<i32>, times: &Times) {
        app.state = AppState::from_pod(self.state());
        app.created_at = times.created.map(unix_nanos);
        if let Some(code) = code {
            app.state = AppState::Exited;
            app.exit_code = Some(code);
        }
        app.started_at = times.started.map(unix_nanos);
        app.finished_at = times.gc_marked.map(unix_nanos);
    }

    /// Apps of a mutable pod have their own created/started/status files.
    fn mutable_app_state(
        &self,
        app: &mut AppJson,
        rootfs: &str,
        code: Option<i32>,
        times: &Times,
    ) -> Result<()> {
        let status = format!("{rootfs}/rkt/status/{}", app.name);
        app.state = AppState::Unknown;
        if let Some(t) = self.mtime_in(&format!("{status}-created"))? {
            app.state = AppState::Created;
            app.created_at = Some(unix_nanos(t));
            if let Some(t) = self.mtime_in(&format!("{status}-started"))? {
                app.state = AppState::Running;
                app.started_at = Some(unix_nanos(t));
                if let Some(t) = self.mtime_in(&status)? {
                    app.state = AppState::Exited;
                    app.finished_at = Some(unix_nanos(t));
                    app.exit_code = code;
                }
            }
        }
        // A hard-killed pod never wrote the status file: its apps are still over.
        if self.state().is_after_run() && app.state != AppState::Exited {
            app.state = AppState::Exited;
            app.finished_at = times.gc_marked.map(unix_nanos);
        }
        Ok(())
    }
}

fn app_json(ra: &AppView, m: &PodView) -> AppJson {
    let mounts = ra
        .mounts
        .iter()
        .map(|mnt| {
            let vol = mnt
                .app_volume
                .as_ref()
                .or_else(|| m.volume(mnt.volume.as_str()));
            MountJson {
                name: mnt.volume.as_str().to_string(),
                container_path: mnt.path.clone(),
                host_path: vol.and_then(|v| v.source.clone()).unwrap_or_default(),
                read_only: vol.and_then(|v| v.read_only).unwrap_or(false),
            }
        })
        .collect();
    let (user_annotations, user_labels) = match &ra.app {
        Some(a) => (a.user_annotations.clone(), a.user_labels.clone()),
        None => Default::default(),
    };
    AppJson {
        name: ra.name.as_str().to_string(),
        state: AppState::Unknown,
        created_at: None,
        started_at: None,
        finished_at: None,
        exit_code: None,
        image_id: ra.image.id.to_string(),
        mounts,
        user_annotations,
        user_labels,
    }
}

/// rkt's api/v1 app state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppState {
    Unknown,
    Created,
    Running,
    Exited,
}

impl AppState {
    fn from_pod(s: PodState) -> AppState {
        match s {
            PodState::Embryo | PodState::Preparing | PodState::AbortedPrepare => AppState::Unknown,
            PodState::Prepared => AppState::Created,
            PodState::Running => AppState::Running,
            _ => AppState::Exited,
        }
    }
}

/// `rkt list/status --format=json`: rkt's api/v1 `Pod`, fields omitted where rkt omits them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodJson {
    pub name: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppJson>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
}

/// rkt's api/v1 `App`; times are nanoseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppJson {
    pub name: String,
    pub state: AppState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub image_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountJson>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
}

/// rkt's api/v1 `Mount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountJson {
    pub name: String,
    pub container_path: String,
    pub host_path: String,
    pub read_only: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_state_from_pod_state() {
        assert_eq!(AppState::from_pod(PodState::Prepared), AppState::Created);
        assert_eq!(AppState::from_pod(PodState::Garbage), AppState::Exited);
        assert_eq!(AppState::from_pod(PodState::Preparing), AppState::Unknown);
    }
}
