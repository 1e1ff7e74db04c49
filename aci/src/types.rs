//! The spec's shared value types (spec/types.md): validated newtypes that can only hold a legal
//! value, so code that receives one never re-checks it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that breaks one of the spec's type rules. `what` names the type, `value` the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {rule}")]
pub struct TypeError {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

impl TypeError {
    pub fn new(what: &'static str, value: impl Into<String>, rule: &'static str) -> Self {
        TypeError {
            what,
            value: value.into(),
            rule,
        }
    }
}

/// True when `s` is runs of `[a-z0-9]` joined by single separators drawn from `seps`.
fn is_alnum_runs(s: &str, seps: &[u8]) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    b.windows(2).all(|w| {
        let ok = |c: u8| alnum(c) || seps.contains(&c);
        ok(w[0]) && ok(w[1]) && (alnum(w[0]) || alnum(w[1]))
    })
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, TypeError> {
                let s = s.into();
                let check: fn(&str) -> bool = $check;
                if check(&s) { Ok($name(s)) } else { Err(TypeError::new($what, s, $rule)) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $name {
            type Err = TypeError;
            fn from_str(s: &str) -> Result<Self, TypeError> {
                $name::new(s)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// AC Identifier: image, label, annotation, isolator and dependency names
    /// (`^[a-z0-9]+([-._~/][a-z0-9]+)*$`).
    AcIdentifier,
    "AC Identifier",
    |s| is_alnum_runs(s, b"-._~/"),
    "must be lowercase letters and digits, separated by single '-', '.', '_', '~' or '/', starting and ending with a letter or digit"
);

string_newtype!(
    /// AC Name: app, volume, mount point and port names (`^[a-z0-9]+([-][a-z0-9]+)*$`).
    AcName,
    "AC Name",
    |s| is_alnum_runs(s, b"-"),
    "must be lowercase letters and digits separated by single '-', starting and ending with a letter or digit"
);

impl AcName {
    /// Turn an arbitrary string (such as the last element of an image name) into an AC Name the
    /// way rkt derives default app names: lowercase, other characters become `-`, runs collapse.
    pub fn sanitize(s: &str) -> Result<AcName, TypeError> {
        let mut out = String::with_capacity(s.len());
        for c in s.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        while out.ends_with('-') {
            out.pop();
        }
        AcName::new(out).map_err(|e| TypeError {
            value: s.to_string(),
            ..e
        })
    }
}

/// An image ID: `sha512-` and lowercase hex. The store keys images by the first 64 hex digits
/// (rkt's key); a full ID has 128. Shorter forms are prefixes for lookups, see [`ImageId::parse_prefix`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageId(String);

impl ImageId {
    pub const PREFIX: &'static str = "sha512-";
    /// Hex digits of a store key (half of SHA-512, as rkt keys its CAS).
    pub const KEY_HEX_LEN: usize = 64;
    /// Hex digits of a whole SHA-512.
    pub const FULL_HEX_LEN: usize = 128;

    /// A complete ID: `sha512-` then 64 (store key) or 128 (full hash) lowercase hex digits.
    pub fn new(s: impl Into<String>) -> Result<Self, TypeError> {
        let s = s.into();
        match Self::hex_part(&s) {
            Some(h) if h.len() == Self::KEY_HEX_LEN || h.len() == Self::FULL_HEX_LEN => {
                Ok(ImageId(s))
            }
            _ => Err(TypeError::new(
                "image ID",
                s,
                "must be 'sha512-' followed by 64 or 128 lowercase hex digits",
            )),
        }
    }

    /// A lookup prefix: `sha512-` then 1 to 128 lowercase hex digits.
    pub fn parse_prefix(s: &str) -> Result<String, TypeError> {
        match Self::hex_part(s) {
            Some(h) if !h.is_empty() && h.len() <= Self::FULL_HEX_LEN => Ok(s.to_string()),
            _ => Err(TypeError::new(
                "image ID prefix",
                s,
                "must be 'sha512-' followed by 1 to 128 lowercase hex digits",
            )),
        }
    }

    /// Build the ID of a finished SHA-512 digest (full length).
    pub fn from_digest(digest: &[u8]) -> ImageId {
        ImageId(format!("{}{}", Self::PREFIX, hex::encode(digest)))
    }

    fn hex_part(s: &str) -> Option<&str> {
        let h = s.strip_prefix(Self::PREFIX)?;
        h.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            .then_some(h)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex digits after `sha512-`.
    pub fn hex(&self) -> &str {
        &self.0[Self::PREFIX.len()..]
    }

    /// The store key: `sha512-` + the first 64 hex digits.
    pub fn key(&self) -> ImageId {
        ImageId(self.0[..Self::PREFIX.len() + Self::KEY_HEX_LEN].to_string())
    }

    /// The short form rkt prints by default (`sha512-` + 32 hex digits).
    pub fn short(&self) -> &str {
        &self.0[..Self::PREFIX.len() + 32]
    }
}

impl FromStr for ImageId {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, TypeError> {
        ImageId::new(s)
    }
}
impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl Serialize for ImageId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for ImageId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ImageId::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ac_identifier_rules() {
        for ok in [
            "example.com/app",
            "a",
            "coreos.com/etcd",
            "a-b.c_d~e/f",
            "0",
        ] {
            assert!(AcIdentifier::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "A", "-a", "a-", "a--b", "a/-b", "a b", "é", "a//b", "/a",
        ] {
            assert!(AcIdentifier::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ac_name_rules() {
        for ok in ["app", "a-b", "etcd-2"] {
            assert!(AcName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a.b", "a_b", "a/b", "-a", "a-", "a--b", "App"] {
            assert!(AcName::new(bad).is_err(), "{bad}");
        }
        assert_eq!(AcName::sanitize("My_App.v2").unwrap().as_str(), "my-app-v2");
        assert!(AcName::sanitize("___").is_err());
    }

    #[test]
    fn image_id_rules() {
        let full = format!("sha512-{}", "ab".repeat(64));
        let id = ImageId::new(full.clone()).unwrap();
        assert_eq!(id.key().hex().len(), 64);
        assert_eq!(id.short().len(), 7 + 32);
        assert!(ImageId::new(format!("sha512-{}", "a".repeat(64))).is_ok());
        assert!(ImageId::new("sha256-abcd").is_err());
        assert!(ImageId::new(format!("sha512-{}", "A".repeat(64))).is_err());
        assert!(ImageId::new("sha512-../../etc").is_err());
        assert!(ImageId::parse_prefix("sha512-ab").is_ok());
        assert!(ImageId::parse_prefix("sha512-").is_err());
    }
}
