//! The IUV (identificativo univoco di versamento) and the notice number (numero avviso) for
//! aux digit 3, as pagoPA's specifications define them for an ente with a segregation code:
//!
//! - IUV (17 digits) = segregation code (2) ‖ base (13) ‖ check digits (2);
//! - check digits = ("3" ‖ segregation code ‖ base) mod 93, zero-padded to two digits;
//! - notice number (18 digits) = "3" ‖ IUV.

use anyhow::bail;

/// The largest 13-digit base.
pub const MAX_BASE: u64 = 9_999_999_999_999;

/// The IUV of `base` for an ente with `segregation` (two digits).
pub fn iuv(segregation: &str, base: u64) -> anyhow::Result<String> {
    if segregation.len() != 2 || !segregation.bytes().all(|b| b.is_ascii_digit()) {
        bail!("the segregation code must be two digits, not `{segregation}`");
    }
    if base > MAX_BASE {
        bail!("the IUV base {base} has more than 13 digits");
    }
    let base = format!("{base:013}");
    let n: u64 = format!("3{segregation}{base}").parse()?;
    Ok(format!("{segregation}{base}{:02}", n % 93))
}

/// The notice number of an IUV (aux digit 3).
pub fn notice_number(iuv: &str) -> String {
    format!("3{iuv}")
}

/// Whether a 17-digit IUV's check digits are right (for one read back or typed in).
pub fn is_valid(iuv: &str) -> bool {
    if iuv.len() != 17 || !iuv.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (body, check) = iuv.split_at(15);
    match (format!("3{body}").parse::<u64>(), check.parse::<u64>()) {
        (Ok(n), Ok(c)) => n % 93 == c,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // 3 01 0000000000001 = 3010000000000001; 3010000000000001 mod 93 = 44.
        assert_eq!(iuv("01", 1).unwrap(), "01000000000000144");
        assert_eq!(notice_number("01000000000000144"), "301000000000000144");
        // 3 47 1234567890123 = 3471234567890123; mod 93 = 89.
        assert_eq!(iuv("47", 1_234_567_890_123).unwrap(), "47123456789012389");
        // The largest base: 3999999999999999 mod 93 = 3, zero-padded to two digits.
        assert_eq!(iuv("99", MAX_BASE).unwrap(), "99999999999999903");
    }

    #[test]
    fn every_computed_iuv_checks_and_a_changed_digit_does_not() {
        for base in [0, 1, 42, 93, 1_000_000, MAX_BASE] {
            let v = iuv("12", base).unwrap();
            assert_eq!(v.len(), 17);
            assert!(is_valid(&v), "{v}");
            assert_eq!(notice_number(&v).len(), 18);
            let mut wrong = v.clone().into_bytes();
            wrong[5] = if wrong[5] == b'9' { b'0' } else { wrong[5] + 1 };
            assert!(!is_valid(std::str::from_utf8(&wrong).unwrap()));
        }
    }

    #[test]
    fn a_bad_segregation_code_or_base_is_refused() {
        assert!(iuv("1", 1).is_err());
        assert!(iuv("ab", 1).is_err());
        assert!(iuv("01", MAX_BASE + 1).is_err());
    }
}
