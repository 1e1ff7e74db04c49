//! rkt's per-app isolator flags (`rkt run IMG --memory 50M …`), turned into isolators.
//!
//! Quantities follow the manifest grammar exactly as rkt did (it used the same Kubernetes
//! parser): `--memory 50M` is 50×10^6 bytes, `50Mi` is 50×2^20, and `50m` would be 0.05 bytes,
//! which the 4 KiB floor rkt also applied turns into a helpful error.

use serde_json::Value;

use super::caps::CapabilitySet;
use super::linux::{parse_cpu_shares, parse_oom_score_adj};
use super::resource::ResourceRequestLimit;
use super::seccomp::{SeccompMode, SeccompSet};
use super::{
    CAPABILITIES_REMOVE_SET, CAPABILITIES_RETAIN_SET, CPU_SHARES, IsolatorError, IsolatorValue,
    OOM_SCORE_ADJ, RESOURCE_CPU, RESOURCE_MEMORY, SECCOMP_REMOVE_SET, SECCOMP_RETAIN_SET,
};
use crate::quantity::Quantity;

/// The smallest `--memory` accepted: anything below is almost surely `m` (milli) typed for `M`.
const MIN_MEMORY_BYTES: i128 = 4096;

/// Parses one isolator flag (`memory`, `cpu`, `cpu-shares`, `caps-retain`, `caps-remove`,
/// `seccomp`, `oom-score-adj`, with or without the leading `--`) and its argument.
/// `--memory` and `--cpu` set both request and limit, like rkt.
pub fn from_cli_flag(flag: &str, arg: &str) -> Result<IsolatorValue, IsolatorError> {
    let flag = flag.strip_prefix("--").unwrap_or(flag);
    let bad = |rule: String| IsolatorError::BadFlag {
        flag: flag.into(),
        arg: arg.into(),
        rule,
    };
    let wrap = |inner: IsolatorError| IsolatorError::Flag {
        flag: flag.into(),
        arg: arg.into(),
        inner: Box::new(inner),
    };
    match flag {
        "memory" => {
            let q = quantity(flag, arg, RESOURCE_MEMORY)?;
            if q.value_ceil() < MIN_MEMORY_BYTES {
                return Err(bad(format!(
                    "a memory limit below {MIN_MEMORY_BYTES} bytes is almost surely a mistake; \
                     try a value such as 16M or 128Mi (lower-case m means milli)"
                )));
            }
            Ok(IsolatorValue::Memory(ResourceRequestLimit {
                request: Some(q),
                limit: Some(q),
            }))
        }
        "cpu" => {
            let q = quantity(flag, arg, RESOURCE_CPU)?;
            Ok(IsolatorValue::Cpu(ResourceRequestLimit {
                request: Some(q),
                limit: Some(q),
            }))
        }
        "cpu-shares" => {
            let n = integer(arg).ok_or_else(|| bad("must be a whole number".into()))?;
            parse_cpu_shares(CPU_SHARES, &n)
                .map(IsolatorValue::CpuShares)
                .map_err(wrap)
        }
        "oom-score-adj" => {
            let n = integer(arg).ok_or_else(|| bad("must be a whole number".into()))?;
            parse_oom_score_adj(OOM_SCORE_ADJ, &n)
                .map(IsolatorValue::OomScoreAdj)
                .map_err(wrap)
        }
        "caps-retain" => CapabilitySet::from_names(CAPABILITIES_RETAIN_SET, arg.split(','))
            .map(IsolatorValue::CapabilitiesRetain)
            .map_err(wrap),
        "caps-remove" => CapabilitySet::from_names(CAPABILITIES_REMOVE_SET, arg.split(','))
            .map(IsolatorValue::CapabilitiesRemove)
            .map_err(wrap),
        "seccomp" => seccomp(flag, arg),
        _ => Err(IsolatorError::UnknownFlag { flag: flag.into() }),
    }
}

fn integer(arg: &str) -> Option<Value> {
    arg.parse::<i64>().ok().map(Value::from)
}

/// A non-negative quantity argument.
fn quantity(flag: &str, arg: &str, isolator: &str) -> Result<Quantity, IsolatorError> {
    let q: Quantity = arg.parse().map_err(|error| IsolatorError::Flag {
        flag: flag.into(),
        arg: arg.into(),
        inner: Box::new(IsolatorError::Quantity {
            name: isolator.into(),
            field: "limit",
            error,
        }),
    })?;
    if q.is_negative() {
        return Err(IsolatorError::BadFlag {
            flag: flag.into(),
            arg: arg.into(),
            rule: "must not be negative".into(),
        });
    }
    Ok(q)
}

