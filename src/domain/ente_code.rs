//! The code of an ente (tenant), normally its IPA code such as `c_h501` (Roma Capitale).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnteCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Codice ente non valido: «{0}» (lettere minuscole, cifre e _, da 2 a 32 caratteri, iniziando con una lettera).")]
pub struct EnteCodeError(String);

impl EnteCode {
    pub fn parse(input: &str) -> Result<Self, EnteCodeError> {
        let code = input.trim().to_ascii_lowercase();
        let mut chars = code.chars();
        let ok = (2..=32).contains(&code.len())
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(code))
        } else {
            Err(EnteCodeError(input.chars().take(40).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EnteCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnteCode {
    type Err = EnteCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for EnteCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EnteCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes() {
        for c in ["c_h501", "r_lazio", "uniroma1", "ab", "C_H501 "] {
            assert!(EnteCode::parse(c).is_ok(), "{c}");
        }
        assert_eq!(EnteCode::parse(" C_H501 ").unwrap().as_str(), "c_h501");
    }

    #[test]
    fn invalid_codes() {
        for c in [
            "",
            "a",
            "1abc",
            "_abc",
            "c-h501",
            "c h501",
            "comune!",
            &"a".repeat(33),
        ] {
            assert!(EnteCode::parse(c).is_err(), "{c}");
        }
        assert!(EnteCode::parse("x!")
            .unwrap_err()
            .to_string()
            .starts_with("Codice ente non valido"));
    }

    #[test]
    fn serde_goes_through_parse() {
        let c: EnteCode = serde_json::from_str("\"C_X000\"").unwrap();
        assert_eq!(c.as_str(), "c_x000");
        assert!(serde_json::from_str::<EnteCode>("\"??\"").is_err());
    }
}
