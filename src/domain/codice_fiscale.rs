//! The codice fiscale of a person (16 characters), as given by SPID and CIE.
//!
//! Checked: layout, month letter, day (1–31, +40 for women), the omocodia substitutions
//! (digits replaced by `LMNPQRSTUV` when two people would share a code) and the check
//! character of DM 23/12/1976.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodiceFiscale(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodiceFiscaleError {
    #[error("Il codice fiscale deve avere 16 caratteri (ne ha {0}).")]
    Length(usize),
    #[error("Il codice fiscale può contenere solo lettere e cifre.")]
    Character,
    #[error("Il codice fiscale non è nella forma corretta (carattere {0}).")]
    Layout(usize),
    #[error("Il mese di nascita nel codice fiscale non è valido.")]
    Month,
    #[error("Il giorno di nascita nel codice fiscale non è valido.")]
    Day,
    #[error("Il carattere di controllo del codice fiscale non è corretto.")]
    CheckCharacter,
}

/// Positions (0-based) that hold digits, which omocodia may replace with letters.
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";
/// Values of characters in odd positions (1st, 3rd, … i.e. 0-based even), for 0-9 and A-Z.
const ODD_DIGITS: [u32; 10] = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21];
const ODD_LETTERS: [u32; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

fn decode_digit(c: u8) -> Option<u32> {
    if c.is_ascii_digit() {
        Some(u32::from(c - b'0'))
    } else {
        OMOCODIA.iter().position(|&o| o == c).map(|p| p as u32)
    }
}

fn check_character(code: &[u8]) -> u8 {
    let sum: u32 = code[..15]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let (digit, letter) = if c.is_ascii_digit() {
                (Some(usize::from(c - b'0')), None)
            } else {
                (None, Some(usize::from(c - b'A')))
            };
            if i % 2 == 0 {
                digit.map_or_else(|| ODD_LETTERS[letter.unwrap_or(0)], |d| ODD_DIGITS[d])
            } else {
                digit.map_or_else(|| letter.unwrap_or(0) as u32, |d| d as u32)
            }
        })
        .sum();
    b'A' + (sum % 26) as u8
}

impl CodiceFiscale {
    /// Parses a codice fiscale; surrounding spaces and lowercase are accepted.
    pub fn parse(input: &str) -> Result<Self, CodiceFiscaleError> {
        let code = input.trim().to_ascii_uppercase();
        let len = code.chars().count();
        if len != 16 {
            return Err(CodiceFiscaleError::Length(len));
        }
        let b = code.as_bytes();
        if !b.iter().all(u8::is_ascii_alphanumeric) {
            return Err(CodiceFiscaleError::Character);
        }
        for (i, &c) in b.iter().enumerate() {
            let ok = if DIGIT_POSITIONS.contains(&i) {
                decode_digit(c).is_some()
            } else {
                c.is_ascii_uppercase()
            };
            if !ok {
                return Err(CodiceFiscaleError::Layout(i + 1));
            }
        }
        if !MONTHS.contains(&b[8]) {
            return Err(CodiceFiscaleError::Month);
        }
        let day = decode_digit(b[9]).unwrap_or(0) * 10 + decode_digit(b[10]).unwrap_or(0);
        if !((1..=31).contains(&day) || (41..=71).contains(&day)) {
            return Err(CodiceFiscaleError::Day);
        }
        if check_character(b) != b[15] {
            return Err(CodiceFiscaleError::CheckCharacter);
        }
        Ok(Self(code))
    }

    /// Parses SPID's `fiscalNumber` (`TINIT-` followed by the code) or a bare code.
    pub fn parse_spid(input: &str) -> Result<Self, CodiceFiscaleError> {
        let t = input.trim();
        let bare = match t.get(..6) {
            Some(prefix) if prefix.eq_ignore_ascii_case("TINIT-") => &t[6..],
            _ => t,
        };
        Self::parse(bare)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CodiceFiscale {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for CodiceFiscale {
    type Err = CodiceFiscaleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for CodiceFiscale {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CodiceFiscale {
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
        for cf in [
            "RSSMRA85T10A562S",
            "BNCLRA80A41H501D",
            "VRDGPP70C15F205N",
            "NRIANN90E55L219T",
        ] {
            assert_eq!(CodiceFiscale::parse(cf).unwrap().as_str(), cf);
        }
    }

    #[test]
    fn lowercase_and_spaces_are_normalised() {
        let cf = CodiceFiscale::parse("  rssmra85t10a562s ").unwrap();
        assert_eq!(cf.to_string(), "RSSMRA85T10A562S");
    }

    #[test]
    fn omocodia_substitutions_are_accepted_with_their_check_character() {
        // RSSMRA85T10A562S with the last digit 2 → N: check char recomputed.
        let with_one = {
            let mut b = *b"RSSMRA85T10A56N_";
            b[15] = check_character(&b);
            String::from_utf8(b.to_vec()).unwrap()
        };
        assert!(CodiceFiscale::parse(&with_one).is_ok(), "{with_one}");
        // Every digit position substituted: 85→UR, 10→ML, 562→RSN.
        let with_all = {
            let mut b = *b"RSSMRAURTMLARSN_";
            b[15] = check_character(&b);
            String::from_utf8(b.to_vec()).unwrap()
        };
        assert!(CodiceFiscale::parse(&with_all).is_ok(), "{with_all}");
        // A substitution letter outside LMNPQRSTUV is not omocodia.
        assert_eq!(
            CodiceFiscale::parse("RSSMRA8AT10A562S"),
            Err(CodiceFiscaleError::Layout(8))
        );
    }

    #[test]
    fn each_error_is_reported() {
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T10A562"),
            Err(CodiceFiscaleError::Length(15))
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T10A562-"),
            Err(CodiceFiscaleError::Character)
        );
        assert_eq!(
            CodiceFiscale::parse("R5SMRA85T10A562S"),
            Err(CodiceFiscaleError::Layout(2))
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85Z10A562S"),
            Err(CodiceFiscaleError::Month)
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T32A562S"),
            Err(CodiceFiscaleError::Day)
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T00A562S"),
            Err(CodiceFiscaleError::Day)
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T72A562S"),
            Err(CodiceFiscaleError::Day)
        );
        assert_eq!(
            CodiceFiscale::parse("RSSMRA85T10A562X"),
            Err(CodiceFiscaleError::CheckCharacter)
        );
        assert!(CodiceFiscaleError::CheckCharacter
            .to_string()
            .contains("controllo"));
    }

    #[test]
    fn spid_prefix() {
        let cf = CodiceFiscale::parse_spid("TINIT-RSSMRA85T10A562S").unwrap();
        assert_eq!(cf.as_str(), "RSSMRA85T10A562S");
        assert!(CodiceFiscale::parse_spid("tinit-rssmra85t10a562s").is_ok());
        assert!(CodiceFiscale::parse_spid("RSSMRA85T10A562S").is_ok());
        assert!(CodiceFiscale::parse_spid("TINIT-RSSMRA85T10A562X").is_err());
        assert!(CodiceFiscale::parse_spid("TINXX-RSSMRA85T10A562S").is_err());
    }

    #[test]
    fn serde_goes_through_parse() {
        let cf: CodiceFiscale = serde_json::from_str("\"rssmra85t10a562s\"").unwrap();
        assert_eq!(serde_json::to_string(&cf).unwrap(), "\"RSSMRA85T10A562S\"");
        let err = serde_json::from_str::<CodiceFiscale>("\"RSSMRA85T10A562X\"").unwrap_err();
        assert!(err.to_string().contains("controllo"));
    }
}
