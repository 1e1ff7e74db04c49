//! `rkt config`: the configuration in effect after merging the system, local and user dirs, in
//! rkt's `{"stage0": [...]}` form (one entry per kind, plus one per auth domain or registry).

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::context::Ctx;
use crate::output::print_json;

pub fn run(ctx: &Ctx, pretty: bool) -> anyhow::Result<ExitCode> {
    let c = &ctx.config;
    let mut entries = vec![json!({
        "rktVersion": "v1",
        "rktKind": "paths",
        "data": ctx.data_dir,
        "stage1-images": c.paths.stage1_images,
    })];
    entries.push(json!({
        "rktVersion": "v1",
        "rktKind": "stage1",
        "name": c.stage1.name,
        "version": c.stage1.version,
        "location": c.stage1.location,
    }));
    for (domain, auth) in &c.auth {
        entries.push(json!({
            "rktVersion": "v1",
            "rktKind": "auth",
            "domains": [domain],
            "type": auth.kind,
            "credentials": auth.credentials,
        }));
    }
    for (registry, auth) in &c.docker_auth {
        entries.push(json!({
            "rktVersion": "v1",
            "rktKind": "dockerAuth",
            "registries": [registry],
            "credentials": auth.credentials,
        }));
    }
    print_json(&json!({ "stage0": Value::Array(entries) }), pretty)?;
    Ok(ExitCode::SUCCESS)
}
