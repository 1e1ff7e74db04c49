//! Resource quantities (ace.md "Resource Isolators"): the Kubernetes quantity grammar that the appc
//! Go code parses, held as an exact count of milli-units so no float ever rounds a limit.
//!
//! Grammar: `[+-]digits[.digits]suffix` (or `.digits`), where the suffix is nothing, `n`, `u`,
//! `m`, `k`, `M`, `G`, `T`, `P`, `E` (powers of 1000; only lower-case `k` is kilo), `Ki` … `Ei`
//! (powers of 1024), or an exponent `e3` / `E-2`. `"128974848" == "125952Ki" == "123Mi"`.
//! Amounts finer than one milli-unit (`1n`, `0.0001`) are refused rather than rounded.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that is not a quantity. Every variant names the input and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("invalid quantity {input:?}: {rule}")]
    Syntax { input: String, rule: &'static str },
    #[error(
        "invalid quantity {input:?}: unknown suffix {suffix:?}; use m, k, M, G, T, P, E, \
         Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3"
    )]
    Suffix { input: String, suffix: String },
    #[error(
        "invalid quantity {input:?}: upper-case \"K\" is not a suffix; decimal kilo is \
         lower-case \"k\" and binary kibi is \"Ki\""
    )]
    UpperK { input: String },
    #[error(
        "invalid quantity {input:?}: finer than one thousandth of a unit (1m), the smallest \
         amount that is stored exactly"
    )]
    TooPrecise { input: String },
    #[error("invalid quantity {input:?}: too large to store (limit about 1.7e35 units)")]
    TooLarge { input: String },
}

/// How a quantity prefers to be written back: with decimal (`k`, `M`) or binary (`Ki`, `Mi`)
/// suffixes. It follows the input, like Kubernetes, and takes no part in comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QuantityFormat {
    #[default]
    DecimalSi,
    BinarySi,
}

/// An exact resource amount. Equality, ordering and hashing look at the value only, so
/// `1Ki == 1024`.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    milli: i128,
    format: QuantityFormat,
}

const DECIMAL_SUFFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// The largest power of ten that fits in an i128.
const MAX_POW10: i64 = 38;

impl Quantity {
    /// A quantity of `milli` thousandths of a unit.
    pub fn from_milli(milli: i128) -> Quantity {
        Quantity {
            milli,
            format: QuantityFormat::DecimalSi,
        }
    }

    /// A quantity of `value` whole units, or `None` if that does not fit.
    pub fn from_value(value: i128) -> Option<Quantity> {
        value.checked_mul(1000).map(Quantity::from_milli)
    }

    /// The same value, written back with `format`'s suffixes.
    pub fn with_format(self, format: QuantityFormat) -> Quantity {
        Quantity { format, ..self }
    }

    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// The value in thousandths of a unit (millicores for CPU).
    pub fn milli_value(&self) -> i128 {
        self.milli
    }

    /// The value in whole units, rounded up (toward positive infinity): `1500m` → 2.
    pub fn value_ceil(&self) -> i128 {
        let whole = self.milli.div_euclid(1000);
        if self.milli.rem_euclid(1000) == 0 {
            whole
        } else {
            whole + 1
        }
    }

    pub fn is_negative(&self) -> bool {
        self.milli < 0
    }

    pub fn is_zero(&self) -> bool {
        self.milli == 0
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.milli == other.milli
    }
}
impl Eq for Quantity {}
impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.milli.cmp(&other.milli)
    }
}
impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.milli.hash(state);
    }
}

/// What a suffix multiplies the number by: 10^pow10 × 1024^pow1024.
struct Scale {
    pow10: i64,
    pow1024: u32,
}

fn suffix_scale(input: &str, suffix: &str) -> Result<Scale, QuantityError> {
    let dec = |pow10| Ok(Scale { pow10, pow1024: 0 });
    match suffix {
        "n" => return dec(-9),
        "u" => return dec(-6),
        "m" => return dec(-3),
        "K" => {
            return Err(QuantityError::UpperK {
                input: input.to_string(),
            });
        }
        _ => {}
    }
    if let Some(i) = DECIMAL_SUFFIXES.iter().position(|s| *s == suffix) {
        return dec(3 * i as i64);
    }
    if let Some(i) = BINARY_SUFFIXES.iter().skip(1).position(|s| *s == suffix) {
        return Ok(Scale {
            pow10: 0,
            pow1024: i as u32 + 1,
        });
    }
    if let Some(pow10) = suffix.strip_prefix(['e', 'E']).and_then(parse_exponent) {
        return dec(pow10);
    }
    Err(QuantityError::Suffix {
        input: input.to_string(),
        suffix: suffix.to_string(),
    })
}

