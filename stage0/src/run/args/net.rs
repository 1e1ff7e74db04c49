//! `--net` syntax and conflicts, checked before a pod dir exists.
//!
//! The rules are stage1's (`networking::conf::NetSpec::parse`), repeated here because stage0
//! may not depend on `networking` (DESIGN.md). [`check_known`] looks the names up the way
//! stage1 does (user confs in `<local-config>/net.d`, then the built-ins); a conf it cannot
//! read is left for stage1 to report in full.

use std::path::Path;

use super::{ArgsError, PodFlags, Result, bad, conflict};

/// The networks every stage1 image of ours defines (`networking/confs/`).
const BUILTIN: [&str; 2] = ["default", "default-restricted"];

/// The networks that stand alone and take no `:K=V` arguments.
const SPECIAL: [&str; 3] = ["host", "none", "all"];

/// Checks the joined `--net` values (several `--net` flags add up, as in rkt).
pub(super) fn check_net(nets: &[String]) -> Result<()> {
    if nets.is_empty() {
        return Ok(());
    }
    let spec = nets.join(",");
    let items: Vec<(&str, Option<&str>)> = spec
        .split(',')
        .map(|item| match item.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a)),
            None => (item.trim(), None),
        })
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    for (name, args) in &items {
        if name.is_empty() {
            return Err(bad("--net", &spec, "an empty network name"));
        }
        if SPECIAL.contains(name) {
            if args.is_some() {
                return Err(bad("--net", &spec, format!("{name} takes no arguments")));
            }
            if let Some((other, _)) = items.iter().find(|(n, _)| n != name) {
                return Err(special_conflict(name, other));
            }
        } else if !valid_name(name) {
            return Err(bad(
                "--net",
                &spec,
                format!("{name:?} is not a valid network name (letters, digits, - _ .)"),
            ));
        } else if let Some(a) = args {
            check_args(a).map_err(|rule| bad("--net", &spec, rule))?;
        }
        if seen.contains(name) {
            return Err(ArgsError::Conflict {
                first: format!("--net={name}"),
                second: format!("--net={name}"),
                why: format!("network {name} is given twice; give it once"),
            });
        }
        seen.push(name);
    }
    Ok(())
}

/// Refuses `--net` names no conf defines, before a pod dir exists.
pub fn check_known(pod: &PodFlags, local_config: &Path) -> Result<()> {
    let spec = pod.net_spec();
    let names: Vec<&str> = spec
        .split(',')
        .map(|i| i.split(':').next().unwrap_or(i).trim())
        .filter(|n| !SPECIAL.contains(n) && !BUILTIN.contains(n))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let dir = local_config.join("net.d");
    let defined = user_conf_names(&dir);
    let missing: Vec<&str> = names
        .into_iter()
        .filter(|n| !defined.iter().any(|d| d == n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(bad(
        "--net",
        &spec,
        format!(
            "no conf defines the network(s) {} (looked in {} and the built-in {})",
            missing.join(", "),
            dir.display(),
            BUILTIN.join(", ")
        ),
    ))
}

/// The `name` of each conf file stage1 would read in `dir` (`*.conf`, `*.conflist`, `*.json`).
fn user_conf_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let ext = e
                .path()
                .extension()
                .and_then(|x| x.to_str())
                .map(String::from);
            matches!(ext.as_deref(), Some("conf" | "conflist" | "json"))
        })
        .filter_map(|e| {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            Some(v.get("name")?.as_str()?.to_string())
        })
        .collect()
}

fn special_conflict(special: &str, other: &str) -> ArgsError {
    conflict(
        &format!("--net={special}"),
        &format!("--net={other}"),
        &format!("{special} cannot be combined with other networks"),
    )
}

/// A network name: what may appear in a file name and an iptables comment.
fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `K=V;K=V`: every pair has a non-empty key, nothing but printable ASCII.
fn check_args(args: &str) -> std::result::Result<(), String> {
    for pair in args.split(';').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, _)) if !k.is_empty() && pair.chars().all(|c| c.is_ascii_graphic()) => {}
            _ => return Err(format!("network argument {pair:?} is not KEY=VALUE")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(nets: &[&str]) -> Result<()> {
        check_net(&nets.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn accepted() {
        for ok in [
            &[][..],
            &["default"],
            &["host"],
            &["none"],
            &["all"],
            &["default,default-restricted"],
            &["a:IP=10.0.0.5;X=1", "b"],
            &["my.net_1"],
        ] {
            assert_eq!(check(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn known_names() {
        let tmp = tempfile::tempdir().unwrap();
        let pod = |nets: &[&str]| PodFlags {
            net: nets.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        for ok in [
            &[][..],
            &["host"],
            &["all"],
            &["default,default-restricted"],
        ] {
            assert_eq!(check_known(&pod(ok), tmp.path()), Ok(()), "{ok:?}");
        }
        let err = check_known(&pod(&["mine:IP=10.1.1.1", "other"]), tmp.path()).unwrap_err();
        assert!(err.to_string().contains("network(s) mine, other"), "{err}");
        let net_d = tmp.path().join("net.d");
        std::fs::create_dir(&net_d).unwrap();
        std::fs::write(net_d.join("10-a.conf"), r#"{"name":"mine","type":"ptp"}"#).unwrap();
        std::fs::write(net_d.join("20-b.txt"), r#"{"name":"other"}"#).unwrap();
        let err = check_known(&pod(&["mine", "other"]), tmp.path()).unwrap_err();
        assert!(err.to_string().contains("network(s) other ("), "{err}");
        std::fs::write(net_d.join("20-b.conflist"), r#"{"name":"other"}"#).unwrap();
        assert_eq!(check_known(&pod(&["mine", "other"]), tmp.path()), Ok(()));
    }

    #[test]
    fn refused() {
        let conflict_of = |nets: &[&str]| match check(nets) {
            Err(ArgsError::Conflict { why, .. }) => why,
            other => panic!("{nets:?}: {other:?}"),
        };
        assert!(conflict_of(&["default", "default"]).contains("given twice"));
        assert!(conflict_of(&["a:IP=10.0.0.1,a"]).contains("given twice"));
        assert!(conflict_of(&["host,default"]).contains("host cannot be combined"));
        assert!(conflict_of(&["default", "none"]).contains("none cannot be combined"));
        assert!(conflict_of(&["all,host"]).contains("all cannot be combined"));
        for bad in [
            &[",default"][..],
            &["host:IP=1"],
            &["a/b"],
            &["a:IP"],
            &["a:=1"],
            &["a:X=a b"],
        ] {
            assert!(
                matches!(check(bad), Err(ArgsError::BadValue { .. })),
                "{bad:?}"
            );
        }
    }
}
