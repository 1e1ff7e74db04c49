//! `--pull-policy`: when an image in the store is good enough (rkt.md §3).

use std::fmt;
use std::str::FromStr;

/// When to use the store and when to go to the remote. Files are always read from disk and
/// `sha512-` IDs always come from the store, whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Use the store when it has the image, else fetch (`run`'s default).
    New,
    /// Ask the remote for a newer image first (`fetch`'s default).
    Update,
    /// Use the store only.
    Never,
}

/// A `--pull-policy` value rkt does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pull policy {0:?}; valid values: new, update, never")]
pub struct UnknownPullPolicy(pub String);

impl FromStr for PullPolicy {
    type Err = UnknownPullPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(PullPolicy::New),
            "update" => Ok(PullPolicy::Update),
            "never" => Ok(PullPolicy::Never),
            other => Err(UnknownPullPolicy(other.to_string())),
        }
    }
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PullPolicy::New => "new",
            PullPolicy::Update => "update",
            PullPolicy::Never => "never",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_three_policies() {
        for p in [PullPolicy::New, PullPolicy::Update, PullPolicy::Never] {
            assert_eq!(p.to_string().parse::<PullPolicy>(), Ok(p));
        }
        let e = "Update".parse::<PullPolicy>().unwrap_err();
        assert_eq!(e.0, "Update");
        assert!(e.to_string().contains("new, update, never"));
    }
}
