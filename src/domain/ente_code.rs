//! The code of an ente (tenant), normally its IPA code such as `c_h501` (Roma Capitale).
//!
//! Valid codes match `^[a-z][a-z0-9_]{1,31}$` once trimmed and lowercased.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid ente code: 2 to 32 characters, lowercase ASCII letters, digits and `_`, starting
/// with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnteCode(String);

/// A string that is not a valid ente code. The message quotes (the start of) the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Codice ente non valido: «{input}» (servono da {MIN_LENGTH} a {MAX_LENGTH} caratteri tra \
     lettere minuscole, cifre e _, e il primo deve essere una lettera)."
)]
pub struct EnteCodeError {
    input: String,
}

const MIN_LENGTH: usize = 2;
const MAX_LENGTH: usize = 32;
/// How much of a refused input the error message quotes.
const QUOTED_LENGTH: usize = 40;

impl EnteCodeError {
    fn new(input: &str) -> Self {
        let mut quoted: String = input
            .chars()
            .take(QUOTED_LENGTH)
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .collect();
        if input.chars().nth(QUOTED_LENGTH).is_some() {
            quoted.push('…');
        }
        Self { input: quoted }
    }

    /// The refused input as quoted in the message: trimmed, at most 40 characters, control
    /// characters replaced.
    pub fn input(&self) -> &str {
        &self.input
    }
}

fn is_valid(code: &str) -> bool {
    let mut chars = code.chars();
    (MIN_LENGTH..=MAX_LENGTH).contains(&code.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl EnteCode {
    /// Parses an ente code. Surrounding whitespace is ignored and uppercase letters are
    /// accepted; the value is stored lowercase.
    pub fn parse(input: &str) -> Result<Self, EnteCodeError> {
        let trimmed = input.trim();
        let code = trimmed.to_ascii_lowercase();
        if is_valid(&code) {
            Ok(Self(code))
        } else {
            Err(EnteCodeError::new(trimmed))
        }
    }

    /// The code, lowercase.
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
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EnteCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<String> {
        EnteCode::parse(s).ok().map(|c| c.as_str().to_owned())
    }

    #[test]
    fn valid_codes_are_accepted() {
        for c in [
            "c_h501",
            "r_lazio",
            "uniroma1",
            "ab",
            "a_",
            "x0",
            "c_a000_b_",
            &"a".repeat(32),
        ] {
            assert_eq!(parse(c).as_deref(), Some(c));
        }
    }

    #[test]
    fn case_and_whitespace_are_normalised() {
        assert_eq!(parse(" C_H501 \n").as_deref(), Some("c_h501"));
        assert_eq!(parse("R_Lazio").as_deref(), Some("r_lazio"));
    }

    #[test]
    fn invalid_codes_are_refused() {
        for c in [
            "",
            "   ",
            "a",
            "1abc",
            "_abc",
            "c-h501",
            "c h501",
            "c.h501",
            "comune!",
            "città",
            "ç_h501",
            &"a".repeat(33),
        ] {
            assert_eq!(parse(c), None, "{c}");
        }
    }

    #[test]
    fn message_is_italian_and_quotes_the_input() {
        let e = EnteCode::parse(" c-h501 ").unwrap_err();
        assert_eq!(e.input(), "c-h501");
        assert_eq!(
            e.to_string(),
            "Codice ente non valido: «c-h501» (servono da 2 a 32 caratteri tra lettere \
             minuscole, cifre e _, e il primo deve essere una lettera)."
        );
    }

    #[test]
    fn message_quotes_long_or_odd_input_safely() {
        let long = "x-".repeat(30);
        let e = EnteCode::parse(&long).unwrap_err();
        assert_eq!(e.input(), format!("{}…", "x-".repeat(20)));
        let e = EnteCode::parse("a\u{1b}[31m").unwrap_err();
        assert_eq!(e.input(), "a\u{fffd}[31m");
    }

    #[test]
    fn string_traits() {
        let c: EnteCode = "C_H501".parse().unwrap();
        assert_eq!(c.to_string(), "c_h501");
        assert_eq!(c.as_ref(), "c_h501");
        assert!("1".parse::<EnteCode>().is_err());
    }

    #[test]
    fn serde_round_trip() {
        let c: EnteCode = serde_json::from_str("\"C_X000\"").unwrap();
        assert_eq!(c.as_str(), "c_x000");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"c_x000\"");
        assert_eq!(serde_json::from_str::<EnteCode>(&json).unwrap(), c);
    }

    #[test]
    fn serde_refuses_invalid_codes() {
        let err = serde_json::from_str::<EnteCode>("\"??\"").unwrap_err();
        assert!(
            err.to_string().contains("Codice ente non valido: «??»"),
            "{err}"
        );
        assert!(serde_json::from_str::<EnteCode>("7").is_err());
    }
}
