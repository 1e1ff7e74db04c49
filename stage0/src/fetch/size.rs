//! The image size limit (`--max-image-size`): how it is written and read back.
//!
//! A size is a whole number with an optional unit: `K`/`k`, `M`, `G`, `T` are powers of 1000,
//! `Ki`, `Mi`, `Gi`, `Ti` powers of 1024; a trailing `B` is allowed (`512MiB`, `4GB`).

/// A `--max-image-size` value that is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error(
        "invalid size {input:?}: expected a whole number with an optional unit K, M, G, T \
         (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024), e.g. 512Mi or 8Gi"
    )]
    Syntax { input: String },
    #[error("invalid size {input:?}: unknown unit {unit:?}; use K, M, G, T, Ki, Mi, Gi or Ti")]
    Unit { input: String, unit: String },
    #[error("invalid size {input:?}: too large (the most is 16 EiB)")]
    Overflow { input: String },
    #[error("invalid size {input:?}: a limit of 0 bytes would refuse every image")]
    Zero { input: String },
}

/// Parse a size like `8Gi`, `500M` or `1048576`.
pub fn parse_size(input: &str) -> Result<u64, SizeError> {
    let s = input.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(SizeError::Syntax {
            input: input.to_string(),
        });
    }
    let (number, unit) = s.split_at(digits);
    let unit = unit.strip_suffix('B').unwrap_or(unit);
    let scale: u64 = match unit {
        "" => 1,
        "K" | "k" => 1000,
        "M" => 1000u64.pow(2),
        "G" => 1000u64.pow(3),
        "T" => 1000u64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ if unit.chars().all(|c| c.is_ascii_alphabetic()) => {
            return Err(SizeError::Unit {
                input: input.to_string(),
                unit: unit.to_string(),
            });
        }
        _ => {
            return Err(SizeError::Syntax {
                input: input.to_string(),
            });
        }
    };
    let overflow = || SizeError::Overflow {
        input: input.to_string(),
    };
    let n: u64 = number.parse().map_err(|_| overflow())?;
    let bytes = n.checked_mul(scale).ok_or_else(overflow)?;
    if bytes == 0 {
        return Err(SizeError::Zero {
            input: input.to_string(),
        });
    }
    Ok(bytes)
}

/// A limit to suggest when `limit` was too small: the next power-of-two GiB (at least 1Gi)
/// above twice it, written as the flag takes it.
pub fn suggest_size(limit: u64) -> String {
    let gib = limit.saturating_mul(2).div_ceil(1 << 30).max(1);
    format!("{}Gi", gib.next_power_of_two())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("8Gi"), Ok(8 << 30));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("512Mi"), Ok(512 << 20));
        assert_eq!(parse_size("64Ki"), Ok(64 << 10));
        assert_eq!(parse_size("2k"), Ok(2000));
        assert_eq!(parse_size("2K"), Ok(2000));
        assert_eq!(parse_size("3M"), Ok(3_000_000));
        assert_eq!(parse_size("4GB"), Ok(4_000_000_000));
        assert_eq!(parse_size("1Ti"), Ok(1 << 40));
    }

    #[test]
    fn bad_sizes_say_why() {
        for bad in ["", "Gi", "-1", "1.5G", "1 G x", "G8"] {
            let e = parse_size(bad).unwrap_err();
            assert!(
                matches!(e, SizeError::Syntax { .. } | SizeError::Unit { .. }),
                "{bad}: {e}"
            );
        }
        assert!(matches!(parse_size("8Q"), Err(SizeError::Unit { .. })));
        assert!(parse_size("8Q").unwrap_err().to_string().contains("Gi"));
        assert!(matches!(parse_size("0"), Err(SizeError::Zero { .. })));
        assert!(matches!(
            parse_size("99999999999Ti"),
            Err(SizeError::Overflow { .. })
        ));
        assert!(matches!(
            parse_size("99999999999999999999999"),
            Err(SizeError::Overflow { .. })
        ));
    }

    #[test]
    fn suggestions_are_bigger_and_parse() {
        for limit in [1, 1 << 20, 3 << 30, 8 << 30] {
            let s = suggest_size(limit);
            assert!(parse_size(&s).unwrap() > limit, "{limit} -> {s}");
        }
        assert_eq!(suggest_size(8 << 30), "16Gi");
    }
}
