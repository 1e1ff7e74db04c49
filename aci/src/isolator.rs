//! Isolators (ace.md "Isolators", appc.md §8–9): typed values for every standard isolator name,
//! the per-app multiplicity rules, and what the runtime derives from a list (the capability
//! bounding set, no_new_privs, the seccomp filter).
//!
//! Decisions where the spec or the Go code leaves room:
//! - An unknown isolator name parses to [`IsolatorValue::Unknown`] (the ACE may ignore it but must
//!   say so); a name that is not an AC Identifier is an error.
//! - Object keys are matched like Go's `encoding/json`: exact first, then case-insensitively;
//!   unknown keys are ignored and `null` counts as absent.
//! - Capability names are accepted in any case, with or without the `CAP_` prefix, and are stored
//!   as the kernel's upper-case `CAP_` name; names the kernel does not know are refused (appc
//!   passes them through, and rkt then failed later in systemd).
//! - Capabilities retain-set and remove-set in one app are refused (the spec prose forbids it,
//!   rkt refuses it); several retain-sets unite, several remove-sets all apply.
//! - Resource quantities may not be negative; `request` above `limit` is accepted, as in appc.

mod caps;
mod cli;
mod linux;
mod resource;
mod seccomp;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::quantity::QuantityError;
use crate::types::AcIdentifier;

pub use caps::{
    CAPABILITIES, CapabilitySet, DEFAULT_CAPABILITIES, canonical_capability,
    capability_bounding_set, capability_number,
};
pub use cli::from_cli_flag;
pub use linux::SelinuxContext;
pub use resource::{ResourceDefaultLimit, ResourceRequestLimit};
pub use seccomp::{ERRNOS, SeccompMode, SeccompSet, errno_number};

pub const RESOURCE_CPU: &str = "resource/cpu";
pub const RESOURCE_MEMORY: &str = "resource/memory";
pub const RESOURCE_NETWORK_BANDWIDTH: &str = "resource/network-bandwidth";
pub const RESOURCE_BLOCK_BANDWIDTH: &str = "resource/block-bandwidth";
pub const RESOURCE_BLOCK_IOPS: &str = "resource/block-iops";
pub const CAPABILITIES_RETAIN_SET: &str = "os/linux/capabilities-retain-set";
pub const CAPABILITIES_REMOVE_SET: &str = "os/linux/capabilities-remove-set";
pub const NO_NEW_PRIVILEGES: &str = "os/linux/no-new-privileges";
pub const SECCOMP_REMOVE_SET: &str = "os/linux/seccomp-remove-set";
pub const SECCOMP_RETAIN_SET: &str = "os/linux/seccomp-retain-set";
pub const SELINUX_CONTEXT: &str = "os/linux/selinux-context";
pub const APPARMOR_PROFILE: &str = "os/linux/apparmor-profile";
pub const OOM_SCORE_ADJ: &str = "os/linux/oom-score-adj";
pub const CPU_SHARES: &str = "os/linux/cpu-shares";
pub const SYSCTL: &str = "os/unix/sysctl";

