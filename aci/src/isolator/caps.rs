//! Linux capabilities: the kernel's name table, appc's default bounding set, the two capability
//! isolators and the bounding set they produce.

use serde_json::Value;

use super::{IsolatorError, IsolatorValue, as_object, bad_field, string_list};

/// Every capability the kernel defines (linux/capability.h), by number, up to
/// CAP_CHECKPOINT_RESTORE (Linux 5.9).
pub const CAPABILITIES: [(&str, u32); 41] = [
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_LINUX_IMMUTABLE", 9),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_BROADCAST", 11),
    ("CAP_NET_ADMIN", 12),
    ("CAP_NET_RAW", 13),
    ("CAP_IPC_LOCK", 14),
    ("CAP_IPC_OWNER", 15),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_SYS_PTRACE", 19),
    ("CAP_SYS_PACCT", 20),
    ("CAP_SYS_ADMIN", 21),
    ("CAP_SYS_BOOT", 22),
    ("CAP_SYS_NICE", 23),
    ("CAP_SYS_RESOURCE", 24),
    ("CAP_SYS_TIME", 25),
    ("CAP_SYS_TTY_CONFIG", 26),
    ("CAP_MKNOD", 27),
    ("CAP_LEASE", 28),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_AUDIT_CONTROL", 30),
    ("CAP_SETFCAP", 31),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
    ("CAP_AUDIT_READ", 37),
    ("CAP_PERFMON", 38),
    ("CAP_BPF", 39),
    ("CAP_CHECKPOINT_RESTORE", 40),
];

/// The bounding set of an app without capability isolators, and the base a remove-set
/// subtracts from (ace.md, os/linux/capabilities-remove-set).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETFCAP",
    "CAP_SYS_CHROOT",
];

/// The kernel's spelling of a capability name given in any case, with or without `CAP_`:
/// `net_admin`, `CAP_net_admin` and `CAP_NET_ADMIN` all give `Some("CAP_NET_ADMIN")`.
pub fn canonical_capability(name: &str) -> Option<&'static str> {
    let bare = match name.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("CAP_") => &name[4..],
        _ => name,
    };
    CAPABILITIES
        .iter()
        .map(|(full, _)| *full)
        .find(|full| full[4..].eq_ignore_ascii_case(bare))
}

/// The kernel number of a capability (any spelling [`canonical_capability`] accepts).
pub fn capability_number(name: &str) -> Option<u32> {
    let canonical = canonical_capability(name)?;
    CAPABILITIES
        .iter()
        .find(|(full, _)| *full == canonical)
        .map(|(_, n)| *n)
}

/// The `set` of a capabilities isolator: non-empty, canonical names, no repeats, input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilitySet(Vec<&'static str>);

impl CapabilitySet {
    /// Builds a set for the isolator `isolator` (used in error messages) from names in any
    /// spelling [`canonical_capability`] accepts.
    pub fn from_names<'a>(
        isolator: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<CapabilitySet, IsolatorError> {
        let mut set: Vec<&'static str> = Vec::new();
        for name in names {
            let canonical = canonical_capability(name).ok_or_else(|| {
                bad_field(
                    isolator,
                    "set",
                    &Value::String(name.to_string()),
                    "is not a Linux capability name (CAP_CHOWN … CAP_CHECKPOINT_RESTORE)",
                )
            })?;
            if !set.contains(&canonical) {
                set.push(canonical);
            }
        }
        if set.is_empty() {
            return Err(bad_field(
                isolator,
                "set",
                &Value::Array(vec![]),
                "must not be empty",
            ));
        }
        Ok(CapabilitySet(set))
    }

    /// The canonical names, in the order first given.
    pub fn names(&self) -> &[&'static str] {
        &self.0
    }

    pub(super) fn to_json(&self) -> Value {
        serde_json::json!({ "set": self.0 })
    }
}

pub(super) fn parse_set(name: &str, value: &Value) -> Result<CapabilitySet, IsolatorError> {
    let obj = as_object(name, value, "an object {\"set\": [capability names]}")?;
    CapabilitySet::from_names(name, string_list(name, obj, "set")?)
}

