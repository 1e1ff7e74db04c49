//! The small Linux and Unix isolators: no-new-privileges, SELinux context, AppArmor profile,
//! oom-score-adj, cpu-shares and sysctl.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::{IsolatorError, as_object, bad_field, field, wrong_type};

/// `os/linux/selinux-context`: the four parts of `user:role:type:level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelinuxContext {
    pub user: String,
    pub role: String,
    pub r#type: String,
    pub level: String,
}

impl SelinuxContext {
    pub(super) fn to_json(&self) -> Value {
        serde_json::json!({
            "user": self.user, "role": self.role, "type": self.r#type, "level": self.level,
        })
    }
}

/// The label as the kernel reads it: `system_u:system_r:dhcpc_t:s0`.
impl fmt::Display for SelinuxContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.user, self.role, self.r#type, self.level
        )
    }
}

pub(super) fn parse_bool(name: &str, value: &Value) -> Result<bool, IsolatorError> {
    value
        .as_bool()
        .ok_or_else(|| wrong_type(name, value, "a bare JSON boolean (true or false)"))
}

/// A bare integer within `range`.
fn bounded_int(
    name: &str,
    value: &Value,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, IsolatorError> {
    let n = value
        .as_i64()
        .ok_or_else(|| wrong_type(name, value, "a bare whole number"))?;
    if !range.contains(&n) {
        let rule = format!("must be between {} and {}", range.start(), range.end());
        return Err(bad_field(name, "value", value, rule));
    }
    Ok(n)
}

pub(super) fn parse_oom_score_adj(name: &str, value: &Value) -> Result<i32, IsolatorError> {
    bounded_int(name, value, -1000..=1000).map(|n| n as i32)
}

pub(super) fn parse_cpu_shares(name: &str, value: &Value) -> Result<u32, IsolatorError> {
    bounded_int(name, value, 2..=262_144).map(|n| n as u32)
}

fn required_string<'a>(
    name: &str,
    obj: &'a serde_json::Map<String, Value>,
    key: &'static str,
) -> Result<&'a str, IsolatorError> {
    match field(obj, key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(other) => Err(bad_field(name, key, other, "must be a non-empty string")),
        None => Err(bad_field(name, key, &Value::Null, "is required")),
    }
}

pub(super) fn parse_selinux(name: &str, value: &Value) -> Result<SelinuxContext, IsolatorError> {
    let obj = as_object(
        name,
        value,
        "an object {\"user\", \"role\", \"type\", \"level\"}",
    )?;
    let mut parts = [""; 3];
    for (slot, key) in parts.iter_mut().zip(["user", "role", "type"]) {
        let s = required_string(name, obj, key)?;
        if s.contains(':') {
            return Err(bad_field(
                name,
                key,
                &Value::String(s.into()),
                "must not contain ':'",
            ));
        }
        *slot = s;
    }
    // The level may hold ':' itself (s0:c1,c2), so it is only required to be non-empty.
    let level = required_string(name, obj, "level")?;
    let [user, role, ty] = parts;
    Ok(SelinuxContext {
        user: user.into(),
        role: role.into(),
        r#type: ty.into(),
        level: level.into(),
    })
}

pub(super) fn parse_apparmor(name: &str, value: &Value) -> Result<String, IsolatorError> {
    let obj = as_object(name, value, "an object {\"profile\": name}")?;
    required_string(name, obj, "profile").map(str::to_string)
}

/// A sysctl key in dotted (`net.ipv4.ip_forward`) or slashed form: segments of letters, digits,
/// `_` and `-`, none empty, so a key can never walk out of /proc/sys.
fn valid_sysctl_key(key: &str) -> bool {
    key.split(['.', '/']).all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

pub(super) fn parse_sysctl(
    name: &str,
    value: &Value,
) -> Result<BTreeMap<String, String>, IsolatorError> {
    let obj = as_object(name, value, "an object of sysctl names to string values")?;
    let mut out = BTreeMap::new();
    for (key, v) in obj {
        if !valid_sysctl_key(key) {
            let rule =
                "is not a sysctl name (segments of letters, digits, _ and - joined by . or /)";
            return Err(bad_field(name, "key", &Value::String(key.clone()), rule));
        }
        let Value::String(s) = v else {
            return Err(bad_field(
                name,
                key,
                v,
                "must be a string (write \"1\", not 1)",
            ));
        };
        out.insert(key.clone(), s.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bare_values() {
        assert_eq!(parse_bool("n", &json!(true)), Ok(true));
        assert!(parse_bool("n", &json!("true")).is_err());
        assert!(parse_bool("n", &json!(null)).is_err());
        assert_eq!(parse_oom_score_adj("o", &json!(-1000)), Ok(-1000));
        assert_eq!(parse_oom_score_adj("o", &json!(1000)), Ok(1000));
        for bad in [
            json!(1001),
            json!(-1001),
            json!(1.5),
            json!("5"),
            json!(null),
        ] {
            assert!(parse_oom_score_adj("o", &bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cpu_shares("c", &json!(2)), Ok(2));
        assert_eq!(parse_cpu_shares("c", &json!(262_144)), Ok(262_144));
        for bad in [json!(1), json!(262_145), json!(-2), json!(u64::MAX)] {
            assert!(parse_cpu_shares("c", &bad).is_err(), "{bad}");
        }
        let err = parse_cpu_shares("os/linux/cpu-shares", &json!(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("between 2 and 262144"), "{err}");
    }

    #[test]
    fn selinux() {
        let v = json!({"user": "system_u", "role": "system_r", "type": "dhcpc_t", "level": "s0"});
        let c = parse_selinux("s", &v).unwrap();
        assert_eq!(c.to_string(), "system_u:system_r:dhcpc_t:s0");
        assert_eq!(c.to_json(), v);
        let mls = json!({"user": "u", "role": "r", "type": "t", "level": "s0:c1,c2"});
        assert_eq!(parse_selinux("s", &mls).unwrap().level, "s0:c1,c2");
        for bad in [
            json!({"user": "u", "role": "r", "type": "t"}),
            json!({"user": "", "role": "r", "type": "t", "level": "s0"}),
            json!({"user": "u:x", "role": "r", "type": "t", "level": "s0"}),
            json!({"user": "u", "role": "r", "type": "t:x", "level": "s0"}),
            json!({"user": "u", "role": 1, "type": "t", "level": "s0"}),
        ] {
            assert!(parse_selinux("s", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn apparmor() {
        assert_eq!(
            parse_apparmor("a", &json!({"profile": "docker-default"})).unwrap(),
            "docker-default"
        );
        assert!(parse_apparmor("a", &json!({"profile": ""})).is_err());
        assert!(parse_apparmor("a", &json!({})).is_err());
        assert!(parse_apparmor("a", &json!("docker-default")).is_err());
    }

    #[test]
    fn sysctl() {
        let v = json!({"net.ipv4.tcp_mtu_probing": "1", "net/ipv4/conf/eth0.100/forwarding": "0"});
        let m = parse_sysctl("s", &v).unwrap();
        assert_eq!(m["net.ipv4.tcp_mtu_probing"], "1");
        assert_eq!(m.len(), 2);
        assert!(parse_sysctl("s", &json!({})).unwrap().is_empty());
        for bad in [
            json!({"net.ipv4.x": 1}),
            json!({"../../etc/passwd": "1"}),
            json!({"net..x": "1"}),
            json!({"": "1"}),
            json!({"net.ipv4.x ": "1"}),
            json!(["net.x"]),
        ] {
            assert!(parse_sysctl("s", &bad).is_err(), "{bad}");
        }
    }
}
