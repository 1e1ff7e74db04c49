//! One app of the pod → the [`stage2::AppSpec`] stage2 starts it with.
//!
//! stage0 already merged the environment (rkt's precedence) into the pod manifest's app, and
//! stage2 resolves user/group names and adds the default variables, so the mapping here is
//! mostly direct; the isolators are the part that is computed.

use std::path::{Path, PathBuf};

use aci::isolator::{self, IsolatorValue};
use aci::manifest::{App, EventHandlerName};
use stage2::seccomp::{self, SeccompSpec};
use stage2::{AppSpec, EnvVar};

use crate::context::{AppContext, PodContext};

#[derive(Debug, thiserror::Error)]
pub enum AppSpecError {
    #[error("app {app}: {what} is empty: nothing to run (set exec in the image or with --exec)")]
    NoExec { app: String, what: String },
    #[error("app {app}: the image sets no {field}")]
    Missing { app: String, field: &'static str },
    #[error("app {app}: invalid isolators")]
    Isolators {
        app: String,
        #[source]
        source: isolator::IsolatorError,
    },
    #[error(transparent)]
    Seccomp(#[from] stage2::seccomp::SeccompError),
    #[error("app {app}: the spec stage1 built is invalid")]
    Spec {
        app: String,
        #[source]
        source: stage2::SpecError,
    },
}

/// Where the supervisor keeps the specs, inside the stage1 root.
pub const APPSPEC_DIR: &str = "/rkt/appspec";

/// `/rkt/appspec/<app>.json`: the spec the app is started with.
pub fn app_spec_path(app: &str) -> PathBuf {
    Path::new(APPSPEC_DIR).join(format!("{app}.json"))
}

/// `/rkt/appspec/<app>.<event>.json` (app names hold no dots, so this never clashes).
pub fn handler_spec_path(app: &str, event: EventHandlerName) -> PathBuf {
    Path::new(APPSPEC_DIR).join(format!("{app}.{}.json", event_name(event)))
}

pub fn event_name(event: EventHandlerName) -> &'static str {
    match event {
        EventHandlerName::PreStart => "pre-start",
        EventHandlerName::PostStop => "post-stop",
    }
}

/// The exec of the app's `event` handler, if its app section has one.
pub fn handler_exec(app: &App, event: EventHandlerName) -> Option<&[String]> {
    app.event_handlers
        .iter()
        .find(|h| h.name == event)
        .map(|h| h.exec.as_slice())
}

/// The app's typed isolators (the manifest was validated, but a bad one is still an error).
fn isolators(app: &AppContext) -> Result<Vec<IsolatorValue>, AppSpecError> {
    let pairs = app
        .app
        .isolators
        .iter()
        .map(|i| (i.name.as_str(), &i.value));
    isolator::check_list(pairs)
        .map(|c| c.isolators)
        .map_err(|source| AppSpecError::Isolators {
            app: app.name.as_str().to_string(),
            source,
        })
}

/// The spec the app `app` of `ctx` is started with.
pub fn app_spec(ctx: &PodContext, app: &AppContext) -> Result<AppSpec, AppSpecError> {
    let name = app.name.as_str().to_string();
    if app.app.exec.is_empty() {
        return Err(AppSpecError::NoExec {
            app: name,
            what: "exec".into(),
        });
    }
    for (field, value) in [("user", &app.app.user), ("group", &app.app.group)] {
        if value.is_empty() {
            return Err(AppSpecError::Missing {
                app: name.clone(),
                field,
            });
        }
    }
    let isolators = isolators(app)?;
    let capabilities: Vec<String> = if ctx.args.disable_capabilities {
        isolator::CAPABILITIES
            .iter()
            .map(|(c, _)| c.to_string())
            .collect()
    } else {
        isolator::capability_bounding_set(&isolators)
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    let oom_score_adj = isolators.iter().find_map(|i| match i {
        IsolatorValue::OomScoreAdj(n) => Some(*n),
        _ => None,
    });
    let spec = AppSpec {
        name: app.name.clone(),
        root: app.root_in_stage1.clone(),
        exec: app.app.exec.clone(),
        user: app.app.user.clone(),
        group: app.app.group.clone(),
        supplementary_gids: app.app.supplementary_gids.clone(),
        environment: app
            .app
            .environment
            .iter()
            .map(|v| EnvVar::new(&v.name, &v.value))
            .collect(),
        working_directory: PathBuf::from(app.app.working_directory.as_deref().unwrap_or("/")),
        capabilities,
        no_new_privileges: isolator::no_new_privileges(&isolators),
        oom_score_adj,
        rlimits: Vec::new(),
        readonly_rootfs: app.read_only_rootfs,
        keep_fds: Vec::new(),
        seccomp: seccomp(ctx, &name, &isolators)?,
        user_namespace: ctx
            .args
            .private_users
            .map(|_| PathBuf::from(crate::setup::USERNS_FILE)),
    };
    spec.validate()
        .map_err(|source| AppSpecError::Spec { app: name, source })?;
    Ok(spec)
}

/// The app's seccomp filter: none with `--insecure-options=seccomp`, else its isolator's (the
/// `--seccomp` flag already replaced the image's in the pod manifest), else the default.
fn seccomp(
    ctx: &PodContext,
    app: &str,
    isolators: &[IsolatorValue],
) -> Result<Option<SeccompSpec>, AppSpecError> {
    if ctx.args.disable_seccomp {
        return Ok(None);
    }
    Ok(match isolator::seccomp_filter(isolators) {
        None => Some(seccomp::default_spec()),
        Some((mode, set)) => seccomp::from_isolator(app, mode, set.set(), set.errno())?,
    })
}

/// The spec of the app's `event` handler: the app's, with the handler's exec.
pub fn handler_spec(
    app_spec: &AppSpec,
    app: &AppContext,
    event: EventHandlerName,
) -> Result<Option<AppSpec>, AppSpecError> {
    let Some(exec) = handler_exec(&app.app, event) else {
        return Ok(None);
    };
    if exec.is_empty() {
        return Err(AppSpecError::NoExec {
            app: app.name.as_str().to_string(),
            what: format!("the {} handler's exec", event_name(event)),
        });
    }
    Ok(Some(AppSpec {
        exec: exec.to_vec(),
        ..app_spec.clone()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::RunArgs;
    use aci::manifest::{EventHandler, ImageManifest, Isolator, PodManifest};
    use aci::types::{AcIdentifier, AcName};
    use serde_json::json;

    fn app_ctx(app: App) -> AppContext {
        let image: ImageManifest = serde_json::from_value(json!({
            "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/web",
        }))
        .unwrap();
        AppContext {
            name: AcName::new("web").unwrap(),
            image,
            app,
            tree_id: "deps-sha512-00".into(),
            lower: "/l".into(),
            lower_layers: Vec::new(),
            upper: "/u".into(),
            work: "/w".into(),
            root_in_stage1: "/opt/stage2/web/rootfs".into(),
            root_on_host: "/p/stage1/rootfs/opt/stage2/web/rootfs".into(),
            read_only_rootfs: true,
            mounts: Vec::new(),
        }
    }

    fn pod(args: RunArgs) -> PodContext {
        let manifest: PodManifest = serde_json::from_value(json!({
            "acKind": "PodManifest", "acVersion": "0.8.11", "apps": [],
        }))
        .unwrap();
        PodContext {
            pod_dir: "/p".into(),
            data_dir: "/d".into(),
            manifest,
            stage1_root: "/p/stage1/rootfs".into(),
            stage1_lower: None,
            use_overlay: true,
            apps: Vec::new(),
            args,
        }
    }

    fn base_app() -> App {
        serde_json::from_value(json!({
            "exec": ["/bin/web", "--port", "80"],
            "user": "www", "group": "0",
            "supplementaryGIDs": [5, 6],
            "workingDirectory": "/srv",
            "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
        }))
        .unwrap()
    }

    fn iso(name: &str, value: serde_json::Value) -> Isolator {
        Isolator {
            name: AcIdentifier::new(name).unwrap(),
            value,
        }
    }

    #[test]
    fn plain_fields_map_directly() {
        let spec = app_spec(&pod(RunArgs::default()), &app_ctx(base_app())).unwrap();
        assert_eq!(spec.name.as_str(), "web");
        assert_eq!(spec.root, Path::new("/opt/stage2/web/rootfs"));
        assert_eq!(spec.exec, ["/bin/web", "--port", "80"]);
        assert_eq!((spec.user.as_str(), spec.group.as_str()), ("www", "0"));
        assert_eq!(spec.supplementary_gids, [5, 6]);
        assert_eq!(
            spec.environment,
            [EnvVar::new("B", "2"), EnvVar::new("A", "1")]
        );
        assert_eq!(spec.working_directory, Path::new("/srv"));
        assert!(spec.readonly_rootfs);
        assert!(!spec.no_new_privileges);
        assert_eq!(spec.oom_score_adj, None);
        assert!(spec.keep_fds.is_empty() && spec.rlimits.is_empty());
        assert_eq!(spec.capabilities, isolator::capability_bounding_set(&[]));
    }

    #[test]
    fn working_directory_defaults_to_root() {
        let mut app = base_app();
        app.working_directory = None;
        let spec = app_spec(&pod(RunArgs::default()), &app_ctx(app)).unwrap();
        assert_eq!(spec.working_directory, Path::new("/"));
    }

    #[test]
    fn empty_exec_names_the_app() {
        let mut app = base_app();
        app.exec.clear();
        let err = app_spec(&pod(RunArgs::default()), &app_ctx(app)).unwrap_err();
        assert!(err.to_string().contains("app web: exec is empty"), "{err}");
    }

    #[test]
    fn retain_set_replaces_the_default() {
        let mut app = base_app();
        let set = json!({"set": ["CAP_NET_ADMIN", "chown"]});
        app.isolators = vec![iso(isolator::CAPABILITIES_RETAIN_SET, set)];
        let spec = app_spec(&pod(RunArgs::default()), &app_ctx(app)).unwrap();
        assert_eq!(spec.capabilities, ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    }

    #[test]
    fn remove_set_subtracts_from_the_default() {
        let mut app = base_app();
        let set = json!({"set": ["CAP_CHOWN", "CAP_SYS_ADMIN"]});
        app.isolators = vec![iso(isolator::CAPABILITIES_REMOVE_SET, set)];
        let spec = app_spec(&pod(RunArgs::default()), &app_ctx(app)).unwrap();
        assert_eq!(spec.capabilities.len(), 13);
        assert!(!spec.capabilities.iter().any(|c| c == "CAP_CHOWN"));
        assert!(spec.capabilities.iter().any(|c| c == "CAP_KILL"));
    }

    #[test]
    fn disabled_restriction_gives_every_capability() {
        let mut app = base_app();
        let set = json!({"set": ["CAP_CHOWN"]});
        app.isolators = vec![iso(isolator::CAPABILITIES_RETAIN_SET, set)];
        let args = RunArgs {
            disable_capabilities: true,
            ..RunArgs::default()
        };
        let spec = app_spec(&pod(args), &app_ctx(app)).unwrap();
        assert_eq!(spec.capabilities.len(), isolator::CAPABILITIES.len());
    }

    #[test]
    fn nnp_and_oom_isolators() {
        let mut app = base_app();
        app.isolators = vec![
            iso(isolator::NO_NEW_PRIVILEGES, json!(true)),
            iso(isolator::OOM_SCORE_ADJ, json!(-300)),
        ];
        let spec = app_spec(&pod(RunArgs::default()), &app_ctx(app)).unwrap();
        assert!(spec.no_new_privileges);
        assert_eq!(spec.oom_score_adj, Some(-300));
    }

    #[test]
    fn bad_isolator_names_the_app() {
        let mut app = base_app();
        app.isolators = vec![iso(isolator::OOM_SCORE_ADJ, json!("high"))];
        let err = app_spec(&pod(RunArgs::default()), &app_ctx(app)).unwrap_err();
        assert!(err.to_string().starts_with("app web:"), "{err}");
    }

    #[test]
    fn seccomp_default_isolator_and_insecure_option() {
        let spec = app_spec(&pod(RunArgs::default()), &app_ctx(base_app())).unwrap();
        assert_eq!(spec.seccomp, Some(seccomp::default_spec()));
        let mut app = base_app();
        let set = json!({"set": ["@rkt/default-blacklist", "swapon"], "errno": "ENOSYS"});
        app.isolators = vec![iso(isolator::SECCOMP_REMOVE_SET, set)];
        let spec = app_spec(&pod(RunArgs::default()), &app_ctx(app.clone())).unwrap();
        let filter = spec.seccomp.unwrap();
        assert_eq!(filter.mode, seccomp::FilterMode::Deny);
        assert_eq!(filter.errno, Some(38));
        let args = RunArgs {
            disable_seccomp: true,
            ..RunArgs::default()
        };
        assert_eq!(app_spec(&pod(args), &app_ctx(app)).unwrap().seccomp, None);
    }

    #[test]
    fn seccomp_unknown_call_names_app_and_call() {
        let mut app = base_app();
        let set = json!({"set": ["read", "frobnicate"]});
        app.isolators = vec![iso(isolator::SECCOMP_RETAIN_SET, set)];
        let err = app_spec(&pod(RunArgs::default()), &app_ctx(app)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("app web") && msg.contains("frobnicate"),
            "{msg}"
        );
    }

    #[test]
    fn handler_spec_swaps_only_exec() {
        let mut app = base_app();
        app.event_handlers = vec![EventHandler {
            name: EventHandlerName::PreStart,
            exec: vec!["/bin/prep".into(), "x".into()],
        }];
        let ctx = app_ctx(app);
        let spec = app_spec(&pod(RunArgs::default()), &ctx).unwrap();
        let pre = handler_spec(&spec, &ctx, EventHandlerName::PreStart)
            .unwrap()
            .unwrap();
        assert_eq!(pre.exec, ["/bin/prep", "x"]);
        assert_eq!(
            AppSpec {
                exec: spec.exec.clone(),
                ..pre
            },
            spec
        );
        assert!(
            handler_spec(&spec, &ctx, EventHandlerName::PostStop)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            handler_spec_path("web", EventHandlerName::PreStart),
            Path::new("/rkt/appspec/web.pre-start.json")
        );
        assert_eq!(app_spec_path("web"), Path::new("/rkt/appspec/web.json"));
    }
}
