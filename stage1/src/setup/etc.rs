//! `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` of each app (rkt.md §5).
//!
//! Generated files are written in the stage1 root's tmpfs at `tmp/etc/<app>/<file>` (one copy
//! per app, so an app editing its `/etc/hosts` does not change another's; a tmpfs, as nothing
//! outside the pod reads them and files on the host's disk cost an inode each) and bind-mounted,
//! read-write, over the app's file, which is resolved inside the app root (an image whose
//! `/etc` is a symlink out of its rootfs still gets them inside). Host files (`host` values,
//! or resolv.conf with `--net=host`) are bound read-only.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::sys::{Follow, MountSys, NodeKind};
use super::{Result, SetupError, sys_err};
use crate::context::{AppContext, PodContext, RunArgs};

/// Where the generated files go, under the stage1 root (its `/tmp` is a tmpfs).
const GENERATED_DIR: &str = "tmp/etc";

/// rkt's `hosts-fallback`.
pub const HOSTS_FALLBACK: &str = "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n\
::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n";

/// Where one `/etc` file of the apps comes from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum EtcSource {
    Host(PathBuf),
    Write(String),
    /// Written only when the image has no such file.
    WriteIfMissing(String),
}

/// The pod-wide decisions, applied to each app.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EtcPlan {
    pub files: Vec<(&'static str, EtcSource)>,
}

impl EtcPlan {
    /// The files the pod's network cannot change (`hosts`, `hostname`), and the rest
    /// (`resolv.conf`, which may come from a CNI result). PID 1 puts the first in place while
    /// the host side still adds the networks: a missing `/etc/hosts` is a new file in the
    /// app's upper dir, an inode on the host's disk, off the start's longest path there.
    pub fn split(self) -> (EtcPlan, EtcPlan) {
        let (early, late) = self
            .files
            .into_iter()
            .partition(|(name, _)| *name != "resolv.conf");
        (EtcPlan { files: early }, EtcPlan { files: late })
    }
}

fn flag_err(flag: &str, problem: impl Into<String>) -> SetupError {
    SetupError::Flag {
        flag: flag.to_string(),
        problem: problem.into(),
    }
}

/// A word that can go into these files as is: no blanks, control characters or comments.
fn check_word(flag: &str, value: &str) -> Result<()> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(flag_err(flag, format!("{value:?} is not a valid value")));
    }
    Ok(())
}

/// rkt's `rkt-hosts`: the fallback lines, one line per `IP=HOST` entry, then the hostname.
pub fn hosts_file(hostname: &str, entries: &[String]) -> Result<String> {
    let mut out = HOSTS_FALLBACK.to_string();
    for entry in entries {
        let Some((ip, host)) = entry.split_once('=') else {
            return Err(flag_err(
                "--hosts-entry",
                format!("{entry:?}: expected IP=HOSTNAME or host"),
            ));
        };
        ip.parse::<IpAddr>()
            .map_err(|_| flag_err("--hosts-entry", format!("{ip:?} is not an IP address")))?;
        check_word("--hosts-entry", host)?;
        out.push_str(&format!("{ip} {host}\n"));
    }
    out.push_str(&format!("127.0.0.1 {hostname}\n"));
    Ok(out)
}

/// The resolv.conf the `--dns*` flags ask for, or `None` when none was given (or `--dns` is
/// `host`/`none`, which [`plan`] handles).
pub fn resolv_conf(args: &RunArgs) -> Result<Option<String>> {
    let special = args.dns.iter().any(|d| d == "host" || d == "none");
    let others = args.dns.len() > 1
        || !args.dns_search.is_empty()
        || !args.dns_opt.is_empty()
        || args.dns_domain.is_some();
    if special {
        if others {
            return Err(flag_err(
                "--dns",
                "host and none cannot be combined with other DNS flags",
            ));
        }
        return Ok(None);
    }
    if args.dns.is_empty() && !others {
        return Ok(None);
    }
    let mut out = String::new();
    for ns in &args.dns {
        ns.parse::<IpAddr>().map_err(|_| {
            flag_err(
                "--dns",
                format!("{ns:?} is not an IP address, host or none"),
            )
        })?;
        out.push_str(&format!("nameserver {ns}\n"));
    }
    for (flag, key, values) in [
        ("--dns-search", "search", &args.dns_search),
        ("--dns-opt", "options", &args.dns_opt),
    ] {
        if values.is_empty() {
            continue;
        }
        for v in values {
            check_word(flag, v)?;
        }
        out.push_str(&format!("{key} {}\n", values.join(" ")));
    }
    if let Some(domain) = &args.dns_domain {
        check_word("--dns-domain", domain)?;
        out.push_str(&format!("domain {domain}\n"));
    }
    Ok(Some(out))
}

