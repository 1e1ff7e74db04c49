//! `rkt trust [--prefix=P | --root] KEY...`: trust armored public keys (files) for images named
//! by a prefix, or for every image, after showing the fingerprint and identities and asking on
//! the terminal (unless `--skip-fingerprint-review`). Keys go to `<local-config>/trustedkeys`.
//!
//! rkt-rs extensions (rkt has no way to see or undo trust short of editing the directory):
//! `rkt trust --list` prints the keys in force (FINGERPRINT, SCOPE, LOCATION, IDENTITIES), and
//! `rkt trust --remove FINGERPRINT --prefix=P | --root` stops trusting one (a system key is
//! masked by an empty local file).
//!
//! A KEY may be an `https://` URL (plain `http://` only with `--insecure-allow-http` or
//! `--insecure-options=http`). With `--prefix` and no KEY, the prefix's keys are found through
//! appc discovery (`ac-discovery-pubkeys`). A key that came over HTTPS is trusted without the
//! review under `--trust-keys-from-https`; one over plain HTTP never is.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use aci::discovery::AppReference;
use aci::types::AcIdentifier;
use anyhow::{Context as _, bail};
use stage0::insecure::Insecure;
use stage0::remote::{HttpClient, discover};
use stage0::trust::{KeyInfo, Location, Scope, key_info};

use crate::cli::TrustArgs;
use crate::context::Ctx;
use crate::output::Table;

/// Largest key file read; real keys are a few KiB.
const MAX_KEY_FILE: u64 = 1 << 20;