/// `[+-]digits` as an i64; exponents too long to matter saturate (they overflow or underflow
/// every non-zero mantissa anyway).
fn parse_exponent(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    let magnitude: i64 = if significant.len() > 6 {
        1_000_000
    } else {
        significant.parse().unwrap_or(0)
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn pow10(exp: i64) -> Option<i128> {
    if !(0..=MAX_POW10).contains(&exp) {
        return None;
    }
    10i128.checked_pow(exp as u32)
}

/// digits × 10^(pow10 + 3 − fraction length) × 1024^pow1024, refusing anything inexact.
fn exact_milli(input: &str, int: &str, frac: &str, scale: &Scale) -> Result<i128, QuantityError> {
    let frac = frac.trim_end_matches('0');
    let mut digits = String::with_capacity(int.len() + frac.len());
    digits.push_str(int);
    digits.push_str(frac);
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let too_large = || QuantityError::TooLarge {
        input: input.to_string(),
    };
    let mantissa: i128 = digits.parse().map_err(|_| too_large())?;
    let binary = 1024i128.pow(scale.pow1024);
    let exp = scale.pow10 + 3 - frac.len() as i64;
    if exp >= 0 {
        let factor = pow10(exp).ok_or_else(too_large)?;
        return mantissa
            .checked_mul(factor)
            .and_then(|v| v.checked_mul(binary))
            .ok_or_else(too_large);
    }
    let scaled = mantissa.checked_mul(binary).ok_or_else(too_large)?;
    // A non-zero i128 is below 10^39, so it is never a multiple of a larger power of ten.
    let divisor = pow10(-exp).ok_or_else(|| QuantityError::TooPrecise {
        input: input.to_string(),
    })?;
    if scaled % divisor != 0 {
        return Err(QuantityError::TooPrecise {
            input: input.to_string(),
        });
    }
    Ok(scaled / divisor)
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(input: &str) -> Result<Quantity, QuantityError> {
        let syntax = |rule| QuantityError::Syntax {
            input: input.to_string(),
            rule,
        };
        if input.is_empty() {
            return Err(syntax(
                "it is empty; write a number such as \"128Mi\", \"500m\" or \"2\"",
            ));
        }
        let (negative, rest) = match input.as_bytes()[0] {
            b'-' => (true, &input[1..]),
            b'+' => (false, &input[1..]),
            _ => (false, input),
        };
        let digit_run = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(digit_run(rest));
        let (frac, suffix) = match after.strip_prefix('.') {
            Some(tail) => tail.split_at(digit_run(tail)),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(syntax(
                "it must start with a number: an optional sign, digits and at most one decimal point",
            ));
        }
        let scale = suffix_scale(input, suffix)?;
        let milli = exact_milli(input, int, frac, &scale)?;
        let format = if scale.pow1024 > 0 {
            QuantityFormat::BinarySi
        } else {
            QuantityFormat::DecimalSi
        };
        Ok(Quantity {
            milli: if negative { -milli } else { milli },
            format,
        })
    }
}

/// Canonical form: the largest suffix of the quantity's format that leaves a whole number
/// (binary falls back to decimal when no binary suffix divides), or `<n>m` for fractions.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.milli % 1000 != 0 {
            return write!(f, "{}m", self.milli);
        }
        let base = self.milli / 1000;
        if base == 0 {
            return f.write_str("0");
        }
        if self.format == QuantityFormat::BinarySi {
            for n in (1..BINARY_SUFFIXES.len()).rev() {
                let unit = 1i128 << (10 * n);
                if base % unit == 0 {
                    return write!(f, "{}{}", base / unit, BINARY_SUFFIXES[n]);
                }
            }
        }
        for n in (1..DECIMAL_SUFFIXES.len()).rev() {
            let unit = 10i128.pow(3 * n as u32);
            if base % unit == 0 {
                return write!(f, "{}{}", base / unit, DECIMAL_SUFFIXES[n]);
            }
        }
        write!(f, "{base}")
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct QuantityVisitor;

impl serde::de::Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity as a string (\"128Mi\", \"500m\") or a number")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
        v.parse().map_err(E::custom)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
        self.visit_i128(i128::from(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
        self.visit_i128(i128::from(v))
    }
    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Quantity, E> {
        Quantity::from_value(v)
            .ok_or_else(|| E::custom(format!("quantity {v} is too large to store")))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
        // Rust prints the shortest decimal that reads back as `v` and never uses an exponent,
        // so `0.3` stays 300m instead of becoming 0.29999….
        if !v.is_finite() {
            return Err(E::custom(format!("quantity {v} is not a finite number")));
        }
        v.to_string().parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(QuantityVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn spec_example_three_spellings_are_equal() {
        assert_eq!(q("128974848"), q("125952Ki"));
        assert_eq!(q("125952Ki"), q("123Mi"));
        assert_eq!(q("123Mi").value_ceil(), 128_974_848);
    }

    #[test]
    fn milli_and_decimals() {
        assert_eq!(q("500m").milli_value(), 500);
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("0.3").milli_value(), 300);
        assert_eq!(q("300m"), q("0.3"));
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q(".5").milli_value(), 500);
        assert_eq!(q("5.").milli_value(), 5000);
        assert_eq!(
            q("1.500000000000000000000000000000000000000000").milli_value(),
            1500
        );
        assert_eq!(
            q("000000000000000000000000000000000000000000001").milli_value(),
            1000
        );
    }

    #[test]
    fn decimal_and_binary_suffixes() {
        assert_eq!(q("1k").value_ceil(), 1000);
        assert_eq!(q("2M").value_ceil(), 2_000_000);
        assert_eq!(q("1G").value_ceil(), 1_000_000_000);
        assert_eq!(q("1T").value_ceil(), 10i128.pow(12));
        assert_eq!(q("1P").value_ceil(), 10i128.pow(15));
        assert_eq!(q("1E").value_ceil(), 10i128.pow(18));
        assert_eq!(q("1Ki").value_ceil(), 1024);
        assert_eq!(q("1Mi").value_ceil(), 1 << 20);
        assert_eq!(q("1Gi").value_ceil(), 1 << 30);
        assert_eq!(q("1Ti").value_ceil(), 1 << 40);
        assert_eq!(q("1Pi").value_ceil(), 1 << 50);
        assert_eq!(q("1Ei").value_ceil(), 1 << 60);
        assert_eq!(q("0.5Ki").value_ceil(), 512);
        assert_eq!(q("1.5Gi").value_ceil(), 3 << 29);
    }

    #[test]
    fn exponents_and_small_units() {
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1E3"), q("1k"));
        assert_eq!(q("12e-3").milli_value(), 12);
        assert_eq!(q("1e+2").value_ceil(), 100);
        assert_eq!(q("2000000n").milli_value(), 2);
        assert_eq!(q("3000u").milli_value(), 3);
        assert_eq!(q("0e99999999999").milli_value(), 0);
    }

    #[test]
    fn signs() {
        assert_eq!(q("-1.5").milli_value(), -1500);
        assert_eq!(q("+2").milli_value(), 2000);
        assert_eq!(q("-0"), q("0"));
        assert!(q("-1").is_negative());
        assert_eq!(q("-1500m").value_ceil(), -1);
        assert_eq!(q("1500m").value_ceil(), 2);
        assert_eq!(q("1001m").value_ceil(), 2);
        assert_eq!(q("1000m").value_ceil(), 1);
    }

    #[test]
    fn upper_case_k_is_refused() {
        assert!(matches!(
            "1K".parse::<Quantity>(),
            Err(QuantityError::UpperK { .. })
        ));
        let msg = "1K".parse::<Quantity>().unwrap_err().to_string();
        assert!(
            msg.contains("\"1K\"") && msg.contains("lower-case"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_inputs_are_refused() {
        for bad in [
            "", "-", "+", ".", "abc", "1..2", "1.2.3", " 1", "1 ", "1 Mi", "1Mb", "1KiB", "1e",
            "1e+", "1ee3", "1mi", "1m3", "0x10", "1,5", "--1", "1i",
        ] {
            let err = bad.parse::<Quantity>().unwrap_err();
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{bad:?}: {err}"
            );
        }
        assert!(matches!(
            "1Mb".parse::<Quantity>(),
            Err(QuantityError::Suffix { .. })
        ));
        assert!(matches!(
            "x".parse::<Quantity>(),
            Err(QuantityError::Syntax { .. })
        ));
    }

    #[test]
    fn precision_and_range_limits() {
        assert!(matches!(
            "0.0001".parse::<Quantity>(),
            Err(QuantityError::TooPrecise { .. })
        ));
        assert!(matches!(
            "1n".parse::<Quantity>(),
            Err(QuantityError::TooPrecise { .. })
        ));
        assert!(matches!(
            "1e-99".parse::<Quantity>(),
            Err(QuantityError::TooPrecise { .. })
        ));
        assert!(matches!(
            "1e40".parse::<Quantity>(),
            Err(QuantityError::TooLarge { .. })
        ));
        assert!(matches!(
            "99999999999999999999Ei".parse::<Quantity>(),
            Err(QuantityError::TooLarge { .. })
        ));
        let huge = "9".repeat(60);
        assert!(matches!(
            huge.parse::<Quantity>(),
            Err(QuantityError::TooLarge { .. })
        ));
        assert!(q("170000000000000000E").value_ceil() > 0);
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(q("123Mi").to_string(), "123Mi");
        assert_eq!(q("125952Ki").to_string(), "123Mi");
        assert_eq!(q("128974848").to_string(), "128974848");
        assert_eq!(q("1000").to_string(), "1k");
        assert_eq!(q("1e3").to_string(), "1k");
        assert_eq!(q("0.5").to_string(), "500m");
        assert_eq!(q("1.5Gi").to_string(), "1536Mi");
        assert_eq!(q("1500Ki").to_string(), "1500Ki");
        assert_eq!(q("0.5Ki").to_string(), "512");
        assert_eq!(q("0Mi").to_string(), "0");
        assert_eq!(q("-2Gi").to_string(), "-2Gi");
        assert_eq!(q("2000000").to_string(), "2M");
    }

    #[test]
    fn json_string_and_number_forms() {
        let from = |j: &str| serde_json::from_str::<Quantity>(j);
        assert_eq!(from("\"500m\"").unwrap().milli_value(), 500);
        assert_eq!(from("0.3").unwrap().milli_value(), 300);
        assert_eq!(from("2").unwrap().milli_value(), 2000);
        assert_eq!(from("-7").unwrap().milli_value(), -7000);
        assert_eq!(from("1e3").unwrap().value_ceil(), 1000);
        assert!(from("true").is_err());
        assert!(from("null").is_err());
        assert!(
            from("\"1K\"")
                .unwrap_err()
                .to_string()
                .contains("lower-case")
        );
        assert_eq!(serde_json::to_string(&q("125952Ki")).unwrap(), "\"123Mi\"");
    }

    #[test]
    fn equality_ignores_format() {
        use std::collections::HashSet;
        assert_eq!(q("1Ki"), q("1024"));
        let set: HashSet<Quantity> = [q("1Ki"), q("1024"), q("1.024k")].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(q("1Ki") > q("1k"));
        assert!(q("999m") < q("1"));
    }

    fn any_quantity() -> impl Strategy<Value = Quantity> {
        let magnitude = prop_oneof![
            -10_000i128..10_000,
            (-1_000_000_000i128..1_000_000_000).prop_map(|v| v * 1000),
            (-1_000_000i128..1_000_000, 0u32..7).prop_map(|(v, n)| v * 1000 * (1i128 << (10 * n))),
            (-(10i128.pow(30))..10i128.pow(30)),
        ];
        (magnitude, any::<bool>()).prop_map(|(milli, binary)| {
            let format = if binary {
                QuantityFormat::BinarySi
            } else {
                QuantityFormat::DecimalSi
            };
            Quantity::from_milli(milli).with_format(format)
        })
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(x in any_quantity()) {
            let shown = x.to_string();
            let back: Quantity = shown.parse().unwrap();
            prop_assert_eq!(back, x);
            prop_assert_eq!(back.to_string(), shown);
            let json = serde_json::to_string(&x).unwrap();
            prop_assert_eq!(serde_json::from_str::<Quantity>(&json).unwrap(), x);
        }

        #[test]
        fn ordering_matches_values(a in any_quantity(), b in any_quantity()) {
            let pa: Quantity = a.to_string().parse().unwrap();
            let pb: Quantity = b.to_string().parse().unwrap();
            prop_assert_eq!(pa.cmp(&pb), a.milli_value().cmp(&b.milli_value()));
            prop_assert_eq!(pa == pb, a.milli_value() == b.milli_value());
        }

        #[test]
        fn suffixes_scale_exactly(n in 0i64..1_000_000_000, i in 1usize..7) {
            let dec: Quantity = format!("{n}{}", DECIMAL_SUFFIXES[i]).parse().unwrap();
            prop_assert_eq!(dec.value_ceil(), i128::from(n) * 10i128.pow(3 * i as u32));
            let bin: Quantity = format!("{n}{}", BINARY_SUFFIXES[i]).parse().unwrap();
            prop_assert_eq!(bin.value_ceil(), i128::from(n) << (10 * i));
            let milli: Quantity = format!("{n}m").parse().unwrap();
            prop_assert_eq!(milli.milli_value(), i128::from(n));
        }

        #[test]
        fn decimals_are_exact(int in 0u32..1_000_000, frac in 0u32..1000) {
            let x: Quantity = format!("{int}.{frac:03}").parse().unwrap();
            prop_assert_eq!(x.milli_value(), i128::from(int) * 1000 + i128::from(frac));
        }

        #[test]
        fn parser_never_panics(s in "[-+0-9.eEkKMGTPiumn]{0,12}") {
            let _ = s.parse::<Quantity>();
        }
    }
}
