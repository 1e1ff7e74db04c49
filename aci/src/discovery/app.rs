//! Image references as rkt's command line takes them: `name[:version][,label=value...]`, and
//! the host's appc `os`/`arch` names that fill in missing labels.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::DiscoveryError;
use crate::types::AcIdentifier;

/// The version discovery asks for when the reference names none (as the Go code does).
pub const DEFAULT_VERSION: &str = "latest";

/// An image name plus the labels that pick one image out of the ones sharing that name.
///
/// Labels are kept sorted so the same request always prints (and renders) the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppReference {
    name: AcIdentifier,
    labels: BTreeMap<AcIdentifier, String>,
}

impl AppReference {
    /// A reference to `name` with no labels.
    pub fn new(name: AcIdentifier) -> Self {
        AppReference {
            name,
            labels: BTreeMap::new(),
        }
    }

    /// Parse `name[:version][,label=value...]` with rkt's rules: at most one `:`, and only
    /// before the first `,`; every label has a value; no label twice (a version after `:`
    /// counts as the `version` label); `name` is not a label.
    pub fn parse(input: &str) -> Result<Self, DiscoveryError> {
        if input.is_empty() {
            return Err(DiscoveryError::Empty);
        }
        let err_input = || input.to_string();
        let first_comma = input.find(',');
        if input.matches(':').count() > 1 {
            return Err(DiscoveryError::TooManyColons { input: err_input() });
        }
        if let (Some(colon), Some(comma)) = (input.find(':'), first_comma)
            && colon > comma
        {
            return Err(DiscoveryError::MisplacedColon { input: err_input() });
        }
        let (head, rest) = match first_comma {
            Some(i) => (&input[..i], Some(&input[i + 1..])),
            None => (input, None),
        };
        let (name, version) = match head.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (head, None),
        };
        let name = AcIdentifier::new(name).map_err(|error| DiscoveryError::Name {
            input: err_input(),
            error,
        })?;
        let mut app = AppReference::new(name);
        if let Some(v) = version {
            app.insert_new(input, "version", v)?;
        }
        for part in rest.into_iter().flat_map(|r| r.split(',')) {
            let Some((label, value)) = part.split_once('=') else {
                return Err(DiscoveryError::LabelWithoutValue {
                    input: err_input(),
                    part: part.to_string(),
                });
            };
            app.insert_new(input, label, value)?;
        }
        Ok(app)
    }

    /// Add a label parsed from `input`, refusing one that is already there.
    fn insert_new(&mut self, input: &str, label: &str, value: &str) -> Result<(), DiscoveryError> {
        let key = label_name(label, Some(input))?;
        if self.labels.contains_key(&key) {
            return Err(DiscoveryError::DuplicateLabel {
                input: input.to_string(),
                label: label.to_string(),
            });
        }
        check_value(label, value)?;
        self.labels.insert(key, value.to_string());
        Ok(())
    }

    /// The same reference with `label` set to `value` (replacing any earlier value).
    pub fn with_label(mut self, label: &str, value: &str) -> Result<Self, DiscoveryError> {
        let key = label_name(label, None)?;
        check_value(label, value)?;
        self.labels.insert(key, value.to_string());
        Ok(self)
    }

    /// Fill in `os` and `arch` where the reference leaves them out, as rkt does with the host's
    /// values (see [`host_os_arch`]). Labels already given are kept.
    pub fn with_defaults(mut self, os: &str, arch: &str) -> Result<Self, DiscoveryError> {
        for (label, value) in [("os", os), ("arch", arch)] {
            if self.label(label).is_none() {
                self = self.with_label(label, value)?;
            }
        }
        Ok(self)
    }

    pub fn name(&self) -> &AcIdentifier {
        &self.name
    }

    pub fn labels(&self) -> &BTreeMap<AcIdentifier, String> {
        &self.labels
    }

    pub fn label(&self, label: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k.as_str() == label)
            .map(|(_, v)| v.as_str())
    }

    /// The `version` label, if the reference gives one.
    pub fn version(&self) -> Option<&str> {
        self.label("version")
    }

    /// The version discovery asks for: the given one, else [`DEFAULT_VERSION`].
    pub fn discovery_version(&self) -> &str {
        self.version().unwrap_or(DEFAULT_VERSION)
    }

    /// True when an image called `name` with `labels` is what this reference asked for (spec
    /// discovery.md "Validation"): same name, and every requested label present with the same
    /// value; labels the image has but the request lacks are fine.
    pub fn is_satisfied_by<'a>(
        &self,
        name: &str,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> bool {
        if name != self.name.as_str() {
            return false;
        }
        let have: BTreeMap<&str, &str> = labels.into_iter().collect();
        self.labels
            .iter()
            .all(|(k, v)| have.get(k.as_str()) == Some(&v.as_str()))
    }
}

