//! `rkt prepare`: lay out a pod and leave it prepared (unlocked in `prepared/`); print its UUID
//! on stdout (progress goes to stderr). Also the preparation `rkt run` shares.

use std::path::PathBuf;
use std::process::ExitCode;

use stage0::fetch::Fetcher;
use stage0::pod::write_uuid_file;
use stage0::run::args::{Command, GlobalFlags, RunArgs, parse};
use stage0::run::stage1::DEFAULT_STAGE1_IMAGES_DIR;
use stage0::run::{PrepareConfig, Prepared, Stage1Request, Stage1Source, prepare, require_root};

use crate::cli::{GlobalArgs, RunCmdArgs};
use crate::context::Ctx;

pub fn run(global: &GlobalArgs, args: &RunCmdArgs) -> anyhow::Result<ExitCode> {
    let parsed = parse(Command::Prepare, &args.args)?;
    if parsed.help {
        print!("{}", usage("prepare"));
        return Ok(ExitCode::SUCCESS);
    }
    let global = merged_global(global, &parsed.global);
    require_root("prepare")?;
    let ctx = Ctx::new(&global)?;
    let prepared = prepare_pod(&ctx, &parsed)?;
    prepared.persist()?;
    let Prepared { mut pod, .. } = prepared;
    if let Some(path) = &parsed.pod.uuid_file_save {
        write_uuid_file(path, &pod.uuid())?;
    }
    pod.to_prepared()?;
    println!("{}", pod.uuid());
    Ok(ExitCode::SUCCESS)
}

/// Resolve images and stage1 and lay out the pod (locked, in `prepare/`).
pub(super) fn prepare_pod(ctx: &Ctx, parsed: &RunArgs) -> anyhow::Result<Prepared> {
    let mut fetcher = Fetcher::new(ctx.store()?, ctx.keystore());
    fetcher.insecure = ctx.insecure;
    fetcher.docker_auth = ctx.config.docker_auth.clone();
    fetcher.render = true;
    fetcher.auth = ctx.config.auth.clone();
    fetcher.trust_keys_from_https = ctx.trust_keys_from_https;
    fetcher.max_uncompressed_size = ctx.max_image_size;
    if !parsed.pod.quiet {
        fetcher.progress = crate::output::ProgressBar::for_terminal();
    }
    let embedded = crate::stage1_image::embedded().map(|e| Stage1Source::Embedded {
        bytes: e.bytes,
        id: e.id,
    });
    let stage1 = Stage1Request {
        flag: parsed.pod.stage1.as_ref(),
        config: &ctx.config.stage1,
        embedded,
        images_dir: ctx
            .config
            .paths
            .stage1_images
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STAGE1_IMAGES_DIR)),
        exe_dir: std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from)),
    };
    let cfg = PrepareConfig {
        data_dir: ctx.data_dir.clone(),
        fetcher,
        args: parsed,
        stage1,
    };
    Ok(prepare(&cfg)?)
}

/// The global flags given before the subcommand, overridden by those given after it.
pub(super) fn merged_global(g: &GlobalArgs, after: &GlobalFlags) -> GlobalArgs {
    GlobalArgs {
        debug: after.debug.unwrap_or(g.debug),
        dir: after.dir.clone().or_else(|| g.dir.clone()),
        system_config: after
            .system_config
            .clone()
            .unwrap_or_else(|| g.system_config.clone()),
        local_config: after
            .local_config
            .clone()
            .unwrap_or_else(|| g.local_config.clone()),
        user_config: after.user_config.clone().or_else(|| g.user_config.clone()),
        insecure_options: after
            .insecure_options
            .clone()
            .unwrap_or_else(|| g.insecure_options.clone()),
        trust_keys_from_https: after
            .trust_keys_from_https
            .unwrap_or(g.trust_keys_from_https),
        max_image_size: after
            .max_image_size
            .clone()
            .or_else(|| g.max_image_size.clone()),
    }
}

/// `rkt run --help` / `rkt prepare --help`.
pub(super) fn usage(cmd: &str) -> String {
    let quiet = if cmd == "prepare" {
        "  --quiet                      print only the UUID\n"
    } else {
        ""
    };
    format!(
        "Usage: rkt {cmd} [pod flags] IMAGE [app flags] [-- app args ---] IMAGE...\n\
         \n\
         Per-app flags apply to the image before them, or to every image when given before the\n\
         first one: --exec, --user, --group, --supplementary-gids, --working-dir, --environment\n\
         NAME=VALUE, --name, --mount volume=V,target=P, --readonly-rootfs, --annotation N=V,\n\
         --user-annotation N=V, --user-label N=V, --signature FILE, --memory, --cpu, --cpu-shares,\n\
         --caps-retain, --caps-remove, --seccomp, --oom-score-adj.\n\
         \n\
         Pod flags:\n\
         \x20 --volume NAME,kind=host|empty,...  --set-env NAME=VALUE  --set-env-file FILE\n\
         \x20 --inherit-env  --hostname NAME  --interactive  --uuid-file-save FILE\n\
         \x20 --pod-manifest FILE  --no-overlay  --net[=NETS]  --dns IP  --dns-search D\n\
         \x20 --dns-opt O  --dns-domain D  --hosts-entry IP=HOST  --port NAME:[IP:]PORT\n\
         \x20 --ipc auto|private|parent  --pull-policy new|update|never\n\
         \x20 --stage1-path FILE | --stage1-name NAME | --stage1-hash ID | --stage1-url URL |\n\
         \x20 --stage1-from-dir FILE\n\
         {quiet}\
         Global flags (--debug, --dir, --insecure-options, --local-config, --system-config,\n\
         --user-config, --trust-keys-from-https, --max-image-size) are accepted anywhere.\n"
    )
}