/// Decides the three files for the whole pod.
pub(super) fn plan(ctx: &PodContext) -> Result<EtcPlan> {
    let args = &ctx.args;
    let hostname = ctx.hostname();
    check_word("--hostname", &hostname)?;
    let mut files = Vec::new();

    let hosts = if args.hosts_entries.iter().any(|e| e == "host") {
        if args.hosts_entries.len() > 1 {
            return Err(flag_err(
                "--hosts-entry",
                "host cannot be combined with other entries",
            ));
        }
        EtcSource::Host(PathBuf::from("/etc/hosts"))
    } else if args.hosts_entries.is_empty() {
        EtcSource::WriteIfMissing(hosts_file(&hostname, &[])?)
    } else {
        EtcSource::Write(hosts_file(&hostname, &args.hosts_entries)?)
    };
    files.push(("hosts", hosts));

    let host_resolv = EtcSource::Host(PathBuf::from("/etc/resolv.conf"));
    match resolv_conf(args)? {
        Some(text) => files.push(("resolv.conf", EtcSource::Write(text))),
        None if args.dns.iter().any(|d| d == "none") => {}
        None if args.dns.iter().any(|d| d == "host") => files.push(("resolv.conf", host_resolv)),
        // A host-network pod resolves like the host does.
        None if args.net == "host" => files.push(("resolv.conf", host_resolv)),
        // CNI DNS comes after the flags (rkt.md §5 precedence).
        None => {
            if let Some(text) = &args.net_resolv_conf {
                files.push(("resolv.conf", EtcSource::Write(text.clone())));
            }
        }
    }

    files.push(("hostname", EtcSource::Write(format!("{hostname}\n"))));
    Ok(EtcPlan { files })
}

/// Puts the planned files into `app`'s root.
pub(super) fn apply(
    ctx: &PodContext,
    app: &AppContext,
    plan: &EtcPlan,
    sys: &mut dyn MountSys,
) -> Result<()> {
    let root: &Path = &app.root_on_host;
    for (name, source) in &plan.files {
        let rel = Path::new("etc").join(name);
        let (src_path, read_only) = match source {
            EtcSource::Host(path) => (path.clone(), true),
            EtcSource::WriteIfMissing(_) if exists(sys, root, &rel)? => continue,
            EtcSource::Write(text) | EtcSource::WriteIfMissing(text) => {
                let path = ctx
                    .stage1_root
                    .join(GENERATED_DIR)
                    .join(app.name.as_str())
                    .join(name);
                sys.write_host_file(&path, text.as_bytes())
                    .map_err(sys_err("write", &path))?;
                (path, false)
            }
        };
        let src = match sys.open_host(&src_path) {
            Ok(src) => src,
            // No such file on the host: the app keeps its own.
            Err(e) if e.kind() == io::ErrorKind::NotFound && read_only => continue,
            Err(e) => return Err(sys_err("open", &src_path)(e)),
        };
        let dst = sys
            .open_in_root(root, &rel, Follow::InRoot, Some((NodeKind::File, 0o644)))
            .map_err(sys_err("create or open in the app root", &root.join(&rel)))?;
        sys.bind(&src, &dst, false, read_only)
            .map_err(sys_err("bind-mount a file on", &dst.shown))?;
    }
    Ok(())
}

fn exists(sys: &mut dyn MountSys, root: &Path, rel: &Path) -> Result<bool> {
    match sys.open_in_root(root, rel, Follow::InRoot, None) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(sys_err("open", &root.join(rel))(e)),
    }
}
