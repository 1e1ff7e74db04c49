//! Tests of the isolator list as a whole: dispatch by name, multiplicity rules, round trips.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::quantity::{Quantity, QuantityFormat};

fn check(list: &[(&str, Value)]) -> Result<Checked, IsolatorError> {
    check_list(list.iter().map(|(n, v)| (*n, v)))
}

#[test]
fn every_standard_name_parses_its_spec_example() {
    let examples = [
        (RESOURCE_CPU, json!({"request": "250m", "limit": "500m"})),
        (RESOURCE_MEMORY, json!({"request": "1G", "limit": "2G"})),
        (
            RESOURCE_NETWORK_BANDWIDTH,
            json!({"default": true, "limit": "1G"}),
        ),
        (
            RESOURCE_BLOCK_BANDWIDTH,
            json!({"default": true, "limit": "2M"}),
        ),
        (
            RESOURCE_BLOCK_IOPS,
            json!({"default": true, "limit": "1000"}),
        ),
        (
            CAPABILITIES_RETAIN_SET,
            json!({"set": ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]}),
        ),
        (
            CAPABILITIES_REMOVE_SET,
            json!({"set": ["CAP_SYS_CHROOT", "CAP_MKNOD"]}),
        ),
        (NO_NEW_PRIVILEGES, json!(true)),
        (
            SECCOMP_REMOVE_SET,
            json!({"errno": "ENOTSUP", "set": ["clock_adjtime", "reboot"]}),
        ),
        (
            SECCOMP_RETAIN_SET,
            json!({"errno": "", "set": ["accept", "bind", "read"]}),
        ),
        (
            SELINUX_CONTEXT,
            json!({"user": "system_u", "role": "system_r", "type": "dhcpc_t", "level": "s0"}),
        ),
        (APPARMOR_PROFILE, json!({"profile": "docker-default"})),
        (OOM_SCORE_ADJ, json!(100)),
        (CPU_SHARES, json!(1024)),
        (SYSCTL, json!({"net.ipv4.tcp_keepalive_time": "300"})),
    ];
    for (name, value) in &examples {
        let parsed = parse(name, value).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.name(), *name);
        assert!(!parsed.is_unknown(), "{name}");
        assert_eq!(parse(name, &parsed.to_json()).unwrap(), parsed, "{name}");
    }
    let IsolatorValue::Cpu(cpu) = parse(RESOURCE_CPU, &examples[0].1).unwrap() else {
        panic!()
    };
    assert_eq!(cpu.limit.unwrap().milli_value(), 500, "500m is half a core");
}