pub fn run(ctx: &Ctx, args: &TrustArgs) -> anyhow::Result<ExitCode> {
    let ks = ctx.keystore();
    if args.list {
        return list(ctx);
    }
    let prefix = scope_prefix(args)?;
    if let Some(fp) = &args.remove {
        let r = ks.remove_key(fp, prefix.as_ref())?;
        match (&r.deleted, &r.masked) {
            (Some(p), _) => println!("Removed key {} for {} at {:?}", r.fingerprint, r.scope, p),
            (None, Some(p)) => println!(
                "Masked system key {} for {} with {:?}",
                r.fingerprint, r.scope, p
            ),
            (None, None) => {}
        }
        return Ok(ExitCode::SUCCESS);
    }
    let keys = if args.keys.is_empty() {
        let Some(p) = &prefix else {
            bail!("give the key files to trust; only --prefix keys can be discovered");
        };
        discover_keys(ctx, args, p)?
    } else {
        args.keys.clone()
    };
    for key in &keys {
        let (armored, over_https) = if is_url(key) {
            (fetch_key(ctx, args, key)?, key.starts_with("https://"))
        } else {
            (read_key(key)?, false)
        };
        let info = key_info(&armored).with_context(|| format!("key {key}"))?;
        let automatic = ctx.trust_keys_from_https && over_https;
        if automatic {
            eprintln!(
                "Trusting key {} for {} without review: fetched over HTTPS and \
                 --trust-keys-from-https given",
                info.fingerprint_grouped(),
                prefix.as_ref().map_or("every image", |p| p.as_str())
            );
        }
        if !args.skip_fingerprint_review && !automatic && !review(key, prefix.as_ref(), &info)? {
            bail!(
                "key {key} ({}) not trusted: refused at review",
                info.fingerprint
            );
        }
        let stored = match &prefix {
            Some(p) => ks.store_prefix_key(p, &armored),
            None => ks.store_root_key(&armored),
        }
        .with_context(|| format!("key file {key}"))?;
        match &prefix {
            Some(p) => println!("Added key for prefix {:?} at {:?}", p.as_str(), stored.path),
            None => println!("Added root key at {:?}", stored.path),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--prefix` or `--root`, exactly one (rkt requires one).
fn scope_prefix(args: &TrustArgs) -> anyhow::Result<Option<AcIdentifier>> {
    match (&args.prefix, args.root) {
        (Some(_), true) => bail!("--prefix and --root exclude each other; give one"),
        (None, false) => bail!("give --prefix=<image name prefix> or --root"),
        (Some(p), false) => {
            Ok(Some(AcIdentifier::new(p).with_context(|| {
                format!("--prefix {p:?} is not a valid image name")
            })?))
        }
        (None, true) => Ok(None),
    }
}

fn is_url(key: &str) -> bool {
    key.starts_with("https://") || key.starts_with("http://")
}

fn client(ctx: &Ctx, args: &TrustArgs) -> anyhow::Result<HttpClient> {
    let mut c = HttpClient::new(&ctx.config.auth)?;
    c.allow_http = args.insecure_allow_http
        || ctx.insecure.allows(Insecure::Http)
        || ctx.insecure.allows(Insecure::Pubkey);
    c.skip_tls_verify = ctx.insecure.allows(Insecure::Tls);
    Ok(c)
}

fn fetch_key(ctx: &Ctx, args: &TrustArgs, url: &str) -> anyhow::Result<Vec<u8>> {
    Ok(stage0::trust::fetch_key(&client(ctx, args)?, url)?)
}

/// The `ac-discovery-pubkeys` URLs of `prefix`.
fn discover_keys(
    ctx: &Ctx,
    args: &TrustArgs,
    prefix: &AcIdentifier,
) -> anyhow::Result<Vec<String>> {
    let app = AppReference::new(prefix.clone());
    let found = discover(&client(ctx, args)?, &app, true)?;
    eprintln!("Discovered keys for prefix {prefix:?} at {}", found.page);
    Ok(found.endpoints.keys)
}

fn read_key(path: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).with_context(|| format!("opening key file {path}"))?;
    let mut out = Vec::new();
    f.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("reading key file {path}"))?;
    if out.len() as u64 > MAX_KEY_FILE {
        bail!("key file {path} is larger than {MAX_KEY_FILE} bytes: not a public key");
    }
    Ok(out)
}

/// Show the key and ask on the terminal; true when the answer is yes.
fn review(key: &str, prefix: Option<&AcIdentifier>, info: &KeyInfo) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "key {key}: cannot review its fingerprint without a terminal; check it yourself and \
             pass --skip-fingerprint-review"
        );
    }
    let mut err = std::io::stderr().lock();
    match prefix {
        Some(p) => writeln!(err, "Prefix: {:?}", p.as_str())?,
        None => writeln!(err, "Root key (trusted for every image)")?,
    }
    writeln!(err, "Key: {key:?}")?;
    writeln!(
        err,
        "GPG key fingerprint is: {}",
        info.fingerprint_grouped()
    )?;
    for uid in &info.user_ids {
        writeln!(err, "\t{uid}")?;
    }
    if let Some(exp) = info.expires {
        writeln!(err, "Expires: {exp}")?;
    }
    let mut line = String::new();
    loop {
        write!(err, "Are you sure you want to trust this key (yes/no)? ")?;
        err.flush()?;
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Ok(false);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" => return Ok(true),
            "no" | "n" => return Ok(false),
            _ => writeln!(err, "Please answer yes or no.")?,
        }
    }
}

fn list(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut table = Table::new(&["FINGERPRINT", "SCOPE", "LOCATION", "IDENTITIES"], true);
    for k in ctx.keystore().list()? {
        let scope = match &k.scope {
            Scope::Root => "root".to_string(),
            Scope::Prefix(p) => p.to_string(),
        };
        let place = match k.location {
            Location::Local => "local",
            Location::System => "system",
        };
        let mut ids = k.user_ids.join("; ");
        if let Some(problem) = &k.problem {
            ids.push_str(&format!(" [unusable: {problem}]"));
        }
        table.row(vec![
            k.fingerprint,
            scope,
            format!("{place} {}", k.path.display()),
            ids,
        ]);
    }
    table.print()?;
    Ok(ExitCode::SUCCESS)
}
