//! Value types the manifests share (spec/types.md): labels, annotations, isolators (kept raw),
//! UUIDs, timestamps, the spec version and kind.

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ManifestError, index, join};
use crate::types::AcIdentifier;

/// One `{name, value}` label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub name: AcIdentifier,
    pub value: String,
}

/// Operating systems the spec knows and the architectures valid for each (Go `ValidOSArch`).
pub const VALID_OS_ARCH: &[(&str, &[&str])] = &[
    (
        "linux",
        &[
            "amd64",
            "i386",
            "aarch64",
            "aarch64_be",
            "armv6l",
            "armv7l",
            "armv7b",
            "ppc64",
            "ppc64le",
            "s390x",
        ],
    ),
    ("freebsd", &["amd64", "i386", "arm"]),
    ("darwin", &["x86_64", "i386"]),
];

/// An ordered label list. Decoding does not check it; [`Labels::new`] and manifest validation do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Build a checked list (names unique, no `name` label, a known `os` with a valid `arch`).
    pub fn new(labels: Vec<Label>) -> Result<Self, ManifestError> {
        let l = Labels(labels);
        l.validate("labels")?;
        Ok(l)
    }

    /// The value of the label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|l| l.name.as_str() == name)
            .map(|l| l.value.as_str())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub(crate) fn validate(&self, path: &str) -> Result<(), ManifestError> {
        for (i, l) in self.0.iter().enumerate() {
            let p = join(&index(path, i), "name");
            if l.name.as_str() == "name" {
                return Err(ManifestError::invalid(
                    p,
                    "name",
                    "\"name\" is reserved and cannot be a label name",
                ));
            }
            if self.0[..i].iter().any(|o| o.name == l.name) {
                return Err(ManifestError::invalid(
                    p,
                    l.name.as_str(),
                    "label names must be unique",
                ));
            }
        }
        let Some(os) = self.get("os") else {
            return Ok(());
        };
        let os_path = self.path_of(path, "os");
        let Some((_, archs)) = VALID_OS_ARCH.iter().find(|(o, _)| *o == os) else {
            return Err(ManifestError::invalid(
                os_path,
                os,
                "os must be one of linux, freebsd, darwin",
            ));
        };
        match self.get("arch") {
            Some(arch) if !archs.contains(&arch) => Err(ManifestError::invalid(
                self.path_of(path, "arch"),
                arch,
                format!(
                    "arch is not valid for os {os}; use one of {}",
                    archs.join(", ")
                ),
            )),
            _ => Ok(()),
        }
    }

    fn path_of(&self, path: &str, name: &str) -> String {
        let i = self
            .0
            .iter()
            .position(|l| l.name.as_str() == name)
            .unwrap_or(0);
        join(&index(path, i), "value")
    }
}

impl From<Labels> for Vec<Label> {
    fn from(l: Labels) -> Self {
        l.0
    }
}

/// One `{name, value}` annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotation {
    pub name: AcIdentifier,
    pub value: String,
}

/// An ordered annotation list (names unique; `created`, `homepage`, `documentation` checked).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Annotations(Vec<Annotation>);

