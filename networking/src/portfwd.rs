//! Port forwarding (`--port NAME:[HOSTIP:]HOSTPORT`) with iptables, as rkt does (rkt.md §5):
//! per pod two nat chains, `RKT-PFWD-DNAT-<uuid8>` (jumped to from PREROUTING and OUTPUT for
//! local destinations; DNAT to the pod) and `RKT-PFWD-SNAT-<uuid8>` (jumped to from
//! POSTROUTING; masquerades what came from 127.0.0.1), and `route_localnet=1` on the host end
//! of the pod's interface so that `localhost:HOSTPORT` works.
//!
//! Teardown is idempotent and needs only the UUID: gc can run it after a crash.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum PortFwdError {
    #[error("pod {uuid}: cannot run iptables {args} (install iptables: make deps)")]
    Spawn {
        uuid: String,
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("pod {uuid}: iptables {args} failed: {stderr}")]
    Failed {
        uuid: String,
        args: String,
        stderr: String,
    },
    #[error("pod {uuid}: cannot set {path}")]
    Sysctl {
        uuid: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, PortFwdError>;

/// One forwarded port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub pod_ip: Ipv4Addr,
    pub pod_port: u16,
}

/// The pod's two chains: (DNAT, SNAT).
pub fn chains(uuid: &str) -> (String, String) {
    let short: String = uuid.chars().filter(|c| *c != '-').take(8).collect();
    (
        format!("RKT-PFWD-DNAT-{short}"),
        format!("RKT-PFWD-SNAT-{short}"),
    )
}

/// The jumps from the built-in chains (without `-A`/`-D`).
fn jumps(uuid: &str) -> Vec<Vec<String>> {
    let (dnat, snat) = chains(uuid);
    let local = |chain: &str| -> Vec<String> {
        [chain, "-m", "addrtype", "--dst-type", "LOCAL", "-j", &dnat]
            .map(String::from)
            .to_vec()
    };
    vec![
        local("PREROUTING"),
        local("OUTPUT"),
        ["POSTROUTING", "-j", &snat].map(String::from).to_vec(),
    ]
}