/// The bounding set an app gets from its isolators, in kernel number order: the union of its
/// retain-sets if it has any, otherwise [`DEFAULT_CAPABILITIES`]; minus every remove-set entry
/// (removing a capability that is not there changes nothing).
pub fn capability_bounding_set(isolators: &[IsolatorValue]) -> Vec<&'static str> {
    let mut retained: Vec<&'static str> = Vec::new();
    let mut removed: Vec<&'static str> = Vec::new();
    let mut any_retain = false;
    for isolator in isolators {
        match isolator {
            IsolatorValue::CapabilitiesRetain(set) => {
                any_retain = true;
                retained.extend(set.names());
            }
            IsolatorValue::CapabilitiesRemove(set) => removed.extend(set.names()),
            _ => {}
        }
    }
    let base: &[&'static str] = if any_retain {
        &retained
    } else {
        &DEFAULT_CAPABILITIES
    };
    CAPABILITIES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| base.contains(name) && !removed.contains(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_matches_kernel_numbers() {
        assert_eq!(capability_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(capability_number("CAP_CHOWN"), Some(0));
        assert_eq!(capability_number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(capability_number("CAP_NONSENSE"), None);
        for (i, (_, n)) in CAPABILITIES.iter().enumerate() {
            assert_eq!(*n as usize, i, "table is dense and ordered");
        }
        for name in DEFAULT_CAPABILITIES {
            assert!(capability_number(name).is_some(), "{name}");
        }
    }

    #[test]
    fn names_in_any_spelling() {
        assert_eq!(canonical_capability("net_admin"), Some("CAP_NET_ADMIN"));
        assert_eq!(canonical_capability("cap_net_admin"), Some("CAP_NET_ADMIN"));
        assert_eq!(canonical_capability("NET_ADMIN"), Some("CAP_NET_ADMIN"));
        assert_eq!(capability_number("sys_admin"), Some(21));
        assert_eq!(canonical_capability("CAP_"), None);
        assert_eq!(canonical_capability(""), None);
        assert_eq!(canonical_capability("CAP_CAP_KILL"), None);
        assert_eq!(canonical_capability("é"), None);
    }

    #[test]
    fn set_parsing() {
        let set = parse_set("x", &json!({"set": ["CAP_KILL", "kill", "cap_mknod"]})).unwrap();
        assert_eq!(set.names(), ["CAP_KILL", "CAP_MKNOD"]);
        let set = parse_set("x", &json!({"SET": ["CAP_KILL"]})).unwrap();
        assert_eq!(set.names(), ["CAP_KILL"]);
        for bad in [
            json!({"set": []}),
            json!({}),
            json!({"set": null}),
            json!({"set": "CAP_KILL"}),
            json!({"set": [1]}),
            json!({"set": ["CAP_FLY"]}),
            json!(["CAP_KILL"]),
        ] {
            assert!(parse_set("x", &bad).is_err(), "{bad}");
        }
        let err = parse_set("x", &json!({"set": ["CAP_FLY"]}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CAP_FLY") && err.contains("capability"),
            "{err}"
        );
    }

    fn retain(names: &[&str]) -> IsolatorValue {
        IsolatorValue::CapabilitiesRetain(
            CapabilitySet::from_names("r", names.iter().copied()).unwrap(),
        )
    }
    fn remove(names: &[&str]) -> IsolatorValue {
        IsolatorValue::CapabilitiesRemove(
            CapabilitySet::from_names("r", names.iter().copied()).unwrap(),
        )
    }

    #[test]
    fn bounding_set_rules() {
        let default = capability_bounding_set(&[]);
        assert_eq!(default.len(), 14);
        assert!(DEFAULT_CAPABILITIES.iter().all(|c| default.contains(c)));

        // The spec's remove example: 14 minus 2.
        let removed = capability_bounding_set(&[remove(&["CAP_SYS_CHROOT", "CAP_MKNOD"])]);
        assert_eq!(removed.len(), 12);
        assert!(!removed.contains(&"CAP_MKNOD") && !removed.contains(&"CAP_SYS_CHROOT"));

        // Removing a capability outside the default set is a no-op.
        assert_eq!(
            capability_bounding_set(&[remove(&["CAP_SYS_ADMIN"])]),
            default
        );

        // The spec's retain example: exactly those two, in kernel order.
        let kept = capability_bounding_set(&[retain(&["CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"])]);
        assert_eq!(kept, ["CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"]);

        // Several retain-sets unite; unrelated isolators are ignored.
        let united = capability_bounding_set(&[
            retain(&["CAP_KILL"]),
            IsolatorValue::NoNewPrivileges(true),
            retain(&["CAP_SYS_ADMIN"]),
        ]);
        assert_eq!(united, ["CAP_KILL", "CAP_SYS_ADMIN"]);
    }
}