impl Annotations {
    pub fn new(list: Vec<Annotation>) -> Result<Self, ManifestError> {
        let a = Annotations(list);
        a.validate("annotations")?;
        Ok(a)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|a| a.name.as_str() == name)
            .map(|a| a.value.as_str())
    }

    /// Set `name` to `value`: replaced in place if present, appended otherwise. This is the merge
    /// the metadata service needs (image annotations overridden by the pod app's, order kept).
    pub fn set(&mut self, name: AcIdentifier, value: String) {
        match self.0.iter_mut().find(|a| a.name == name) {
            Some(a) => a.value = value,
            None => self.0.push(Annotation { name, value }),
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Annotation> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn as_slice(&self) -> &[Annotation] {
        &self.0
    }

    pub(crate) fn validate(&self, path: &str) -> Result<(), ManifestError> {
        for (i, a) in self.0.iter().enumerate() {
            let at = index(path, i);
            if self.0[..i].iter().any(|o| o.name == a.name) {
                return Err(ManifestError::invalid(
                    join(&at, "name"),
                    a.name.as_str(),
                    "annotation names must be unique",
                ));
            }
            let vp = join(&at, "value");
            match a.name.as_str() {
                "created" if a.value.parse::<Timestamp>().is_err() => {
                    let rule = "created must be an RFC 3339 date-time with a 'T'";
                    return Err(ManifestError::invalid(vp, &a.value, rule));
                }
                "homepage" | "documentation" if !is_http_url(&a.value) => {
                    return Err(ManifestError::invalid(
                        vp,
                        &a.value,
                        "must be an http or https URL",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl From<Annotations> for Vec<Annotation> {
    fn from(a: Annotations) -> Self {
        a.0
    }
}

/// `http://host...` or `https://host...` (scheme case-insensitive), without blanks or controls.
fn is_http_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        && host_end > 0
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An isolator as written: its name checked, its value kept as raw JSON for the typed isolator
/// module to interpret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Isolator {
    pub name: AcIdentifier,
    pub value: serde_json::Value,
}

/// Check a list of isolators at `field_path`: every entry has a value, every known isolator's
/// value follows its schema, and the one-per-name and conflict rules hold (`isolator::check_list`).
/// Unknown isolators pass: the runtime reports them as ignored (appc lets executors ignore them).
pub fn validate_isolators(list: &[Isolator], field_path: &str) -> Result<(), ManifestError> {
    for (i, iso) in list.iter().enumerate() {
        if iso.value.is_null() {
            return Err(ManifestError::invalid(
                join(&index(field_path, i), "value"),
                "null",
                format!("isolator {} needs a value", iso.name),
            ));
        }
    }
    let pairs = list.iter().map(|iso| (iso.name.as_str(), &iso.value));
    match crate::isolator::check_list(pairs) {
        Ok(_) => Ok(()),
        Err(crate::isolator::IsolatorError::AtIndex {
            index: i,
            name,
            inner,
        }) => Err(ManifestError::invalid(
            index(field_path, i),
            name,
            inner.to_string(),
        )),
        Err(e) => Err(ManifestError::invalid(
            field_path.to_string(),
            "isolators",
            e.to_string(),
        )),
    }
}

/// An RFC 4122 UUID (pod UUIDs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid([u8; 16]);

impl Uuid {
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Uuid(b)
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A random (version 4, variant 1) UUID from the kernel's random source.
    pub fn new_v4() -> Result<Self, ManifestError> {
        const SRC: &str = "/dev/urandom";
        let mut b = [0u8; 16];
        std::fs::File::open(SRC)
            .and_then(|mut f| f.read_exact(&mut b))
            .map_err(|source| ManifestError::Random { path: SRC, source })?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Ok(Uuid(b))
    }
}

impl FromStr for Uuid {
    type Err = ManifestError;
    /// Like the Go parser: drop every `-`, then require exactly 32 hex digits (any case).
    fn from_str(s: &str) -> Result<Self, ManifestError> {
        let digits: String = s.chars().filter(|&c| c != '-').collect();
        let bad = || {
            ManifestError::invalid(
                "uuid",
                s,
                "a UUID is 32 hex digits, optionally grouped 8-4-4-4-12 by '-'",
            )
        };
        if digits.len() != 32 {
            return Err(bad());
        }
        let mut b = [0u8; 16];
        hex::decode_to_slice(&digits, &mut b).map_err(|_| bad())?;
        Ok(Uuid(b))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// An RFC 3339 timestamp with a literal upper-case `T` between date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub chrono::DateTime<chrono::FixedOffset>);

impl FromStr for Timestamp {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, ManifestError> {
        let bad = || {
            ManifestError::invalid(
                "timestamp",
                s,
                "must be RFC 3339 with a 'T', e.g. 2015-05-18T13:49:28Z",
            )
        };
        if s.as_bytes().get(10) != Some(&b'T') {
            return Err(bad());
        }
        chrono::DateTime::parse_from_rfc3339(s)
            .map(Timestamp)
            .map_err(|_| bad())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

/// The spec version a manifest follows: SemVer 2.0.0 and not 0.0.0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AcVersion(pub semver::Version);

impl AcVersion {
    /// The version this crate implements and writes: 0.8.11.
    pub fn current() -> Self {
        AcVersion(semver::Version::new(0, 8, 11))
    }
}

impl FromStr for AcVersion {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, ManifestError> {
        match semver::Version::parse(s) {
            Ok(v) if v != semver::Version::new(0, 0, 0) => Ok(AcVersion(v)),
            Ok(_) => Err(ManifestError::invalid(
                "acVersion",
                s,
                "version 0.0.0 is not allowed",
            )),
            Err(e) => Err(ManifestError::invalid(
                "acVersion",
                s,
                format!("must be a SemVer version like 0.8.11 ({e})"),
            )),
        }
    }
}

impl fmt::Display for AcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which manifest a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AcKind {
    ImageManifest,
    PodManifest,
}

/// String-typed serde for the values above: `Display` out, `FromStr` in.
macro_rules! serde_via_str {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(|e: ManifestError| match e {
                    ManifestError::Invalid { rule, .. } => serde::de::Error::custom(format!("invalid value {s:?}: {rule}")),
                    other => serde::de::Error::custom(other),
                })
            }
        }
    )*};
}
serde_via_str!(Uuid, Timestamp, AcVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn label(n: &str, v: &str) -> Label {
        Label {
            name: AcIdentifier::new(n).unwrap(),
            value: v.to_string(),
        }
    }

    #[test]
    fn labels_get_and_uniqueness() {
        let l = Labels::new(vec![
            label("version", "1.0"),
            label("os", "linux"),
            label("arch", "aarch64"),
        ])
        .unwrap();
        assert_eq!(l.get("version"), Some("1.0"));
        assert_eq!(l.get("env"), None);
        let e = Labels::new(vec![label("a", "1"), label("a", "2")]).unwrap_err();
        assert_eq!(e.path(), "labels[1].name");
        let e = Labels::new(vec![label("name", "x")]).unwrap_err();
        assert_eq!(e.path(), "labels[0].name");
    }

    #[test]
    fn labels_os_arch_table() {
        for (os, arch) in [
            ("linux", "s390x"),
            ("linux", "ppc64le"),
            ("freebsd", "arm"),
            ("darwin", "x86_64"),
        ] {
            assert!(
                Labels::new(vec![label("os", os), label("arch", arch)]).is_ok(),
                "{os}/{arch}"
            );
        }
        // arch alone is not checked (it only means something with os); os alone is fine.
        assert!(Labels::new(vec![label("arch", "anything")]).is_ok());
        assert!(Labels::new(vec![label("os", "darwin")]).is_ok());
        let e = Labels::new(vec![label("os", "linux"), label("arch", "x86_64")]).unwrap_err();
        assert_eq!(e.path(), "labels[1].value");
        let e = Labels::new(vec![label("arch", "amd64"), label("os", "plan9")]).unwrap_err();
        assert_eq!(e.path(), "labels[1].value");
        assert!(Labels::new(vec![label("os", "freebsd"), label("arch", "arm64")]).is_err());
    }

    fn ann(n: &str, v: &str) -> Annotation {
        Annotation {
            name: AcIdentifier::new(n).unwrap(),
            value: v.to_string(),
        }
    }

    #[test]
    fn annotations_rules() {
        let ok = Annotations::new(vec![
            ann("created", "2014-10-27T19:32:27.67021798Z"),
            ann("homepage", "HTTPS://example.com"),
            ann("documentation", "http://example.com/docs?x=1"),
            ann("authors", "anything at all"),
        ])
        .unwrap();
        assert_eq!(ok.get("authors"), Some("anything at all"));
        for (n, v) in [
            ("created", "yesterday"),
            ("created", "2014-10-27"),
            ("created", "2014-10-27 19:32:27Z"),
            ("homepage", "ftp://example.com"),
            ("homepage", "example.com"),
            ("documentation", "https://"),
            ("documentation", "https://a b"),
        ] {
            let e = Annotations::new(vec![ann("x", "1"), ann(n, v)]).unwrap_err();
            assert_eq!(e.path(), "annotations[1].value", "{n}={v}");
        }
        let e = Annotations::new(vec![ann("a", "1"), ann("a", "1")]).unwrap_err();
        assert_eq!(e.path(), "annotations[1].name");
    }

    #[test]
    fn annotations_set_replaces_in_place_and_appends() {
        let mut a = Annotations::new(vec![ann("a", "1"), ann("b", "2")]).unwrap();
        a.set(AcIdentifier::new("a").unwrap(), "9".into());
        a.set(AcIdentifier::new("c").unwrap(), "3".into());
        let names: Vec<_> = a
            .iter()
            .map(|x| (x.name.as_str(), x.value.as_str()))
            .collect();
        assert_eq!(names, [("a", "9"), ("b", "2"), ("c", "3")]);
    }

    #[test]
    fn isolator_needs_value() {
        let iso = |v| Isolator {
            name: AcIdentifier::new("resource/cpu").unwrap(),
            value: v,
        };
        assert!(
            validate_isolators(&[iso(serde_json::json!({"limit": "1"}))], "app.isolators").is_ok()
        );
        let e = validate_isolators(
            &[iso(serde_json::json!(1)), iso(serde_json::Value::Null)],
            "app.isolators",
        );
        assert_eq!(e.unwrap_err().path(), "app.isolators[1].value");
    }

    #[test]
    fn isolators_are_checked_by_type_and_multiplicity() {
        let iso = |n: &str, v| Isolator {
            name: AcIdentifier::new(n).unwrap(),
            value: v,
        };
        let shares = iso("os/linux/cpu-shares", serde_json::json!(1));
        let e = validate_isolators(&[shares], "app.isolators").unwrap_err();
        assert_eq!(e.path(), "app.isolators[0]");
        let oom = iso("os/linux/oom-score-adj", serde_json::json!(5));
        let e = validate_isolators(&[oom.clone(), oom], "app.isolators").unwrap_err();
        assert!(e.path().starts_with("app.isolators"), "{e}");
        let unknown = iso("example.com/custom", serde_json::json!({"x": 1}));
        assert!(validate_isolators(&[unknown], "app.isolators").is_ok());
    }

    #[test]
    fn uuid_parse_and_format() {
        let u: Uuid = "6733C088-A507-4694-AABF-EDBDF4FDA945".parse().unwrap();
        assert_eq!(u.to_string(), "6733c088-a507-4694-aabf-edbdf4fda945");
        let v: Uuid = "6733c088a5074694aabfedbdf4fda945".parse().unwrap();
        assert_eq!(u, v);
        // The Go parser only strips dashes, wherever they are.
        assert_eq!(
            "6733c088a5074694-aabfedbdf4fda945-"
                .parse::<Uuid>()
                .unwrap(),
            u
        );
        for bad in [
            "",
            "6733c088",
            "6733c088-a507-4694-aabf-edbdf4fda94g",
            "6733c088-a507-4694-aabf-edbdf4fda9450",
        ] {
            assert!(bad.parse::<Uuid>().is_err(), "{bad}");
        }
        let r = Uuid::new_v4().unwrap();
        assert_ne!(r, Uuid::new_v4().unwrap());
        let s = r.to_string();
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(s.parse::<Uuid>().unwrap(), r);
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            "\"6733c088-a507-4694-aabf-edbdf4fda945\""
        );
    }

    #[test]
    fn timestamp_rules() {
        let t: Timestamp = "2015-05-18T13:49:28.351729952-04:00".parse().unwrap();
        assert_eq!(t.to_string(), "2015-05-18T13:49:28.351729952-04:00");
        let z: Timestamp = "2015-05-18T17:49:28Z".parse().unwrap();
        assert_eq!(z.to_string(), "2015-05-18T17:49:28Z");
        for bad in [
            "2015-05-18 13:49:28Z",
            "2015-05-18t13:49:28Z",
            "2015-05-18T13:49:28",
            "now",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ac_version_rules() {
        assert_eq!(AcVersion::current().to_string(), "0.8.11");
        assert!("0.3.0".parse::<AcVersion>().is_ok());
        assert!("1.0.0-alpha+build".parse::<AcVersion>().is_ok());
        for bad in ["0.0.0", "", "0.8", "v0.8.11", "latest"] {
            assert!(bad.parse::<AcVersion>().is_err(), "{bad}");
        }
        let e = serde_json::from_str::<AcVersion>("\"0.0.0\"").unwrap_err();
        assert!(e.to_string().contains("0.0.0"));
    }

    #[test]
    fn ac_kind_names() {
        assert_eq!(
            serde_json::to_string(&AcKind::PodManifest).unwrap(),
            "\"PodManifest\""
        );
        assert!(serde_json::from_str::<AcKind>("\"Foo\"").is_err());
    }
}