/// The iptables argument lists (table nat) that set `forwards` up, in order.
pub fn setup_rules(uuid: &str, forwards: &[Forward]) -> Vec<Vec<String>> {
    let (dnat, snat) = chains(uuid);
    let mut out: Vec<Vec<String>> = vec![
        vec!["-N".into(), dnat.clone()],
        vec!["-N".into(), snat.clone()],
    ];
    for f in forwards {
        let mut rule = vec![
            "-A".to_string(),
            dnat.clone(),
            "-p".into(),
            f.protocol.clone(),
        ];
        if let Some(ip) = f.host_ip {
            rule.extend(["-d".to_string(), ip.to_string()]);
        }
        rule.extend(
            [
                "--dport",
                &f.host_port.to_string(),
                "-j",
                "DNAT",
                "--to-destination",
                &format!("{}:{}", f.pod_ip, f.pod_port),
            ]
            .map(String::from),
        );
        out.push(rule);
        out.push(
            [
                "-A",
                &snat,
                "-p",
                &f.protocol,
                "-s",
                "127.0.0.1",
                "-d",
                &f.pod_ip.to_string(),
                "--dport",
                &f.pod_port.to_string(),
                "-j",
                "MASQUERADE",
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    for jump in jumps(uuid) {
        let mut rule = vec!["-A".to_string()];
        rule.extend(jump);
        out.push(rule);
    }
    out
}

/// The argument lists that remove everything [`setup_rules`] made (jumps, then chains).
pub fn teardown_rules(uuid: &str) -> Vec<Vec<String>> {
    let (dnat, snat) = chains(uuid);
    let mut out = Vec::new();
    for jump in jumps(uuid) {
        let mut rule = vec!["-D".to_string()];
        rule.extend(jump);
        out.push(rule);
    }
    for chain in [dnat, snat] {
        out.push(vec!["-F".into(), chain.clone()]);
        out.push(vec!["-X".into(), chain]);
    }
    out
}

/// Runs `program ARGS` (`iptables` or `iptables-restore`) with `input` on stdin; its stdout.
fn iptables(uuid: &str, program: &str, args: &[&str], input: &str) -> Result<String> {
    use std::io::Write;
    use std::process::Stdio;
    let shown = if input.is_empty() {
        args.join(" ")
    } else {
        format!(
            "{} <<< {}",
            args.join(" "),
            input.trim().replace('\n', "; ")
        )
    };
    let spawn_err = |source| PortFwdError::Spawn {
        uuid: uuid.to_string(),
        args: shown.clone(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows as the command's own failure below.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(PortFwdError::Failed {
        uuid: uuid.to_string(),
        args: format!("{program} {shown}"),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Applies argument lists (as [`setup_rules`] makes them) to the nat table in one
/// `iptables-restore --noflush`: one exec for the whole change, all or nothing.
fn restore(uuid: &str, rules: &[Vec<String>]) -> Result<()> {
    let mut script = String::from("*nat\n");
    for rule in rules {
        match rule.as_slice() {
            [n, chain] if n == "-N" => script.push_str(&format!(":{chain} - [0:0]\n")),
            _ => {
                script.push_str(&rule.join(" "));
                script.push('\n');
            }
        }
    }
    script.push_str("COMMIT\n");
    iptables(uuid, "iptables-restore", &["-w", "--noflush"], &script).map(|_| ())
}

/// Installs the rules and sets `route_localnet` on `host_ifs` (the host ends of the pod's
/// interface). Removes what it made when a step fails.
pub fn setup(uuid: &str, forwards: &[Forward], host_ifs: &[String]) -> Result<()> {
    if forwards.is_empty() {
        return Ok(());
    }
    let apply = || -> Result<()> {
        restore(uuid, &setup_rules(uuid, forwards))?;
        for iface in host_ifs {
            if iface.is_empty() || iface.contains('/') || iface.starts_with('.') {
                continue;
            }
            let path = format!("/proc/sys/net/ipv4/conf/{iface}/route_localnet");
            std::fs::write(Path::new(&path), b"1").map_err(|source| PortFwdError::Sysctl {
                uuid: uuid.to_string(),
                path,
                source,
            })?;
        }
        Ok(())
    };
    apply().inspect_err(|_| {
        let _ = teardown(uuid);
    })
}

/// What of [`teardown_rules`] applies to the nat table listed by `iptables -S`: each jump as
/// often as it is there (an interrupted, retried setup may have doubled it), the chains if
/// they exist.
pub fn present_teardown_rules(uuid: &str, listing: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = listing.lines().collect();
    let mut out = Vec::new();
    for rule in teardown_rules(uuid) {
        let present = match rule[0].as_str() {
            "-D" => {
                let spec = format!("-A {}", rule[1..].join(" "));
                lines.iter().filter(|l| **l == spec).count()
            }
            _ => usize::from(lines.contains(&format!("-N {}", rule[1]).as_str())),
        };
        out.extend(std::iter::repeat_n(rule, present));
    }
    out
}

/// Removes the pod's chains and jumps; whatever does not exist is skipped. Returns whether
/// anything was removed.
pub fn teardown(uuid: &str) -> Result<bool> {
    let listing = iptables(uuid, "iptables", &["-w", "-t", "nat", "-S"], "")?;
    let rules = present_teardown_rules(uuid, &listing);
    if rules.is_empty() {
        return Ok(false);
    }
    restore(uuid, &rules)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0c9a7d3e-1111-2222-3333-444455556666";

    #[test]
    fn chain_names_use_the_first_eight_hex_digits() {
        assert_eq!(
            chains(UUID),
            (
                "RKT-PFWD-DNAT-0c9a7d3e".to_string(),
                "RKT-PFWD-SNAT-0c9a7d3e".to_string()
            )
        );
    }

    #[test]
    fn rules_dnat_local_destinations_and_masquerade_localhost() {
        let f = Forward {
            protocol: "tcp".into(),
            host_ip: Some(Ipv4Addr::new(127, 0, 0, 1)),
            host_port: 8080,
            pod_ip: Ipv4Addr::new(172, 16, 28, 5),
            pod_port: 80,
        };
        let rules: Vec<String> = setup_rules(UUID, &[f])
            .iter()
            .map(|r| r.join(" "))
            .collect();
        assert_eq!(
            rules,
            [
                "-N RKT-PFWD-DNAT-0c9a7d3e",
                "-N RKT-PFWD-SNAT-0c9a7d3e",
                "-A RKT-PFWD-DNAT-0c9a7d3e -p tcp -d 127.0.0.1 --dport 8080 -j DNAT --to-destination 172.16.28.5:80",
                "-A RKT-PFWD-SNAT-0c9a7d3e -p tcp -s 127.0.0.1 -d 172.16.28.5 --dport 80 -j MASQUERADE",
                "-A PREROUTING -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e",
                "-A OUTPUT -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e",
                "-A POSTROUTING -j RKT-PFWD-SNAT-0c9a7d3e",
            ]
        );
        let down: Vec<String> = teardown_rules(UUID).iter().map(|r| r.join(" ")).collect();
        assert_eq!(
            down[0],
            "-D PREROUTING -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e"
        );
        assert_eq!(down.last().unwrap(), "-X RKT-PFWD-SNAT-0c9a7d3e");
    }

    #[test]
    fn teardown_takes_only_what_the_listing_has() {
        // As `iptables -S` prints it: the OUTPUT jump twice, no SNAT chain or jump.
        let listing = "-P PREROUTING ACCEPT\n-N RKT-PFWD-DNAT-0c9a7d3e\n\
            -A PREROUTING -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e\n\
            -A OUTPUT -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e\n\
            -A OUTPUT -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e\n\
            -A OUTPUT -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-aaaaaaaa\n";
        let rules: Vec<String> = present_teardown_rules(UUID, listing)
            .iter()
            .map(|r| r.join(" "))
            .collect();
        assert_eq!(
            rules,
            [
                "-D PREROUTING -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e",
                "-D OUTPUT -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e",
                "-D OUTPUT -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-0c9a7d3e",
                "-F RKT-PFWD-DNAT-0c9a7d3e",
                "-X RKT-PFWD-DNAT-0c9a7d3e",
            ]
        );
        assert!(present_teardown_rules(UUID, "-P OUTPUT ACCEPT\n").is_empty());
    }
}
