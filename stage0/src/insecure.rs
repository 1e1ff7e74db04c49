//! `--insecure-options`: the explicit, named relaxations of rkt's security defaults.
//!
//! Every value rkt 1.30 accepts is accepted here (`ondisk` is a no-op there and here); an unknown
//! value is an error that lists the valid ones, so a typo never silently weakens nothing or
//! everything.

use std::fmt;
use std::str::FromStr;

/// One relaxation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Insecure {
    /// Skip image signature verification.
    Image,
    /// Accept TLS certificates that do not verify.
    Tls,
    /// rkt's on-disk re-verification; a no-op in rkt 1.30 and here (use `rkt image verify`).
    OnDisk,
    /// Allow plain HTTP for images, signatures and discovery.
    Http,
    /// Trust discovered public keys fetched without a fingerprint review or over HTTP.
    Pubkey,
    /// Give apps every capability.
    Capabilities,
    /// Do not hide or make read-only the sensitive /proc and /sys paths.
    Paths,
    /// Run apps without a seccomp filter.
    Seccomp,
}

impl Insecure {
    const ALL: [Insecure; 8] = [
        Insecure::Image,
        Insecure::Tls,
        Insecure::OnDisk,
        Insecure::Http,
        Insecure::Pubkey,
        Insecure::Capabilities,
        Insecure::Paths,
        Insecure::Seccomp,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    pub fn name(self) -> &'static str {
        match self {
            Insecure::Image => "image",
            Insecure::Tls => "tls",
            Insecure::OnDisk => "ondisk",
            Insecure::Http => "http",
            Insecure::Pubkey => "pubkey",
            Insecure::Capabilities => "capabilities",
            Insecure::Paths => "paths",
            Insecure::Seccomp => "seccomp",
        }
    }
}

/// A set of relaxations; the default is none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsecureOptions(u16);

/// An `--insecure-options` value rkt does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown --insecure-options value {0:?}; valid values: none, image, tls, ondisk, http, pubkey, \
     capabilities, paths, seccomp, all-fetch, all-run, all"
)]
pub struct UnknownInsecureOption(pub String);

impl InsecureOptions {
    pub fn none() -> Self {
        InsecureOptions(0)
    }

    pub fn allows(self, what: Insecure) -> bool {
        self.0 & what.bit() != 0
    }

    pub fn with(self, what: Insecure) -> Self {
        InsecureOptions(self.0 | what.bit())
    }

    /// The relaxations in effect, for `--debug` logs and `rkt config`.
    pub fn iter(self) -> impl Iterator<Item = Insecure> {
        Insecure::ALL.into_iter().filter(move |i| self.allows(*i))
    }

    fn group(word: &str) -> Option<&'static [Insecure]> {
        use Insecure::*;
        Some(match word {
            "none" => &[],
            "all-fetch" => &[Image, Tls, Http, Pubkey],
            "all-run" => &[Capabilities, Paths, Seccomp],
            "all" => &Insecure::ALL,
            _ => return None,
        })
    }
}

impl FromStr for InsecureOptions {
    type Err = UnknownInsecureOption;

    /// Comma-separated values, case-insensitive and trimmed like rkt's flag parser.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = InsecureOptions::none();
        for word in s.split(',').map(|w| w.trim().to_ascii_lowercase()) {
            if word.is_empty() {
                continue;
            }
            if let Some(group) = Self::group(&word) {
                set = group.iter().fold(set, |acc, i| acc.with(*i));
            } else if let Some(one) = Insecure::ALL.into_iter().find(|i| i.name() == word) {
                set = set.with(one);
            } else {
                return Err(UnknownInsecureOption(word));
            }
        }
        Ok(set)
    }
}

impl fmt::Display for InsecureOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Insecure::name).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_values_and_groups() {
        let o: InsecureOptions = "image,TLS".parse().unwrap();
        assert!(o.allows(Insecure::Image) && o.allows(Insecure::Tls));
        assert!(!o.allows(Insecure::Http));
        let f: InsecureOptions = "all-fetch".parse().unwrap();
        assert!(f.allows(Insecure::Pubkey) && f.allows(Insecure::Http));
        assert!(!f.allows(Insecure::Seccomp) && !f.allows(Insecure::OnDisk));
        let r: InsecureOptions = "all-run".parse().unwrap();
        assert_eq!(r.to_string(), "capabilities,paths,seccomp");
        let all: InsecureOptions = "all".parse().unwrap();
        assert_eq!(all.iter().count(), 8);
        assert_eq!(
            "none".parse::<InsecureOptions>().unwrap(),
            InsecureOptions::none()
        );
        assert_eq!(InsecureOptions::none().to_string(), "none");
    }

    #[test]
    fn unknown_values_are_errors() {
        let e = "image,imgae".parse::<InsecureOptions>().unwrap_err();
        assert_eq!(e.0, "imgae");
        assert!(e.to_string().contains("all-fetch"));
    }
}
