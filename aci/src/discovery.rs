//! appc meta discovery (spec/discovery.md): from an image name and labels to the URLs of the
//! image, its signature and the keys that sign it. No I/O lives here; stage0 fetches.
//!
//! The walk, as stage0 drives it:
//! 1. [`AppReference::parse`] the user's `name[:version][,label=value...]`, then
//!    [`AppReference::with_defaults`] with [`host_os_arch`].
//! 2. For each URL of [`discovery_urls`] in order, GET it (following redirects); on an error,
//!    a 4xx, or a page whose [`parse_meta_tags`] yield no usable endpoint, go on to the next.
//! 3. [`endpoints`] gives the image/signature URLs and key URLs, in document order.
//!
//! Prefix matching here is the Go code's plain string prefix ([`prefix_matches`]), so
//! `example.com/app` also serves `example.com/apple`. Anything that grants trust should use the
//! component-aware [`prefix_matches_components`] instead.

mod app;
mod meta;

pub use app::{AppReference, DEFAULT_VERSION, appc_os_arch, host_os_arch};
pub use meta::{MetaKind, MetaTag, decode_entities, parse_meta_tags};

use crate::types::{AcIdentifier, TypeError};

/// A bad image reference or label. Every variant names the input and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("empty image reference: expected name[:version][,label=value...]")]
    Empty,
    #[error("image reference {input:?}: bad image name: {error}")]
    Name { input: String, error: TypeError },
    #[error(
        "image reference {input:?}: ':' may appear only once, between the name and the version"
    )]
    TooManyColons { input: String },
    #[error(
        "image reference {input:?}: ':' must come right after the name, before any ',label=value'"
    )]
    MisplacedColon { input: String },
    #[error("image reference {input:?}: label {part:?} has no value; write label=value")]
    LabelWithoutValue { input: String, part: String },
    #[error("image reference {input:?}: bad label name {label:?}: {error}")]
    LabelName {
        input: String,
        label: String,
        error: TypeError,
    },
    #[error("image reference {input:?}: 'name' cannot be a label; the image name comes first")]
    ReservedLabel { input: String },
    #[error(
        "image reference {input:?}: label {label:?} is given more than once (a version after ':' is the 'version' label)"
    )]
    DuplicateLabel { input: String, label: String },
    #[error("label {label:?} value {value:?}: {rule}")]
    LabelValue {
        label: String,
        value: String,
        rule: &'static str,
    },
}

/// Where to get one image and its detached signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AciEndpoint {
    pub aci_url: String,
    pub asc_url: String,
}

/// What one discovery page offers for an image, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub aci: Vec<AciEndpoint>,
    /// `ac-discovery-pubkeys` URLs (not templates).
    pub keys: Vec<String>,
}

impl Endpoints {
    pub fn is_empty(&self) -> bool {
        self.aci.is_empty() && self.keys.is_empty()
    }
}

/// The Go code's rule for which tags apply to a name: a plain string prefix.
pub fn prefix_matches(prefix: &str, name: &str) -> bool {
    !prefix.is_empty() && name.starts_with(prefix)
}

/// A stricter rule for trust: `prefix` must cover whole path components of `name`, so
/// `example.com/app` covers `example.com/app` and `example.com/app/sub` but not
/// `example.com/apple`. A trailing `/` on the prefix is allowed.
pub fn prefix_matches_components(prefix: &str, name: &str) -> bool {
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    if prefix.is_empty() {
        return false;
    }
    match name.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Render a discovery template for `app`: `{name}`, `{ext}`, and `{<label>}` for each label
/// (`{version}` is [`DEFAULT_VERSION`] when not given). Substitution is one pass over the
/// template, so values are never re-expanded. None when any `{...}` names nothing we know:
/// such a template is skipped, as the Go code does.
pub fn fill_template(template: &str, app: &AppReference, ext: &str) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            // A '{' never closed is not a placeholder (the Go check is the regexp `{.*?}`).
            out.push_str(&rest[open..]);
            return Some(out);
        };
        let var = &after[..close];
        let value = match var {
            "name" => app.name().as_str(),
            "ext" => ext,
            "version" => app.discovery_version(),
            label => app.label(label)?,
        };
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The endpoints the page's `tags` offer for `app`: tags whose prefix matches the name
/// ([`prefix_matches`]), in document order. An `ac-discovery` template is skipped when it does
/// not render completely, or when it lacks `{ext}` (the spec requires it; without it the image
/// and signature URLs would be the same).
pub fn endpoints(tags: &[MetaTag], app: &AppReference) -> Endpoints {
    let mut found = Endpoints::default();
    let name = app.name().as_str();
    for tag in tags.iter().filter(|t| prefix_matches(&t.prefix, name)) {
        match tag.kind {
            MetaKind::Discovery => {
                if !tag.content.contains("{ext}") {
                    continue;
                }
                let aci = fill_template(&tag.content, app, "aci");
                let asc = fill_template(&tag.content, app, "aci.asc");
                if let (Some(aci_url), Some(asc_url)) = (aci, asc) {
                    found.aci.push(AciEndpoint { aci_url, asc_url });
                }
            }
            MetaKind::Pubkeys => found.keys.push(tag.content.clone()),
        }
    }
    found
}

