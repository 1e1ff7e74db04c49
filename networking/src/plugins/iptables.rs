//! IP masquerade through the `iptables` command (nat table), one chain per container.
//!
//! ADD: chain `CNI-<hash>` with ACCEPT for the network's own subnet and MASQUERADE for all but
//! multicast, jumped to from POSTROUTING for the container's address; every rule carries a
//! comment naming the network and container. DEL removes the jumps and the chain; both missing
//! is fine.

use std::net::Ipv4Addr;
use std::process::Command;

use sha2::{Digest, Sha256};

use super::cni::{self, Ipv4Net};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("running iptables {args}: {source} (is the iptables package installed?)")]
    Spawn {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("iptables {args} failed: {stderr}")]
    Failed { args: String, stderr: String },
}

impl Error {
    pub fn code(&self) -> u32 {
        cni::code::IPTABLES
    }
}

/// `CNI-` and 24 hex digits of a hash of network and container: unique, under the 28-char limit.
pub fn chain_name(net: &str, container_id: &str) -> String {
    let h = Sha256::digest(format!("{net}\0{container_id}").as_bytes());
    format!("CNI-{}", &hex::encode(h)[..24])
}

fn iptables(args: &[&str]) -> Result<(bool, String, String), Error> {
    let joined = args.join(" ");
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            args: joined,
            source,
        })?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn must(args: &[&str]) -> Result<String, Error> {
    match iptables(args)? {
        (true, out, _) => Ok(out),
        (false, _, stderr) => Err(Error::Failed {
            args: args.join(" "),
            stderr: stderr.trim().into(),
        }),
    }
}

fn chain_exists(chain: &str) -> Result<bool, Error> {
    Ok(iptables(&["-t", "nat", "-n", "-L", chain])?.0)
}

/// A comment as one quoted word of an `iptables-restore` script.
fn quoted(comment: &str) -> String {
    let clean: String = comment
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    format!("\"{clean}\"")
}

/// Applies `lines` to the nat table in one `iptables-restore --noflush` (one exec instead of
/// one per rule, and all or nothing).
fn restore(lines: &[String]) -> Result<(), Error> {
    use std::io::Write;
    let script = format!("*nat\n{}\nCOMMIT\n", lines.join("\n"));
    let shown = || format!("-restore: {}", lines.join("; "));
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            args: shown(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows as the command's own failure below.
        let _ = stdin.write_all(script.as_bytes());
    }
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        args: shown(),
        source,
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Failed {
        args: shown(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().into(),
    })
}

/// The restore lines that install masquerading for `ip` leaving `subnet` in `chain`. Declaring
/// the chain empties it when a failed earlier ADD left it half made.
pub fn masquerade_lines(chain: &str, ip: Ipv4Addr, subnet: Ipv4Net, comment: &str) -> Vec<String> {
    let sub = Ipv4Net {
        addr: subnet.network(),
        prefix: subnet.prefix,
    };
    let c = format!("-m comment --comment {}", quoted(comment));
    vec![
        format!(":{chain} - [0:0]"),
        format!("-A {chain} -d {sub} {c} -j ACCEPT"),
        format!("-A {chain} ! -d 224.0.0.0/4 {c} -j MASQUERADE"),
        format!("-A POSTROUTING -s {ip}/32 {c} -j {chain}"),
    ]
}

/// Installs masquerading for traffic from `ip` leaving `subnet`.
pub fn add_masquerade(
    chain: &str,
    ip: Ipv4Addr,
    subnet: Ipv4Net,
    comment: &str,
) -> Result<(), Error> {
    restore(&masquerade_lines(chain, ip, subnet, comment))
}

/// The restore lines that remove `chain` and every POSTROUTING jump to it, from the nat
/// table's `iptables -S` listing; empty when there is nothing to remove.
pub fn unmasquerade_lines(listing: &str, chain: &str) -> Vec<String> {
    let jump = format!(" -j {chain}");
    let mut out: Vec<String> = listing
        .lines()
        .filter_map(|l| l.strip_prefix("-A POSTROUTING "))
        .filter(|rule| rule.ends_with(&jump))
        .map(|rule| format!("-D POSTROUTING {rule}"))
        .collect();
    if listing.lines().any(|l| l == format!("-N {chain}")) {
        out.push(format!("-F {chain}"));
        out.push(format!("-X {chain}"));
    }
    out
}

/// Removes the POSTROUTING jumps to `chain` and the chain itself (two execs: a listing and
/// one restore).
pub fn del_masquerade(chain: &str) -> Result<(), Error> {
    let listing = must(&["-t", "nat", "-S"])?;
    let lines = unmasquerade_lines(&listing, chain);
    if lines.is_empty() {
        return Ok(());
    }
    restore(&lines)
}

/// Whether `chain` exists in the nat table (for CHECK and tests).
pub fn has_chain(chain: &str) -> Result<bool, Error> {
    chain_exists(chain)
}

#[cfg(test)]
mod tests {
    #[test]
    fn masquerade_rules_and_their_removal() {
        let chain = super::chain_name("default", "u1");
        let subnet: super::Ipv4Net = "172.16.28.9/24".parse().unwrap();
        let ip = "172.16.28.9".parse().unwrap();
        let add = super::masquerade_lines(&chain, ip, subnet, "name: \"x\" id: u1");
        assert_eq!(add[0], format!(":{chain} - [0:0]"));
        assert_eq!(
            add[1],
            format!(
                "-A {chain} -d 172.16.28.0/24 -m comment --comment \"name: _x_ id: u1\" -j ACCEPT"
            )
        );
        assert!(add[3].starts_with("-A POSTROUTING -s 172.16.28.9/32 "));
        // The listing as `iptables -S` prints it, with another pod's chain next to ours.
        let other = super::chain_name("default", "u2");
        let listing = format!(
            "-P POSTROUTING ACCEPT\n-N {chain}\n-N {other}\n\
             -A POSTROUTING -s 172.16.28.9/32 -m comment --comment \"n\" -j {chain}\n\
             -A POSTROUTING -s 172.16.28.10/32 -m comment --comment \"n\" -j {other}\n\
             -A {chain} -d 172.16.28.0/24 -j ACCEPT\n"
        );
        assert_eq!(
            super::unmasquerade_lines(&listing, &chain),
            [
                format!("-D POSTROUTING -s 172.16.28.9/32 -m comment --comment \"n\" -j {chain}"),
                format!("-F {chain}"),
                format!("-X {chain}"),
            ]
        );
        assert!(super::unmasquerade_lines("-P POSTROUTING ACCEPT\n", &chain).is_empty());
    }

    #[test]
    fn chain_names_fit() {
        let a = super::chain_name("default", "0123-uuid");
        assert_eq!(a.len(), 28);
        assert!(a.starts_with("CNI-"));
        assert_ne!(a, super::chain_name("default", "0124-uuid"));
    }
}
