//! The number of a protocol registration: unique and gap-free per AOO and calendar year,
//! starting at 1 each year, written with at least seven digits (DPR 445/2000 art. 57).

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolNumber(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Numero di protocollo non valido: «{0}».")]
pub struct ProtocolNumberError(String);

impl ProtocolNumber {
    /// From the register's counter; 0 and values beyond the seven-digit yearly range of any
    /// real AOO (the counter is a BIGINT) are refused.
    pub fn new(n: i64) -> Result<Self, ProtocolNumberError> {
        match u32::try_from(n) {
            Ok(v) if v >= 1 => Ok(Self(v)),
            _ => Err(ProtocolNumberError(n.to_string())),
        }
    }

    /// Parses `0000042` or `42`.
    pub fn parse(s: &str) -> Result<Self, ProtocolNumberError> {
        let t = s.trim();
        if t.is_empty() || t.len() > 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProtocolNumberError(s.chars().take(20).collect()));
        }
        t.parse::<i64>()
            .map_err(|_| ProtocolNumberError(t.to_owned()))
            .and_then(Self::new)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ProtocolNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:07}", self.0)
    }
}

impl Serialize for ProtocolNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_digits_at_least() {
        assert_eq!(ProtocolNumber::new(1).unwrap().to_string(), "0000001");
        assert_eq!(ProtocolNumber::new(1234567).unwrap().to_string(), "1234567");
        assert_eq!(
            ProtocolNumber::new(12345678).unwrap().to_string(),
            "12345678"
        );
    }

    #[test]
    fn parse_and_refuse() {
        assert_eq!(ProtocolNumber::parse("0000042").unwrap().get(), 42);
        assert_eq!(ProtocolNumber::parse("42").unwrap().get(), 42);
        for bad in ["", "0", "0000000", "-1", "12a", "99999999999"] {
            assert!(ProtocolNumber::parse(bad).is_err(), "{bad}");
        }
        assert!(ProtocolNumber::new(0).is_err());
        assert!(ProtocolNumber::new(-5).is_err());
    }

    #[test]
    fn serialises_as_padded_string() {
        let n = ProtocolNumber::new(7).unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"0000007\"");
    }
}