/// An isolator that breaks a rule. Messages name the isolator (and its index in a list), the
/// field and the rule, so the one-line form is enough to fix the manifest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IsolatorError {
    #[error(
        "isolator name {name:?} is not an AC Identifier (lower-case letters and digits joined \
         by single - . _ ~ /)"
    )]
    BadName { name: String },
    #[error("isolator {name}: value {value} must be {expected}")]
    WrongType {
        name: String,
        value: String,
        expected: &'static str,
    },
    #[error("isolator {name}: {field} {value}: {rule}")]
    BadField {
        name: String,
        field: String,
        value: String,
        rule: String,
    },
    #[error("isolator {name}: {field}: {error}")]
    Quantity {
        name: String,
        field: &'static str,
        error: QuantityError,
    },
    /// An entry of a list failed; `inner` names the isolator and the rule.
    #[error("isolator list entry #{index}: {inner}")]
    AtIndex {
        index: usize,
        name: String,
        inner: Box<IsolatorError>,
    },
    #[error("isolator #{index} ({name}): only one {name} isolator is allowed, and #{first} is one")]
    Duplicate {
        index: usize,
        first: usize,
        name: String,
    },
    #[error(
        "isolator #{index} ({name}) cannot be combined with isolator #{other} ({other_name}); \
         keep only one of them"
    )]
    Conflict {
        index: usize,
        name: String,
        other: usize,
        other_name: String,
    },
    #[error("--{flag} {arg:?}: {rule}")]
    BadFlag {
        flag: String,
        arg: String,
        rule: String,
    },
    #[error("--{flag} {arg:?}: {inner}")]
    Flag {
        flag: String,
        arg: String,
        inner: Box<IsolatorError>,
    },
    #[error(
        "--{flag} is not an isolator flag (known: memory, cpu, cpu-shares, caps-retain, \
         caps-remove, seccomp, oom-score-adj)"
    )]
    UnknownFlag { flag: String },
}

/// One isolator's value, typed by its name.
#[derive(Debug, Clone, PartialEq)]
pub enum IsolatorValue {
    Cpu(ResourceRequestLimit),
    Memory(ResourceRequestLimit),
    NetworkBandwidth(ResourceDefaultLimit),
    BlockBandwidth(ResourceDefaultLimit),
    BlockIops(ResourceDefaultLimit),
    CapabilitiesRetain(CapabilitySet),
    CapabilitiesRemove(CapabilitySet),
    NoNewPrivileges(bool),
    SeccompRemove(SeccompSet),
    SeccompRetain(SeccompSet),
    SelinuxContext(SelinuxContext),
    ApparmorProfile(String),
    OomScoreAdj(i32),
    CpuShares(u32),
    Sysctl(BTreeMap<String, String>),
    /// A name this library does not know: kept verbatim so callers can report it as ignored.
    Unknown {
        name: String,
        value: Value,
    },
}

/// Parses the value of the isolator called `name`.
pub fn parse(name: &str, value: &Value) -> Result<IsolatorValue, IsolatorError> {
    if AcIdentifier::new(name).is_err() {
        return Err(IsolatorError::BadName {
            name: name.to_string(),
        });
    }
    use IsolatorValue as V;
    Ok(match name {
        RESOURCE_CPU => V::Cpu(resource::parse_request_limit(name, value)?),
        RESOURCE_MEMORY => V::Memory(resource::parse_request_limit(name, value)?),
        RESOURCE_NETWORK_BANDWIDTH => {
            V::NetworkBandwidth(resource::parse_default_limit(name, value)?)
        }
        RESOURCE_BLOCK_BANDWIDTH => V::BlockBandwidth(resource::parse_default_limit(name, value)?),
        RESOURCE_BLOCK_IOPS => V::BlockIops(resource::parse_default_limit(name, value)?),
        CAPABILITIES_RETAIN_SET => V::CapabilitiesRetain(caps::parse_set(name, value)?),
        CAPABILITIES_REMOVE_SET => V::CapabilitiesRemove(caps::parse_set(name, value)?),
        NO_NEW_PRIVILEGES => V::NoNewPrivileges(linux::parse_bool(name, value)?),
        SECCOMP_REMOVE_SET => {
            V::SeccompRemove(seccomp::parse_set(name, SeccompMode::Remove, value)?)
        }
        SECCOMP_RETAIN_SET => {
            V::SeccompRetain(seccomp::parse_set(name, SeccompMode::Retain, value)?)
        }
        SELINUX_CONTEXT => V::SelinuxContext(linux::parse_selinux(name, value)?),
        APPARMOR_PROFILE => V::ApparmorProfile(linux::parse_apparmor(name, value)?),
        OOM_SCORE_ADJ => V::OomScoreAdj(linux::parse_oom_score_adj(name, value)?),
        CPU_SHARES => V::CpuShares(linux::parse_cpu_shares(name, value)?),
        SYSCTL => V::Sysctl(linux::parse_sysctl(name, value)?),
        _ => V::Unknown {
            name: name.to_string(),
            value: value.clone(),
        },
    })
}

