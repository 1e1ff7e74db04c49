//! Go-style durations (`24h`, `30m`, `1h30m`, `1.5h`, `300ms`, `0`), as rkt's `--grace-period`.

use std::time::Duration;

use super::ImagesError;

const UNITS: [(&str, f64); 8] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("μs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
];

/// Parse a non-negative Go duration: a sequence of decimal numbers, each with a unit.
pub fn parse_duration(input: &str) -> Result<Duration, ImagesError> {
    let bad = |reason| ImagesError::BadDuration {
        input: input.to_string(),
        reason,
    };
    let s = input.strip_prefix('+').unwrap_or(input);
    if s.starts_with('-') {
        return Err(bad("a grace period cannot be negative"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut rest = s;
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| bad("expected a number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, s)| *s)
            .ok_or_else(|| bad("unknown or missing unit (ns, us, ms, s, m, h)"))?;
        nanos += number * scale;
        rest = &rest[unit_len..];
    }
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(bad("it is too large"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_forms() {
        let h = 3600;
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(24 * h));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in ["", "5", "h", "1x", "-1h", "1h-2m", "1..5h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
