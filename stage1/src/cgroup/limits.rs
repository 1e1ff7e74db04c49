//! Resource isolators → cgroup file values, for cgroup v1 and for the unified v2 hierarchy.
//!
//! - `resource/memory` limit → v1 `memory.limit_in_bytes`, v2 `memory.max` (bytes, rounded
//!   up); swap is not added on top (v1 `memory.memsw.limit_in_bytes` = the same value, v2
//!   `memory.swap.max` = 0, both only where the kernel has swap accounting).
//! - `resource/cpu` limit → v1 `cpu.cfs_period_us` = 100000 and `cpu.cfs_quota_us`, v2 `cpu.max`
//!   = `<quota> 100000`; 1000m is 100% of one CPU (systemd's `CPUQuota=` as rkt emitted it);
//!   the kernel's minimum quota is 1 ms.
//! - `os/linux/cpu-shares` → v1 `cpu.shares` (clamped to 2..=262144), v2 `cpu.weight` converted
//!   linearly from the shares range onto 1..=10000 (2 → 1, 1024 → 39, 262144 → 10000).
//! - the pod's pids limit → `pids.max` (both versions), on the pod cgroup.
//!
//! `request`s are not enforced (rkt did not either).

use aci::isolator::IsolatorValue;

/// The CFS period, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;
/// The kernel refuses quotas below 1 ms.
const MIN_QUOTA_US: u64 = 1_000;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

/// The limits of one app's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppLimits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Thousandths of one CPU.
    pub cpu_milli: Option<u64>,
    pub cpu_shares: Option<u64>,
}

/// One write: (controller, file, value). Files marked optional may be absent (no swap
/// accounting) and are skipped then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
    pub optional: bool,
}

fn set(controller: &'static str, file: &'static str, value: impl ToString) -> Setting {
    Setting {
        controller,
        file,
        value: value.to_string(),
        optional: false,
    }
}

fn optional(controller: &'static str, file: &'static str, value: impl ToString) -> Setting {
    Setting {
        optional: true,
        ..set(controller, file, value)
    }
}

impl AppLimits {
    /// The limits the app's isolators ask for; other isolators are not about cgroups.
    pub fn from_isolators(isolators: &[IsolatorValue]) -> AppLimits {
        let mut out = AppLimits::default();
        for iso in isolators {
            match iso {
                IsolatorValue::Memory(m) => {
                    out.memory = m.limit.map(|q| q.value_ceil()).and_then(positive);
                }
                IsolatorValue::Cpu(c) => {
                    out.cpu_milli = c.limit.map(|q| q.milli_value()).and_then(positive);
                }
                IsolatorValue::CpuShares(s) => out.cpu_shares = Some(u64::from(*s)),
                _ => {}
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        *self == AppLimits::default()
    }

    /// The CFS quota per [`CPU_PERIOD_US`].
    fn quota_us(milli: u64) -> u64 {
        milli
            .saturating_mul(CPU_PERIOD_US)
            .div_euclid(1000)
            .max(MIN_QUOTA_US)
    }

    fn shares(shares: u64) -> u64 {
        shares.clamp(MIN_SHARES, MAX_SHARES)
    }

    /// The writes on a cgroup v1 app cgroup, in order (the memsw limit must follow the memory
    /// limit, the period must precede the quota).
    pub fn v1(&self) -> Vec<Setting> {
        let mut out = Vec::new();
        if let Some(bytes) = self.memory {
            out.push(set("memory", "memory.limit_in_bytes", bytes));
            out.push(optional("memory", "memory.memsw.limit_in_bytes", bytes));
        }
        if let Some(milli) = self.cpu_milli {
            out.push(set("cpu", "cpu.cfs_period_us", CPU_PERIOD_US));
            out.push(set("cpu", "cpu.cfs_quota_us", Self::quota_us(milli)));
        }
        if let Some(shares) = self.cpu_shares {
            out.push(set("cpu", "cpu.shares", Self::shares(shares)));
        }
        out
    }

    /// The writes on a cgroup v2 app cgroup.
    pub fn v2(&self) -> Vec<Setting> {
        let mut out = Vec::new();
        if let Some(bytes) = self.memory {
            out.push(set("memory", "memory.max", bytes));
            out.push(optional("memory", "memory.swap.max", 0));
        }
        if let Some(milli) = self.cpu_milli {
            let quota = Self::quota_us(milli);
            out.push(set("cpu", "cpu.max", format!("{quota} {CPU_PERIOD_US}")));
        }
        if let Some(shares) = self.cpu_shares {
            out.push(set("cpu", "cpu.weight", shares_to_weight(shares)));
        }
        out
    }

    /// The controllers these limits need.
    pub fn controllers(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.memory.is_some() {
            out.push("memory");
        }
        if self.cpu_milli.is_some() || self.cpu_shares.is_some() {
            out.push("cpu");
        }
        out
    }
}

fn positive(v: i128) -> Option<u64> {
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// cgroup v1 shares (2..=262144) → v2 weight (1..=10000), linearly as runc and crun convert.
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((shares - MIN_SHARES) * 9999) / (MAX_SHARES - MIN_SHARES)
}

/// The pod-level write for the pids limit.
pub fn pids_limit(limit: u64) -> Setting {
    set("pids", "pids.max", limit)
}

/// The `oom_kill` counter of a v1 `memory.oom_control` or a v2 `memory.events` text.
pub fn oom_kills(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .filter_map(|v| v.trim().parse().ok())
        .next()
        .unwrap_or(0)
}