/// `mode=retain|remove[,errno=ENAME],syscall[,syscall…]`, options and names in any order.
fn seccomp(flag: &str, arg: &str) -> Result<IsolatorValue, IsolatorError> {
    let bad = |rule: &str| IsolatorError::BadFlag {
        flag: flag.into(),
        arg: arg.into(),
        rule: rule.into(),
    };
    let mut mode = None;
    let mut errno = None;
    let mut set = Vec::new();
    for item in arg.split(',') {
        match item.split_once('=') {
            Some(("mode", "retain")) if mode.is_none() => mode = Some(SeccompMode::Retain),
            Some(("mode", "remove")) if mode.is_none() => mode = Some(SeccompMode::Remove),
            Some(("mode", _)) => return Err(bad("mode must be given once, as retain or remove")),
            Some(("errno", e)) if errno.is_none() => errno = Some(e.to_string()),
            Some(("errno", _)) => return Err(bad("errno must be given at most once")),
            Some(_) => return Err(bad("the only options are mode= and errno=")),
            None => set.push(item.to_string()),
        }
    }
    let mode = mode.ok_or_else(|| bad("mode=retain or mode=remove is required"))?;
    if set.is_empty() {
        return Err(bad(
            "list at least one syscall or @scope/name wildcard after the options",
        ));
    }
    let (name, wrap): (_, fn(SeccompSet) -> IsolatorValue) = match mode {
        SeccompMode::Retain => (SECCOMP_RETAIN_SET, IsolatorValue::SeccompRetain),
        SeccompMode::Remove => (SECCOMP_REMOVE_SET, IsolatorValue::SeccompRemove),
    };
    SeccompSet::new(name, mode, set, errno)
        .map(wrap)
        .map_err(|inner| IsolatorError::Flag {
            flag: flag.into(),
            arg: arg.into(),
            inner: Box::new(inner),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn memory_and_cpu() {
        let IsolatorValue::Memory(m) = from_cli_flag("--memory", "50M").unwrap() else {
            panic!()
        };
        assert_eq!(m.limit.unwrap().value_ceil(), 50_000_000);
        assert_eq!(m.request, m.limit);
        let IsolatorValue::Memory(m) = from_cli_flag("memory", "50Mi").unwrap() else {
            panic!()
        };
        assert_eq!(m.limit.unwrap().value_ceil(), 50 << 20);
        let err = from_cli_flag("--memory", "16m").unwrap_err();
        assert!(matches!(err, IsolatorError::BadFlag { .. }), "{err}");
        assert!(err.to_string().contains("16M"), "{err}");
        assert!(from_cli_flag("--memory", "4095").is_err());
        assert!(from_cli_flag("--memory", "4Ki").is_ok());
        assert!(matches!(
            from_cli_flag("--memory", "1K"),
            Err(IsolatorError::Flag { .. })
        ));
        let IsolatorValue::Cpu(c) = from_cli_flag("--cpu", "500m").unwrap() else {
            panic!()
        };
        assert_eq!(c.limit, Some(q("0.5")));
        assert!(from_cli_flag("--cpu", "-1").is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(
            from_cli_flag("--cpu-shares", "1024").unwrap(),
            IsolatorValue::CpuShares(1024)
        );
        assert!(from_cli_flag("--cpu-shares", "1").is_err());
        assert!(from_cli_flag("--cpu-shares", "x").is_err());
        assert_eq!(
            from_cli_flag("--oom-score-adj", "-500").unwrap(),
            IsolatorValue::OomScoreAdj(-500)
        );
        assert!(from_cli_flag("--oom-score-adj", "1001").is_err());
        assert!(from_cli_flag("--oom-score-adj", "").is_err());
    }

    #[test]
    fn capabilities() {
        let IsolatorValue::CapabilitiesRetain(s) =
            from_cli_flag("--caps-retain", "CAP_KILL,net_admin").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.names(), ["CAP_KILL", "CAP_NET_ADMIN"]);
        assert!(matches!(
            from_cli_flag("--caps-remove", "CAP_MKNOD").unwrap(),
            IsolatorValue::CapabilitiesRemove(_)
        ));
        assert!(from_cli_flag("--caps-remove", "CAP_MKNOD,").is_err());
        assert!(from_cli_flag("--caps-remove", "").is_err());
        assert!(
            from_cli_flag("--caps-retain", "CAP_FLY")
                .unwrap_err()
                .to_string()
                .contains("CAP_FLY")
        );
    }

    #[test]
    fn seccomp_forms() {
        let v = from_cli_flag("--seccomp", "mode=remove,errno=ENOTSUP,reboot,swapon").unwrap();
        let IsolatorValue::SeccompRemove(s) = v else {
            panic!()
        };
        assert_eq!(s.set(), ["reboot", "swapon"]);
        assert_eq!(s.errno(), Some("ENOTSUP"));
        let v = from_cli_flag("--seccomp", "read,mode=retain,write").unwrap();
        let IsolatorValue::SeccompRetain(s) = v else {
            panic!()
        };
        assert_eq!(s.set(), ["read", "write"]);
        assert_eq!(s.errno(), None);
        for bad in [
            "read,write",
            "mode=keep,read",
            "mode=retain",
            "mode=retain,mode=remove,read",
            "mode=retain,foo=bar,read",
            "mode=retain,errno=eperm,read",
            "mode=retain,,read",
            "mode=remove,@appc.io/all",
        ] {
            assert!(from_cli_flag("--seccomp", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_flag() {
        assert!(matches!(
            from_cli_flag("--net", "host"),
            Err(IsolatorError::UnknownFlag { .. })
        ));
    }
}
