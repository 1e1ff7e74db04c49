//! `mkimage`: packs the images the Makefile needs, reproducibly (sorted entries, root-owned,
//! fixed mtimes, gzip without a time stamp).
//!
//!   mkimage stage1 --bin RKT_STAGE1 --out STAGE1.aci [--name N] [--version V]
//!                  [--net-plugin RKT_NET_PLUGIN]
//!   mkimage demo --inspect INSPECT --out DEMO.aci
//!   mkimage inspect --inspect INSPECT --out X.aci --name N [--annotation K=V]… [-- PROBE-ARGS…]
//!
//! The stage1 version defaults to the workspace version. An existing output with the same
//! bytes is left untouched (so `make` does not rebuild what embeds it). Prints
//! `<out> <image id>`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use functional_tests::image::{InspectImage, STAGE1_NAME, stage1_image};

struct Opts {
    bin: Option<PathBuf>,
    out: Option<PathBuf>,
    name: Option<String>,
    version: String,
    probe_args: Vec<String>,
    net_plugin: Option<PathBuf>,
    annotations: Vec<(String, String)>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("mkimage: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((what, rest)) = args.split_first() else {
        bail!("usage: mkimage stage1|demo --bin|--inspect PATH --out PATH");
    };
    let opts = parse(rest)?;
    let bin = opts.bin.context("--bin (or --inspect) PATH is required")?;
    let out = opts.out.context("--out PATH is required")?;
    let bytes = std::fs::read(&bin).with_context(|| format!("reading {}", bin.display()))?;
    let image = match what.as_str() {
        "stage1" => {
            let mut b = stage1_image(
                &bytes,
                opts.name.as_deref().unwrap_or(STAGE1_NAME),
                &opts.version,
            );
            if let Some(plugin) = &opts.net_plugin {
                let plugin_bytes = std::fs::read(plugin)
                    .with_context(|| format!("reading {}", plugin.display()))?;
                add_net_plugins(&mut b, &plugin_bytes);
            }
            b
        }
        "demo" => demo().builder(&bytes),
        "inspect" => {
            let name = opts.name.context("inspect images need --name")?;
            let args: Vec<&str> = opts.probe_args.iter().map(String::as_str).collect();
            let image = opts
                .annotations
                .iter()
                .fold(InspectImage::new(&name), |i, (k, v)| i.annotation(k, v));
            image.args(&args).builder(&bytes)
        }
        other => bail!("unknown image kind {other:?}: stage1, demo or inspect"),
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut tmp = out.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let id = image.write(&tmp)?;
    let same = std::fs::read(&out).ok() == std::fs::read(&tmp).ok();
    if same {
        std::fs::remove_file(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    } else {
        std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
    }
    println!("{} {}", out.display(), id.key());
    Ok(())
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        bin: None,
        out: None,
        name: None,
        version: env!("CARGO_PKG_VERSION").to_string(),
        probe_args: Vec::new(),
        net_plugin: None,
        annotations: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--bin" | "--inspect" => o.bin = Some(value()?.into()),
            "--out" => o.out = Some(value()?.into()),
            "--name" => o.name = Some(value()?),
            "--" => {
                o.probe_args = it.cloned().collect();
                break;
            }
            "--version" => o.version = value()?,
            "--net-plugin" => o.net_plugin = Some(value()?.into()),
            "--annotation" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("--annotation {kv:?}: NAME=VALUE"))?;
                o.annotations.push((k.to_string(), v.to_string()));
            }
            _ => bail!("unknown argument {flag:?}"),
        }
    }
    Ok(o)
}

/// Where the stage1 image keeps our CNI plugins (one multi-call binary; the built-in network
/// confs are compiled into stage1 itself).
const NET_PLUGIN_DIR: &str = "usr/lib/rkt/plugins/net";

fn add_net_plugins(b: &mut functional_tests::image::ImageBuilder, binary: &[u8]) {
    b.file(
        &format!("{NET_PLUGIN_DIR}/rkt-net-plugin"),
        binary,
        0o755,
        (0, 0),
    );
    for plugin in ["ptp", "bridge", "host-local", "loopback"] {
        b.symlink(&format!("{NET_PLUGIN_DIR}/{plugin}"), "rkt-net-plugin");
    }
}

/// `make run`'s demo: the probe greets, shows who and where it is, and exits 0.
fn demo() -> InspectImage {
    InspectImage::new("rkt-rs.dev/demo")
        .env("GREETING", "hello from a rkt-rs pod")
        .args(&[
            "--print-env=GREETING",
            "--print-user",
            "--print-hostname",
            "--print-cwd",
            "--print-pid",
            "--print-env=AC_APP_NAME",
            "--print-fds",
            "--read-file=/etc/hostname",
        ])
}