/// The name and its parents, longest first: `a.com/p/sub`, `a.com/p`, `a.com`.
pub fn name_prefixes(name: &AcIdentifier) -> Vec<&str> {
    let mut out = vec![name.as_str()];
    let mut cur = name.as_str();
    while let Some(i) = cur.rfind('/') {
        cur = &cur[..i];
        out.push(cur);
    }
    out
}

/// The transport of a discovery URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Https,
    /// Only under rkt's `--insecure-options=http`.
    Http,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// The discovery URL of one name prefix: `https://{prefix}?ac-discovery=1`. `port` overrides
/// the scheme's default port (for test servers); the prefix's first component is the host.
pub fn discovery_url(prefix: &str, scheme: Scheme, port: Option<u16>) -> String {
    let (host, path) = match prefix.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (prefix, None),
    };
    let mut url = format!("{}://{host}", scheme.as_str());
    if let Some(port) = port {
        url.push_str(&format!(":{port}"));
    }
    if let Some(path) = path {
        url.push('/');
        url.push_str(path);
    }
    url.push_str("?ac-discovery=1");
    url
}

/// The discovery URLs to try, in order: each prefix of [`name_prefixes`] over HTTPS. With
/// `insecure_http`, each HTTPS URL is followed by its plain-HTTP twin, because the Go code tries
/// HTTPS first and falls back to HTTP for the same prefix when HTTPS fails.
pub fn discovery_urls(name: &AcIdentifier, insecure_http: bool) -> Vec<String> {
    let mut urls = Vec::new();
    for prefix in name_prefixes(name) {
        urls.push(discovery_url(prefix, Scheme::Https, None));
        if insecure_http {
            urls.push(discovery_url(prefix, Scheme::Http, None));
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(s: &str) -> AppReference {
        AppReference::parse(s).unwrap()
    }

    fn disc(prefix: &str, content: &str) -> MetaTag {
        MetaTag {
            kind: MetaKind::Discovery,
            prefix: prefix.into(),
            content: content.into(),
        }
    }

    #[test]
    fn spec_example_renders() {
        let a = app("example.com/reduce-worker:1.0.0,os=linux,arch=amd64");
        let t = "https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}";
        assert_eq!(
            fill_template(t, &a, "aci.asc").as_deref(),
            Some("https://storage.example.com/linux/amd64/example.com/reduce-worker-1.0.0.aci.asc")
        );
        assert_eq!(
            fill_template("https://{name}-{version}-{os}-{arch}.{ext}", &a, "aci").as_deref(),
            Some("https://example.com/reduce-worker-1.0.0-linux-amd64.aci")
        );
    }

    #[test]
    fn template_rules() {
        let a = app("a.com/b,os=linux,channel=beta");
        // Missing version becomes latest; any label is a variable; repeats are all filled.
        assert_eq!(
            fill_template("x/{name}/{version}/{channel}/{name}.{ext}", &a, "aci").as_deref(),
            Some("x/a.com/b/latest/beta/a.com/b.aci")
        );
        // Unfilled variables skip the template.
        assert_eq!(fill_template("x/{arch}.{ext}", &a, "aci"), None);
        assert_eq!(fill_template("x/{}.{ext}", &a, "aci"), None);
        assert_eq!(fill_template("x/{{name}}.{ext}", &a, "aci"), None);
        // An unclosed brace is literal text; values are not re-expanded.
        assert_eq!(
            fill_template("x/{name", &a, "aci").as_deref(),
            Some("x/{name")
        );
        let weird = app("a.com/b:{name}");
        assert_eq!(
            fill_template("{version}", &weird, "aci").as_deref(),
            Some("{name}")
        );
        assert_eq!(
            fill_template("no vars", &a, "aci").as_deref(),
            Some("no vars")
        );
    }

    #[test]
    fn endpoints_pick_matching_tags_in_order() {
        let tags = vec![
            disc(
                "example.com",
                "https://s.example.com/{os}/{arch}/{name}-{version}.{ext}",
            ),
            disc("other.com", "https://other.com/{name}.{ext}"),
            disc(
                "example.com",
                "hdfs://s.example.com/{name}-{version}-{os}-{arch}.{ext}",
            ),
            disc("example.com", "https://s.example.com/{name}-{flavor}.{ext}"), // unfilled
            disc("example.com", "https://s.example.com/{name}.aci"),            // no {ext}
            MetaTag {
                kind: MetaKind::Pubkeys,
                prefix: "example.com".into(),
                content: "https://example.com/pubkeys.gpg".into(),
            },
            MetaTag {
                kind: MetaKind::Pubkeys,
                prefix: "x.com".into(),
                content: "k".into(),
            },
        ];
        let a = app("example.com/reduce-worker:1.0.0")
            .with_defaults("linux", "amd64")
            .unwrap();
        let e = endpoints(&tags, &a);
        assert_eq!(
            e.aci,
            vec![
                AciEndpoint {
                    aci_url:
                        "https://s.example.com/linux/amd64/example.com/reduce-worker-1.0.0.aci"
                            .into(),
                    asc_url:
                        "https://s.example.com/linux/amd64/example.com/reduce-worker-1.0.0.aci.asc"
                            .into(),
                },
                AciEndpoint {
                    aci_url: "hdfs://s.example.com/example.com/reduce-worker-1.0.0-linux-amd64.aci"
                        .into(),
                    asc_url:
                        "hdfs://s.example.com/example.com/reduce-worker-1.0.0-linux-amd64.aci.asc"
                            .into(),
                },
            ]
        );
        assert_eq!(e.keys, vec!["https://example.com/pubkeys.gpg".to_string()]);
        assert!(endpoints(&tags, &app("nobody.org/x")).is_empty());
    }

    #[test]
    fn plain_prefix_vs_component_prefix() {
        assert!(prefix_matches("example.com/app", "example.com/apple"));
        assert!(!prefix_matches_components(
            "example.com/app",
            "example.com/apple"
        ));
        for (p, n) in [
            ("example.com/app", "example.com/app"),
            ("example.com/app", "example.com/app/sub"),
            ("example.com/", "example.com/app"),
            ("example.com", "example.com/app"),
        ] {
            assert!(
                prefix_matches(p, n) && prefix_matches_components(p, n),
                "{p} {n}"
            );
        }
        assert!(!prefix_matches_components("example.co", "example.com/app"));
        assert!(!prefix_matches_components("", "example.com"));
        assert!(!prefix_matches_components("/", "example.com"));
        assert!(!prefix_matches("", "example.com"));
        assert!(!prefix_matches("example.com/app/sub", "example.com/app"));
        // The plain rule is what `endpoints` uses.
        let tags = vec![disc("example.com/app", "https://x/{name}.{ext}")];
        assert_eq!(endpoints(&tags, &app("example.com/apple")).aci.len(), 1);
    }

    #[test]
    fn walks_name_prefixes() {
        let n = AcIdentifier::new("a.com/p/sub").unwrap();
        assert_eq!(name_prefixes(&n), vec!["a.com/p/sub", "a.com/p", "a.com"]);
        assert_eq!(
            discovery_urls(&n, false),
            vec![
                "https://a.com/p/sub?ac-discovery=1",
                "https://a.com/p?ac-discovery=1",
                "https://a.com?ac-discovery=1",
            ]
        );
        assert_eq!(
            discovery_urls(&n, true),
            vec![
                "https://a.com/p/sub?ac-discovery=1",
                "http://a.com/p/sub?ac-discovery=1",
                "https://a.com/p?ac-discovery=1",
                "http://a.com/p?ac-discovery=1",
                "https://a.com?ac-discovery=1",
                "http://a.com?ac-discovery=1",
            ]
        );
        let one = AcIdentifier::new("localhost").unwrap();
        assert_eq!(name_prefixes(&one), vec!["localhost"]);
        assert_eq!(
            discovery_url("localhost/a/b", Scheme::Http, Some(8080)),
            "http://localhost:8080/a/b?ac-discovery=1"
        );
    }

    #[test]
    fn errors_name_the_input() {
        let e = AppReference::parse("a,os=linux,os=darwin").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("a,os=linux,os=darwin") && msg.contains("\"os\""),
            "{msg}"
        );
    }
}