/// A label name: an AC Identifier other than `name` (which would clash with the image name).
fn label_name(label: &str, input: Option<&str>) -> Result<AcIdentifier, DiscoveryError> {
    let input = input.unwrap_or_default().to_string();
    if label == "name" {
        return Err(DiscoveryError::ReservedLabel { input });
    }
    AcIdentifier::new(label).map_err(|error| DiscoveryError::LabelName {
        input,
        label: label.to_string(),
        error,
    })
}

/// A label value must survive printing and re-parsing, and go into a URL unescaped: so it is
/// non-empty and has no `,` or `:` (the reference's separators), no whitespace or controls.
fn check_value(label: &str, value: &str) -> Result<(), DiscoveryError> {
    let rule = if value.is_empty() {
        Some("must not be empty")
    } else if value.contains([',', ':']) {
        Some("must not contain ',' or ':', which separate the parts of an image reference")
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must not contain whitespace or control characters")
    } else {
        None
    };
    match rule {
        Some(rule) => Err(DiscoveryError::LabelValue {
            label: label.to_string(),
            value: value.to_string(),
            rule,
        }),
        None => Ok(()),
    }
}

impl FromStr for AppReference {
    type Err = DiscoveryError;
    fn from_str(s: &str) -> Result<Self, DiscoveryError> {
        AppReference::parse(s)
    }
}

/// Prints `name[:version][,label=value...]`, the form [`AppReference::parse`] reads back.
impl fmt::Display for AppReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_str())?;
        if let Some(v) = self.version() {
            write!(f, ":{v}")?;
        }
        for (k, v) in self.labels.iter().filter(|(k, _)| k.as_str() != "version") {
            write!(f, ",{k}={v}")?;
        }
        Ok(())
    }
}

/// The appc `os` and `arch` label values of the machine this was built for.
pub fn host_os_arch() -> (&'static str, &'static str) {
    appc_os_arch(
        std::env::consts::OS,
        std::env::consts::ARCH,
        cfg!(target_endian = "little"),
    )
}