impl IsolatorValue {
    /// The isolator's name, as it appears in a manifest.
    pub fn name(&self) -> &str {
        use IsolatorValue as V;
        match self {
            V::Cpu(_) => RESOURCE_CPU,
            V::Memory(_) => RESOURCE_MEMORY,
            V::NetworkBandwidth(_) => RESOURCE_NETWORK_BANDWIDTH,
            V::BlockBandwidth(_) => RESOURCE_BLOCK_BANDWIDTH,
            V::BlockIops(_) => RESOURCE_BLOCK_IOPS,
            V::CapabilitiesRetain(_) => CAPABILITIES_RETAIN_SET,
            V::CapabilitiesRemove(_) => CAPABILITIES_REMOVE_SET,
            V::NoNewPrivileges(_) => NO_NEW_PRIVILEGES,
            V::SeccompRemove(_) => SECCOMP_REMOVE_SET,
            V::SeccompRetain(_) => SECCOMP_RETAIN_SET,
            V::SelinuxContext(_) => SELINUX_CONTEXT,
            V::ApparmorProfile(_) => APPARMOR_PROFILE,
            V::OomScoreAdj(_) => OOM_SCORE_ADJ,
            V::CpuShares(_) => CPU_SHARES,
            V::Sysctl(_) => SYSCTL,
            V::Unknown { name, .. } => name,
        }
    }

    /// The canonical JSON value; `parse(self.name(), &self.to_json())` gives `self` back.
    pub fn to_json(&self) -> Value {
        use IsolatorValue as V;
        match self {
            V::Cpu(r) | V::Memory(r) => r.to_json(),
            V::NetworkBandwidth(r) | V::BlockBandwidth(r) | V::BlockIops(r) => r.to_json(),
            V::CapabilitiesRetain(s) | V::CapabilitiesRemove(s) => s.to_json(),
            V::NoNewPrivileges(b) => Value::Bool(*b),
            V::SeccompRemove(s) | V::SeccompRetain(s) => s.to_json(),
            V::SelinuxContext(c) => c.to_json(),
            V::ApparmorProfile(p) => serde_json::json!({ "profile": p }),
            V::OomScoreAdj(n) => Value::from(*n),
            V::CpuShares(n) => Value::from(*n),
            V::Sysctl(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            V::Unknown { value, .. } => value.clone(),
        }
    }

    /// The `{name, value}` object as written in a manifest.
    pub fn to_isolator_json(&self) -> Value {
        serde_json::json!({ "name": self.name(), "value": self.to_json() })
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, IsolatorValue::Unknown { .. })
    }

    /// The group of isolators of which an app may hold only one, if this is such an isolator.
    fn single_group(&self) -> Option<&'static str> {
        use IsolatorValue as V;
        match self {
            V::SeccompRemove(_) | V::SeccompRetain(_) => Some("seccomp"),
            V::CpuShares(_) => Some(CPU_SHARES),
            V::OomScoreAdj(_) => Some(OOM_SCORE_ADJ),
            V::SelinuxContext(_) => Some(SELINUX_CONTEXT),
            V::ApparmorProfile(_) => Some(APPARMOR_PROFILE),
            V::Sysctl(_) => Some(SYSCTL),
            V::CapabilitiesRetain(_) | V::CapabilitiesRemove(_) => Some("capabilities"),
            _ => None,
        }
    }
}

/// A list that passed [`check_list`]: every isolator typed, in the input order (unknown ones
/// included as [`IsolatorValue::Unknown`]), and the names of the unknown ones for the report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checked {
    pub isolators: Vec<IsolatorValue>,
    pub unknown: Vec<String>,
}

