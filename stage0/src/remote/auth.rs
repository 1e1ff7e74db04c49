//! auth.d credentials (rkt.md §4): `basic` (`user`, `password`) and `oauth` (`token`) per domain.
//! The values stay inside this type: its `Debug` shows only the kind.

use base64::Engine as _;

use crate::config::AuthConfig;

/// An auth.d entry that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("auth.d entry for domain {domain:?}: unknown type {kind:?}; valid types: basic, oauth")]
    UnknownType { domain: String, kind: String },
    #[error("auth.d entry for domain {domain:?} (type {kind}): credentials lack {field:?}")]
    Missing {
        domain: String,
        kind: &'static str,
        field: &'static str,
    },
}

/// The credentials of one domain.
#[derive(Clone)]
pub enum Credentials {
    Basic { user: String, password: String },
    OAuth { token: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Basic { .. } => "Basic(<redacted>)",
            Credentials::OAuth { .. } => "OAuth(<redacted>)",
        })
    }
}

impl Credentials {
    pub fn from_config(domain: &str, c: &AuthConfig) -> Result<Credentials, AuthError> {
        let field = |kind: &'static str, field: &'static str| {
            c.credentials
                .get(field)
                .cloned()
                .ok_or_else(|| AuthError::Missing {
                    domain: domain.to_string(),
                    kind,
                    field,
                })
        };
        match c.kind.as_str() {
            "basic" => Ok(Credentials::Basic {
                user: field("basic", "user")?,
                password: field("basic", "password")?,
            }),
            "oauth" => Ok(Credentials::OAuth {
                token: field("oauth", "token")?,
            }),
            other => Err(AuthError::UnknownType {
                domain: domain.to_string(),
                kind: other.to_string(),
            }),
        }
    }

    /// The value of the `Authorization` header.
    pub fn header_value(&self) -> String {
        match self {
            Credentials::Basic { user, password } => {
                let raw = format!("{user}:{password}");
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            }
            Credentials::OAuth { token } => format!("Bearer {token}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn conf(kind: &str, creds: &[(&str, &str)]) -> AuthConfig {
        AuthConfig {
            domains: vec!["a.com".into()],
            kind: kind.into(),
            credentials: creds
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn basic_and_oauth_headers() {
        let b =
            Credentials::from_config("a.com", &conf("basic", &[("user", "u"), ("password", "p")]))
                .unwrap();
        assert_eq!(b.header_value(), "Basic dTpw");
        let o = Credentials::from_config("a.com", &conf("oauth", &[("token", "t0k")])).unwrap();
        assert_eq!(o.header_value(), "Bearer t0k");
        assert!(!format!("{b:?}{o:?}").contains("t0k"));
    }

    #[test]
    fn bad_entries_name_the_domain() {
        let e = Credentials::from_config("a.com", &conf("basic", &[("user", "u")])).unwrap_err();
        assert!(e.to_string().contains("\"password\"") && e.to_string().contains("a.com"));
        let e = Credentials::from_config("a.com", &conf("digest", &[])).unwrap_err();
        assert!(e.to_string().contains("digest"));
    }
}
