//! `rkt gc`: the library's mark-and-sweep with a sweep that runs the stage1 `gc` entrypoint
//! of every pod that ran (it releases what outlives the pod's processes) before deletion.
//! Never-run pods (`garbage/`) have nothing for stage1 to release and are just deleted.

use std::time::Duration;

use super::Result;
use super::stage1::{Stage1Options, run_gc};
use crate::pod::{GcOptions, GcReport, Pod, PodDir, Pods};

/// Collect garbage; see [`Pods::gc`]. A pod whose stage1 gc fails stays for the next run and
/// appears in the report as a failure.
pub fn gc(pods: &Pods, opts: &GcOptions, stage1: &Stage1Options) -> Result<GcReport> {
    let report = pods.gc(opts, |pod: &Pod| {
        // The service must stop serving a pod whose files are about to go.
        if let Err(e) = crate::metadata::deregister_pod(pod) {
            tracing::warn!("pod {}: {e}", pod.uuid());
        }
        if pod.dir() == PodDir::ExitedGarbage {
            run_gc(pod, stage1)?;
        }
        Ok(())
    })?;
    Ok(report)
}

/// A duration as Go prints it (`30m0s`, `24h0m0s`, `1.5s`, `0s`), for rkt's messages.
pub fn format_go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    if d < Duration::from_secs(1) {
        let n = d.as_nanos();
        return match n {
            0..1_000 => format!("{n}ns"),
            1_000..1_000_000 => format!("{}µs", trim_fraction(n, 1_000)),
            _ => format!("{}ms", trim_fraction(n, 1_000_000)),
        };
    }
    let total = d.as_secs();
    let (h, m) = (total / 3600, (total % 3600) / 60);
    let secs = trim_fraction(
        u128::from(total % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        1_000_000_000,
    );
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

/// `n / unit` with the fraction's trailing zeros dropped (`1500, 1000` → `1.5`).
fn trim_fraction(n: u128, unit: u128) -> String {
    let whole = n / unit;
    let frac = n % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_secs(1800)), "30m0s");
        assert_eq!(format_go_duration(Duration::from_secs(86400)), "24h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(format_go_duration(Duration::from_secs(3661)), "1h1m1s");
    }
}