/// Parses a list of `(name, value)` pairs and enforces the multiplicity rules: at most one each
/// of seccomp-*, cpu-shares, oom-score-adj, selinux-context, apparmor-profile and sysctl; the two
/// seccomp sets conflict, and so do the two capability sets (several sets of one kind are fine).
pub fn check_list<'a>(
    list: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> Result<Checked, IsolatorError> {
    let mut checked = Checked::default();
    let mut first_of_group: HashMap<&'static str, usize> = HashMap::new();
    for (index, (name, value)) in list.into_iter().enumerate() {
        let isolator = parse(name, value).map_err(|e| IsolatorError::AtIndex {
            index,
            name: name.to_string(),
            inner: Box::new(e),
        })?;
        if let Some(group) = isolator.single_group() {
            if let Some(&first) = first_of_group.get(group) {
                let earlier: &IsolatorValue = &checked.isolators[first];
                let same = earlier.name() == isolator.name();
                if !same {
                    return Err(IsolatorError::Conflict {
                        index,
                        name: name.to_string(),
                        other: first,
                        other_name: earlier.name().to_string(),
                    });
                }
                if group != "capabilities" {
                    return Err(IsolatorError::Duplicate {
                        index,
                        first,
                        name: name.to_string(),
                    });
                }
            } else {
                first_of_group.insert(group, index);
            }
        }
        if isolator.is_unknown() {
            checked.unknown.push(name.to_string());
        }
        checked.isolators.push(isolator);
    }
    Ok(checked)
}

/// Whether the app must run with `PR_SET_NO_NEW_PRIVS`: any `no-new-privileges: true` wins, since
/// turning it on is the safe reading of contradictory isolators.
pub fn no_new_privileges(isolators: &[IsolatorValue]) -> bool {
    isolators
        .iter()
        .any(|i| matches!(i, IsolatorValue::NoNewPrivileges(true)))
}

/// The app's seccomp isolator, if any (a checked list holds at most one).
pub fn seccomp_filter(isolators: &[IsolatorValue]) -> Option<(SeccompMode, &SeccompSet)> {
    isolators.iter().find_map(|i| match i {
        IsolatorValue::SeccompRetain(s) => Some((SeccompMode::Retain, s)),
        IsolatorValue::SeccompRemove(s) => Some((SeccompMode::Remove, s)),
        _ => None,
    })
}

// ---- JSON helpers shared by the submodules ----

/// A JSON value shortened for an error message: hostile manifests may carry megabytes.
fn show(value: &Value) -> String {
    let mut s = value.to_string();
    if s.len() > 80 {
        let cut = (0..=77).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn wrong_type(name: &str, value: &Value, expected: &'static str) -> IsolatorError {
    IsolatorError::WrongType {
        name: name.to_string(),
        value: show(value),
        expected,
    }
}

fn bad_field(name: &str, field: &str, value: &Value, rule: impl Into<String>) -> IsolatorError {
    IsolatorError::BadField {
        name: name.to_string(),
        field: field.to_string(),
        value: show(value),
        rule: rule.into(),
    }
}

fn as_object<'a>(
    name: &str,
    value: &'a Value,
    expected: &'static str,
) -> Result<&'a Map<String, Value>, IsolatorError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(name, value, expected))
}

/// A field looked up the way Go's `encoding/json` does: the exact key, else any key equal to it
/// ignoring ASCII case. `null` reads as absent.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let found = obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    });
    found.filter(|v| !v.is_null())
}

/// A list field of strings, which must be present and non-empty.
fn string_list<'a>(
    name: &str,
    obj: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Vec<&'a str>, IsolatorError> {
    let Some(raw) = field(obj, key) else {
        return Err(bad_field(
            name,
            key,
            &Value::Null,
            "is required and must be a non-empty list",
        ));
    };
    let items = raw
        .as_array()
        .ok_or_else(|| bad_field(name, key, raw, "must be a list of strings"))?;
    if items.is_empty() {
        return Err(bad_field(name, key, raw, "must not be empty"));
    }
    items
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or_else(|| bad_field(name, key, item, "entries must be strings"))
        })
        .collect()
}