/// Map Rust's `target_os`/`target_arch` names to appc's (types/labels.go in the spec's code):
/// Go's names differ from Rust's, and appc's from both (e.g. darwin calls amd64 `x86_64`).
/// Names appc does not know are passed through, so validation elsewhere can reject them.
pub fn appc_os_arch(
    os: &'static str,
    arch: &'static str,
    little_endian: bool,
) -> (&'static str, &'static str) {
    let os = match os {
        "macos" => "darwin",
        other => other,
    };
    let arch = match (os, arch) {
        ("darwin", "x86_64") => "x86_64",
        (_, "x86_64") => "amd64",
        (_, "x86") => "i386",
        (_, "aarch64") if little_endian => "aarch64",
        (_, "aarch64") => "aarch64_be",
        ("freebsd", "arm") => "arm",
        // Rust's `arm` targets that rkt ran on (Raspberry Pi 2+ class) are ARMv7.
        (_, "arm") => "armv7l",
        (_, "powerpc64") if little_endian => "ppc64le",
        (_, "powerpc64") => "ppc64",
        (_, other) => other,
    };
    (os, arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> AppReference {
        AppReference::parse(s).unwrap()
    }

    #[test]
    fn parses_name_version_and_labels() {
        let a = parse("example.com/app:1.0,os=linux,arch=amd64");
        assert_eq!(a.name().as_str(), "example.com/app");
        assert_eq!(a.version(), Some("1.0"));
        assert_eq!(a.label("os"), Some("linux"));
        assert_eq!(a.label("arch"), Some("amd64"));
        assert_eq!(a.labels().len(), 3);

        let e = parse("coreos.com/etcd:v3.1.0");
        assert_eq!(e.version(), Some("v3.1.0"));
        assert_eq!(e.labels().len(), 1);

        let plain = parse("coreos.com/etcd");
        assert_eq!(plain.version(), None);
        assert_eq!(plain.discovery_version(), "latest");

        let v = parse("a.com/b,version=2");
        assert_eq!(v.version(), Some("2"));
        // A value may hold '=' (only the first one splits).
        assert_eq!(parse("a.com/b,x=y=z").label("x"), Some("y=z"));
    }

    #[test]
    fn rejects_bad_references() {
        use DiscoveryError as E;
        let err = |s: &str| AppReference::parse(s).unwrap_err();
        assert!(matches!(err(""), E::Empty));
        assert!(matches!(err("Example.com/app"), E::Name { .. }));
        assert!(matches!(err(":1.0"), E::Name { .. }));
        assert!(matches!(err("a:1:2"), E::TooManyColons { .. }));
        assert!(matches!(err("a,os=linux:1"), E::MisplacedColon { .. }));
        assert!(matches!(err("a,os"), E::LabelWithoutValue { part, .. } if part == "os"));
        assert!(matches!(err("a,"), E::LabelWithoutValue { .. }));
        assert!(
            matches!(err("a,os=linux,os=linux"), E::DuplicateLabel { label, .. } if label == "os")
        );
        assert!(
            matches!(err("a:1,version=1"), E::DuplicateLabel { label, .. } if label == "version")
        );
        assert!(matches!(err("a,name=b"), E::ReservedLabel { .. }));
        assert!(matches!(err("a,OS=linux"), E::LabelName { label, .. } if label == "OS"));
        assert!(matches!(err("a:"), E::LabelValue { label, .. } if label == "version"));
        assert!(matches!(err("a,os="), E::LabelValue { .. }));
        assert!(matches!(err("a,os=li nux"), E::LabelValue { .. }));
    }

    #[test]
    fn display_round_trips_with_version_first() {
        for s in [
            "a.com/b",
            "a.com/b:1.0",
            "a.com/b:1.0,arch=amd64,os=linux",
            "a,x=y=z",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
        // Labels print sorted, and `version=` prints as `:`.
        let a = parse("a.com/b,os=linux,version=3,arch=arm");
        assert_eq!(a.to_string(), "a.com/b:3,arch=arm,os=linux");
        assert_eq!(parse(&a.to_string()), a);
    }

    #[test]
    fn defaults_fill_only_missing_labels() {
        let a = parse("a.com/b,os=freebsd")
            .with_defaults("linux", "amd64")
            .unwrap();
        assert_eq!(a.label("os"), Some("freebsd"));
        assert_eq!(a.label("arch"), Some("amd64"));
        assert_eq!(
            a.version(),
            None,
            "version is defaulted only when discovering"
        );
        assert!(parse("a").with_defaults("", "amd64").is_err());
        let b = parse("a")
            .with_label("os", "linux")
            .unwrap()
            .with_label("os", "darwin")
            .unwrap();
        assert_eq!(b.label("os"), Some("darwin"));
        assert!(parse("a").with_label("name", "x").is_err());
        assert!(parse("a").with_label("x", "a,b").is_err());
    }

    #[test]
    fn manifest_match_follows_the_spec() {
        let a = parse("a.com/b:1,os=linux");
        assert!(a.is_satisfied_by(
            "a.com/b",
            [("version", "1"), ("os", "linux"), ("arch", "x")]
        ));
        assert!(!a.is_satisfied_by("a.com/c", [("version", "1"), ("os", "linux")]));
        assert!(!a.is_satisfied_by("a.com/b", [("version", "2"), ("os", "linux")]));
        assert!(!a.is_satisfied_by("a.com/b", [("os", "linux")]));
        assert!(parse("a.com/b").is_satisfied_by("a.com/b", []));
    }

    #[test]
    fn maps_rust_names_to_appc() {
        assert_eq!(appc_os_arch("linux", "x86_64", true), ("linux", "amd64"));
        assert_eq!(appc_os_arch("linux", "x86", true), ("linux", "i386"));
        assert_eq!(appc_os_arch("linux", "aarch64", true), ("linux", "aarch64"));
        assert_eq!(
            appc_os_arch("linux", "aarch64", false),
            ("linux", "aarch64_be")
        );
        assert_eq!(appc_os_arch("linux", "arm", true), ("linux", "armv7l"));
        assert_eq!(
            appc_os_arch("linux", "powerpc64", true),
            ("linux", "ppc64le")
        );
        assert_eq!(
            appc_os_arch("linux", "powerpc64", false),
            ("linux", "ppc64")
        );
        assert_eq!(appc_os_arch("linux", "s390x", false), ("linux", "s390x"));
        assert_eq!(appc_os_arch("macos", "x86_64", true), ("darwin", "x86_64"));
        assert_eq!(appc_os_arch("freebsd", "arm", true), ("freebsd", "arm"));
        assert_eq!(
            appc_os_arch("freebsd", "x86_64", true),
            ("freebsd", "amd64")
        );
        let (os, arch) = host_os_arch();
        assert!(!os.is_empty() && !arch.is_empty());
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!((os, arch), ("linux", "amd64"));
        }
    }
}
