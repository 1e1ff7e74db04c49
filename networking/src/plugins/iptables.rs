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

/// Installs masquerading for traffic from `ip` leaving `subnet`.
pub fn add_masquerade(
    chain: &str,
    ip: Ipv4Addr,
    subnet: Ipv4Net,
    comment: &str,
) -> Result<(), Error> {
    if chain_exists(chain)? {
        // A half-made chain from an earlier failed ADD: start over.
        del_masquerade(chain)?;
    }
    let sub = Ipv4Net {
        addr: subnet.network(),
        prefix: subnet.prefix,
    }
    .to_string();
    let src = format!("{ip}/32");
    must(&["-t", "nat", "-N", chain])?;
    let c = ["-m", "comment", "--comment", comment];
    must(
        &[
            &["-t", "nat", "-A", chain, "-d", &sub, "-j", "ACCEPT"][..],
            &c,
        ]
        .concat(),
    )?;
    must(
        &[
            &[
                "-t",
                "nat",
                "-A",
                chain,
                "!",
                "-d",
                "224.0.0.0/4",
                "-j",
                "MASQUERADE",
            ][..],
            &c,
        ]
        .concat(),
    )?;
    must(
        &[
            &["-t", "nat", "-A", "POSTROUTING", "-s", &src, "-j", chain][..],
            &c,
        ]
        .concat(),
    )?;
    Ok(())
}

/// Removes the POSTROUTING jumps to `chain` and the chain itself.
pub fn del_masquerade(chain: &str) -> Result<(), Error> {
    let listing = must(&["-t", "nat", "-n", "-L", "POSTROUTING", "--line-numbers"])?;
    let mut nums: Vec<u32> = listing
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let n = cols.next()?.parse().ok()?;
            (cols.next()? == chain).then_some(n)
        })
        .collect();
    // Highest first, so the remaining numbers stay valid.
    nums.sort_unstable_by(|a, b| b.cmp(a));
    for n in nums {
        must(&["-t", "nat", "-D", "POSTROUTING", &n.to_string()])?;
    }
    if chain_exists(chain)? {
        must(&["-t", "nat", "-F", chain])?;
        must(&["-t", "nat", "-X", chain])?;
    }
    Ok(())
}

/// Whether `chain` exists in the nat table (for CHECK and tests).
pub fn has_chain(chain: &str) -> Result<bool, Error> {
    chain_exists(chain)
}

#[cfg(test)]
mod tests {
    #[test]
    fn chain_names_fit() {
        let a = super::chain_name("default", "0123-uuid");
        assert_eq!(a.len(), 28);
        assert!(a.starts_with("CNI-"));
        assert_ne!(a, super::chain_name("default", "0124-uuid"));
    }
}