#[test]
fn unknown_and_invalid_names() {
    let v = parse("example.com/fancy", &json!({"x": 1})).unwrap();
    assert_eq!(
        v,
        IsolatorValue::Unknown {
            name: "example.com/fancy".into(),
            value: json!({"x": 1})
        }
    );
    assert_eq!(v.name(), "example.com/fancy");
    assert_eq!(v.to_json(), json!({"x": 1}));
    assert_eq!(
        v.to_isolator_json(),
        json!({"name": "example.com/fancy", "value": {"x": 1}})
    );
    for bad in ["", "Resource/cpu", "resource//cpu", "resource/cpu/", "a b"] {
        assert!(
            matches!(parse(bad, &json!(1)), Err(IsolatorError::BadName { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn wrong_shapes_name_the_isolator() {
    let err = parse(RESOURCE_MEMORY, &json!("1G")).unwrap_err();
    assert!(matches!(err, IsolatorError::WrongType { .. }));
    assert!(err.to_string().contains(RESOURCE_MEMORY), "{err}");
    let err = parse(NO_NEW_PRIVILEGES, &json!({"value": true})).unwrap_err();
    assert!(err.to_string().contains("boolean"), "{err}");
    // A huge value is shortened in the message.
    let big = Value::String("x".repeat(10_000));
    let err = parse(OOM_SCORE_ADJ, &big).unwrap_err().to_string();
    assert!(err.len() < 300, "{}", err.len());
}

#[test]
fn list_reports_unknown_and_keeps_order() {
    let c = check(&[
        (RESOURCE_MEMORY, json!({"limit": "1G"})),
        ("example.com/x", json!(null)),
        (RESOURCE_MEMORY, json!({"limit": "2G"})),
        (NO_NEW_PRIVILEGES, json!(true)),
        (NO_NEW_PRIVILEGES, json!(false)),
    ])
    .unwrap();
    assert_eq!(c.unknown, ["example.com/x"]);
    assert_eq!(c.isolators.len(), 5);
    assert!(c.isolators[1].is_unknown());
    assert!(no_new_privileges(&c.isolators));
    assert!(!no_new_privileges(&c.isolators[..1]));
}

#[test]
fn list_errors_carry_the_index() {
    let err = check(&[
        (CPU_SHARES, json!(1024)),
        (RESOURCE_CPU, json!({"default": true})),
    ])
    .unwrap_err();
    let IsolatorError::AtIndex { index, name, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*index, name.as_str()), (1, RESOURCE_CPU));
    assert!(
        err.to_string()
            == "isolator list entry #1: isolator resource/cpu: default true: must be false or absent",
        "{err}"
    );
}

#[test]
fn only_one_of_each_single_isolator() {
    let singles = [
        (SECCOMP_REMOVE_SET, json!({"set": ["reboot"]})),
        (SECCOMP_RETAIN_SET, json!({"set": ["read"]})),
        (CPU_SHARES, json!(2)),
        (OOM_SCORE_ADJ, json!(0)),
        (
            SELINUX_CONTEXT,
            json!({"user": "u", "role": "r", "type": "t", "level": "s0"}),
        ),
        (APPARMOR_PROFILE, json!({"profile": "p"})),
        (SYSCTL, json!({})),
    ];
    for (name, value) in &singles {
        let err = check(&[
            (name, value.clone()),
            (RESOURCE_CPU, json!({})),
            (name, value.clone()),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            IsolatorError::Duplicate {
                index: 2,
                first: 0,
                name: name.to_string()
            }
        );
    }
}

#[test]
fn retain_and_remove_conflict() {
    let err = check(&[
        (SECCOMP_RETAIN_SET, json!({"set": ["read"]})),
        (SECCOMP_REMOVE_SET, json!({"set": ["reboot"]})),
    ])
    .unwrap_err();
    assert!(
        matches!(
            err,
            IsolatorError::Conflict {
                index: 1,
                other: 0,
                ..
            }
        ),
        "{err}"
    );
    let err = check(&[
        (CAPABILITIES_REMOVE_SET, json!({"set": ["CAP_KILL"]})),
        (CAPABILITIES_REMOVE_SET, json!({"set": ["CAP_MKNOD"]})),
        (CAPABILITIES_RETAIN_SET, json!({"set": ["CAP_KILL"]})),
    ])
    .unwrap_err();
    assert!(
        matches!(
            err,
            IsolatorError::Conflict {
                index: 2,
                other: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(CAPABILITIES_REMOVE_SET), "{err}");
    // Several sets of one kind are fine and combine.
    let c = check(&[
        (CAPABILITIES_REMOVE_SET, json!({"set": ["CAP_KILL"]})),
        (CAPABILITIES_REMOVE_SET, json!({"set": ["CAP_MKNOD"]})),
    ])
    .unwrap();
    assert_eq!(capability_bounding_set(&c.isolators).len(), 12);
}

#[test]
fn seccomp_filter_lookup() {
    let c = check(&[
        (CPU_SHARES, json!(2)),
        (SECCOMP_RETAIN_SET, json!({"set": ["@appc.io/all"]})),
    ])
    .unwrap();
    let (mode, set) = seccomp_filter(&c.isolators).unwrap();
    assert_eq!(mode, SeccompMode::Retain);
    assert_eq!(set.set(), ["@appc.io/all"]);
    assert!(seccomp_filter(&c.isolators[..1]).is_none());
}

fn quantity() -> impl Strategy<Value = Quantity> {
    (0i128..10i128.pow(24), any::<bool>()).prop_map(|(m, b)| {
        let f = if b {
            QuantityFormat::BinarySi
        } else {
            QuantityFormat::DecimalSi
        };
        Quantity::from_milli(m).with_format(f)
    })
}

fn cap_set() -> impl Strategy<Value = CapabilitySet> {
    proptest::sample::subsequence(CAPABILITIES.to_vec(), 1..6)
        .prop_map(|caps| CapabilitySet::from_names("p", caps.iter().map(|(n, _)| *n)).unwrap())
}

fn seccomp_set(mode: SeccompMode) -> impl Strategy<Value = SeccompSet> {
    let entry = prop_oneof!["[a-z_][a-z0-9_]{0,15}", "@[a-z]{1,6}/[a-z-]{1,10}"];
    let errno = proptest::option::of(proptest::sample::select(
        ERRNOS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>(),
    ));
    (proptest::collection::vec(entry, 1..5), errno)
        .prop_map(move |(set, errno)| SeccompSet::new("p", mode, set, errno).unwrap())
}

fn any_isolator() -> impl Strategy<Value = IsolatorValue> {
    use IsolatorValue as V;
    let opt_q = || proptest::option::of(quantity());
    let text = "[a-z_]{1,12}";
    prop_oneof![
        (opt_q(), opt_q())
            .prop_map(|(request, limit)| V::Cpu(ResourceRequestLimit { request, limit })),
        (opt_q(), opt_q())
            .prop_map(|(request, limit)| V::Memory(ResourceRequestLimit { request, limit })),
        opt_q().prop_map(|limit| V::NetworkBandwidth(ResourceDefaultLimit { limit })),
        opt_q().prop_map(|limit| V::BlockBandwidth(ResourceDefaultLimit { limit })),
        opt_q().prop_map(|limit| V::BlockIops(ResourceDefaultLimit { limit })),
        cap_set().prop_map(V::CapabilitiesRetain),
        cap_set().prop_map(V::CapabilitiesRemove),
        any::<bool>().prop_map(V::NoNewPrivileges),
        seccomp_set(SeccompMode::Remove).prop_map(V::SeccompRemove),
        seccomp_set(SeccompMode::Retain).prop_map(V::SeccompRetain),
        (text, text, text, "s[0-9](:c[0-9]{1,3})?").prop_map(|(user, role, r#type, level)| {
            V::SelinuxContext(SelinuxContext {
                user,
                role,
                r#type,
                level,
            })
        }),
        "[ -~]{1,20}".prop_map(V::ApparmorProfile),
        (-1000i32..=1000).prop_map(V::OomScoreAdj),
        (2u32..=262_144).prop_map(V::CpuShares),
        proptest::collection::btree_map(
            "net\\.[a-z_]{1,8}(\\.[a-z0-9_]{1,8})?",
            "[ -~]{0,8}",
            0..4
        )
        .prop_map(V::Sysctl),
        ("example\\.com/[a-z]{1,8}", any::<i64>()).prop_map(|(name, n)| V::Unknown {
            name,
            value: json!({ "n": n })
        }),
    ]
}

proptest! {
    #[test]
    fn to_json_parse_round_trip(v in any_isolator()) {
        let json = v.to_json();
        let back = parse(v.name(), &json).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(back.to_json(), json);
    }

    #[test]
    fn parse_never_panics(name_idx in 0usize..16, value in proptest_json()) {
        let names = [RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_NETWORK_BANDWIDTH, RESOURCE_BLOCK_BANDWIDTH,
            RESOURCE_BLOCK_IOPS, CAPABILITIES_RETAIN_SET, CAPABILITIES_REMOVE_SET, NO_NEW_PRIVILEGES,
            SECCOMP_REMOVE_SET, SECCOMP_RETAIN_SET, SELINUX_CONTEXT, APPARMOR_PROFILE, OOM_SCORE_ADJ,
            CPU_SHARES, SYSCTL, "x/y"];
        let _ = parse(names[name_idx], &value);
    }
}

fn proptest_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("set".to_string()),
                    Just("limit".to_string()),
                    Just("default".to_string()),
                    Just("user".to_string()),
                    "[a-z]{1,5}"
                ],
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
