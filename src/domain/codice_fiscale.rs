//! The codice fiscale of a person (16 characters), as given by SPID and CIE.
//!
//! Checked: the layout (letters and digits in their places), the month letter, the day
//! (01–31 for men, 41–71 for women), the omocodia substitutions (digits replaced by a letter
//! of `LMNPQRSTUV` when two people would otherwise share a code) and the check character of
//! DM 23/12/1976. Not checked: that the cadastral code names a real place, or that the date
//! exists (30 February passes), which would need data this module does not have.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid codice fiscale: always 16 ASCII characters, uppercase, stored as written (an
/// omocodic code keeps its substituted letters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodiceFiscale(String);

/// Why a string is not a valid codice fiscale. Positions in messages are 1-based, as a person
/// counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodiceFiscaleError {
    /// Not 16 characters once surrounding whitespace is removed; holds the count found.
    #[error("Il codice fiscale deve avere 16 caratteri (ne ha {0}).")]
    WrongLength(usize),
    /// A character that is neither an ASCII letter nor a digit.
    #[error(
        "Il codice fiscale può contenere solo lettere e cifre (contiene «{}»).",
        .0.escape_debug()
    )]
    InvalidCharacter(char),
    /// A letter where a digit belongs or the other way round; `position` is 1-based.
    #[error(
        "Il codice fiscale non è nella forma corretta: il carattere {position} dovrebbe essere {}.",
        expected_at(*.position)
    )]
    InvalidLayout { position: usize },
    /// The 9th character is not one of the month letters `ABCDEHLMPRST`.
    #[error("Il mese di nascita nel codice fiscale (nono carattere) non è valido.")]
    InvalidMonth,
    /// The day (10th and 11th characters) is not in 01–31 nor in 41–71.
    #[error(
        "Il giorno di nascita nel codice fiscale non è valido \
         (deve essere tra 01 e 31, o tra 41 e 71 per le donne)."
    )]
    InvalidDay,
    /// The 16th character does not match the one computed from the first 15.
    #[error("Il carattere di controllo del codice fiscale non è corretto.")]
    WrongCheckCharacter,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Letter,
    /// A digit, or its omocodia letter.
    Digit,
}

/// What each of the 16 positions holds: surname and name (6 letters), year (2 digits),
/// month (letter), day (2 digits), birthplace (letter and 3 digits), check letter.
const LAYOUT: [Slot; 16] = {
    use Slot::{Digit as D, Letter as L};
    [L, L, L, L, L, L, D, D, L, D, D, L, D, D, D, L]
};

/// Omocodia letters: `OMOCODIA[d]` stands for the digit `d`.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";

/// Month letters, January to December.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";

/// Values of the characters in odd positions (1st, 3rd, … 15th) for the check character,
/// indexed by the letter's offset from `A`; a digit `d` has the value of the `d`-th letter
/// (0 as A, 1 as B, …). Characters in even positions are worth their offset or digit.
const ODD_VALUES: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

const SPID_PREFIX: &str = "TINIT-";

fn expected_at(position: usize) -> &'static str {
    match position.checked_sub(1).and_then(|i| LAYOUT.get(i)) {
        Some(Slot::Digit) => "una cifra",
        _ => "una lettera",
    }
}

/// The digit that `c` stands for in a digit position: itself, or its omocodia letter.
fn digit_value(c: u8) -> Option<u8> {
    if c.is_ascii_digit() {
        Some(c - b'0')
    } else {
        OMOCODIA
            .iter()
            .position(|&o| o == c)
            .and_then(|d| u8::try_from(d).ok())
    }
}

/// The check character of the first 15 characters (uppercase ASCII letters and digits), as
/// written: omocodia letters count as letters. `None` for any other character.
fn check_character(first: &[u8]) -> Option<u8> {
    let mut sum: u32 = 0;
    for (i, &c) in first.iter().enumerate() {
        let index = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A',
            _ => return None,
        };
        // `i` is 0-based, so even `i` are the odd positions of the decree.
        let value = if i % 2 == 0 {
            *ODD_VALUES.get(usize::from(index))?
        } else {
            index
        };
        sum += u32::from(value);
    }
    u8::try_from(sum % 26).ok().map(|r| b'A' + r)
}

impl CodiceFiscale {
    /// The code whose first 15 characters are `first`, completed with its check character
    /// (how test fixtures make many valid codes); `None` if the result is not a valid code.
    pub fn complete(first: &str) -> Option<Self> {
        let check = check_character(first.as_bytes())?;
        Self::parse(&format!("{first}{}", char::from(check))).ok()
    }

    /// Parses a codice fiscale. Surrounding whitespace is ignored and lowercase letters are
    /// accepted; the value is stored uppercase.
    pub fn parse(input: &str) -> Result<Self, CodiceFiscaleError> {
        let code = input.trim().to_ascii_uppercase();
        let length = code.chars().count();
        if length != LAYOUT.len() {
            return Err(CodiceFiscaleError::WrongLength(length));
        }
        if let Some(c) = code.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(CodiceFiscaleError::InvalidCharacter(c));
        }
        // 16 ASCII characters, hence 16 bytes.
        let bytes: &[u8; 16] = code
            .as_bytes()
            .try_into()
            .map_err(|_| CodiceFiscaleError::WrongLength(code.len()))?;

        for (i, (&c, slot)) in bytes.iter().zip(LAYOUT).enumerate() {
            let fits = match slot {
                Slot::Letter => c.is_ascii_uppercase(),
                Slot::Digit => digit_value(c).is_some(),
            };
            if !fits {
                return Err(CodiceFiscaleError::InvalidLayout { position: i + 1 });
            }
        }
        if !MONTHS.contains(&bytes[8]) {
            return Err(CodiceFiscaleError::InvalidMonth);
        }
        let day = digit_value(bytes[9])
            .zip(digit_value(bytes[10]))
            .map(|(tens, units)| tens * 10 + units);
        if !matches!(day, Some(1..=31 | 41..=71)) {
            return Err(CodiceFiscaleError::InvalidDay);
        }
        if check_character(&bytes[..15]) != Some(bytes[15]) {
            return Err(CodiceFiscaleError::WrongCheckCharacter);
        }
        Ok(Self(code))
    }

    /// Parses SPID's `fiscalNumber` attribute, `TINIT-` followed by the code (the prefix in
    /// any case), or a bare code. Everything else is as [`CodiceFiscale::parse`].
    pub fn parse_spid(input: &str) -> Result<Self, CodiceFiscaleError> {
        let trimmed = input.trim();
        let code = match trimmed.split_at_checked(SPID_PREFIX.len()) {
            Some((prefix, rest)) if prefix.eq_ignore_ascii_case(SPID_PREFIX) => rest,
            _ => trimmed,
        };
        Self::parse(code)
    }

    /// The code, 16 uppercase characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The birth date and sex the code encodes. The code has only two digits of the year:
    /// the century is the one that puts the date on or before `today` (nobody is born in the
    /// future), so a code of someone over 100 reads as a young person. `None` for a date that
    /// does not exist (30 February passes [`CodiceFiscale::parse`]).
    pub fn birth(&self, today: chrono::NaiveDate) -> Option<(chrono::NaiveDate, Sex)> {
        use chrono::Datelike;
        let b = self.0.as_bytes();
        let yy = i32::from(digit_value(b[6])? * 10 + digit_value(b[7])?);
        let month = u32::try_from(MONTHS.iter().position(|&m| m == b[8])? + 1).ok()?;
        let dd = u32::from(digit_value(b[9])? * 10 + digit_value(b[10])?);
        let (day, sex) = if dd > 40 {
            (dd - 40, Sex::F)
        } else {
            (dd, Sex::M)
        };
        let century = today.year() / 100 * 100;
        let date = chrono::NaiveDate::from_ymd_opt(century + yy, month, day)?;
        if date <= today {
            Some((date, sex))
        } else {
            chrono::NaiveDate::from_ymd_opt(century - 100 + yy, month, day).map(|d| (d, sex))
        }
    }
}

/// The sex a codice fiscale encodes (its day of birth plus 40 for women).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Sex {
    M,
    F,
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
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CodiceFiscale {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::CodiceFiscaleError as E;
    use super::*;

    fn parse(s: &str) -> Result<String, CodiceFiscaleError> {
        CodiceFiscale::parse(s).map(|cf| cf.as_str().to_owned())
    }

    #[test]
    fn check_character_matches_known_codes() {
        assert_eq!(check_character(b"RSSMRA85T10A562"), Some(b'S'));
        assert_eq!(check_character(b"MRTMTT91D08F205"), Some(b'J'));
        assert_eq!(check_character(b"BNCLRA80A41H501"), Some(b'D'));
        assert_eq!(check_character(b"RSSMRA85T10A56-"), None);
    }

    #[test]
    fn valid_codes_are_accepted_unchanged() {
        for cf in [
            "RSSMRA85T10A562S",
            "MRTMTT91D08F205J",
            "VRDGPP70C15F205N",
            "RSSMRA85T01A562Q",
            "RSSMRA85T31A562T",
        ] {
            assert_eq!(parse(cf).as_deref(), Ok(cf));
        }
    }

    #[test]
    fn female_days_are_accepted() {
        for cf in ["BNCLRA80A41H501D", "NRIANN90E55L219T", "VRDLGU99P71L736K"] {
            assert_eq!(parse(cf).as_deref(), Ok(cf));
        }
    }

    #[test]
    fn lowercase_and_surrounding_whitespace_are_normalised() {
        assert_eq!(
            parse("  rssmra85t10a562s \t\n"),
            Ok("RSSMRA85T10A562S".into())
        );
        assert_eq!(parse("MrtMtt91d08F205j"), Ok("MRTMTT91D08F205J".into()));
    }

    #[test]
    fn omocodia_with_one_substitution() {
        // RSSMRA85T10A562S with its last digit 2 written N: the check character changes.
        assert_eq!(parse("RSSMRA85T10A56NH"), Ok("RSSMRA85T10A56NH".into()));
        assert_eq!(parse("rssmra85t10a56nh"), Ok("RSSMRA85T10A56NH".into()));
        // The check character of the unsubstituted code is not the right one.
        assert_eq!(parse("RSSMRA85T10A56NS"), Err(E::WrongCheckCharacter));
    }

    #[test]
    fn omocodia_with_several_substitutions() {
        // All seven digits substituted: 85 → UR, 10 → ML, 562 → RSN.
        assert_eq!(parse("RSSMRAURTMLARSNL"), Ok("RSSMRAURTMLARSNL".into()));
        // Both digits of the day: QN is 42, a woman born on the 2nd.
        assert_eq!(parse("RSSMRA85TQNA562A"), Ok("RSSMRA85TQNA562A".into()));
        // A woman's day with its units substituted (4Q = 44), and two of the birthplace
        // digits (404 → 4LQ).
        assert_eq!(parse("BNCGNN01R4QZ4LQY"), Ok("BNCGNN01R4QZ4LQY".into()));
    }

    #[test]
    fn omocodic_day_is_decoded_before_the_range_check() {
        assert_eq!(parse("RSSMRA85T3NA562A"), Err(E::InvalidDay)); // 32
        assert_eq!(parse("RSSMRA85TLLA562A"), Err(E::InvalidDay)); // 00
        assert_eq!(parse("RSSMRA85TVMA562A"), Err(E::InvalidDay)); // 91
    }

    #[test]
    fn wrong_length_is_refused() {
        assert_eq!(parse(""), Err(E::WrongLength(0)));
        assert_eq!(parse("   "), Err(E::WrongLength(0)));
        assert_eq!(parse("RSSMRA85T10A562"), Err(E::WrongLength(15)));
        assert_eq!(parse("RSSMRA85T10A562SX"), Err(E::WrongLength(17)));
        assert_eq!(
            E::WrongLength(15).to_string(),
            "Il codice fiscale deve avere 16 caratteri (ne ha 15)."
        );
    }

    #[test]
    fn invalid_characters_are_refused() {
        assert_eq!(parse("RSSMRA85T10A562-"), Err(E::InvalidCharacter('-')));
        assert_eq!(parse("RSSMRA85 10A562S"), Err(E::InvalidCharacter(' ')));
        // Counted in characters, not bytes: 16 characters, one of them not ASCII.
        assert_eq!(parse("RSSMRA85T10A562é"), Err(E::InvalidCharacter('é')));
        assert_eq!(
            E::InvalidCharacter('-').to_string(),
            "Il codice fiscale può contenere solo lettere e cifre (contiene «-»)."
        );
    }

    #[test]
    fn invalid_layout_reports_the_position() {
        assert_eq!(
            parse("R5SMRA85T10A562S"),
            Err(E::InvalidLayout { position: 2 })
        );
        // A letter outside LMNPQRSTUV in a digit position is not omocodia.
        assert_eq!(
            parse("RSSMRA8AT10A562S"),
            Err(E::InvalidLayout { position: 8 })
        );
        assert_eq!(
            parse("RSSMRA85110A562S"),
            Err(E::InvalidLayout { position: 9 })
        );
        assert_eq!(
            parse("RSSMRA85T10A5K2S"),
            Err(E::InvalidLayout { position: 14 })
        );
        assert_eq!(
            parse("RSSMRA85T10A5623"),
            Err(E::InvalidLayout { position: 16 })
        );
        assert_eq!(
            E::InvalidLayout { position: 8 }.to_string(),
            "Il codice fiscale non è nella forma corretta: il carattere 8 dovrebbe essere una cifra."
        );
        assert!(E::InvalidLayout { position: 2 }
            .to_string()
            .ends_with("dovrebbe essere una lettera."));
        // Out-of-range positions still print something sensible.
        assert!(E::InvalidLayout { position: 0 }
            .to_string()
            .ends_with("una lettera."));
    }

    #[test]
    fn invalid_month_is_refused() {
        assert_eq!(parse("RSSMRA85Z10A562S"), Err(E::InvalidMonth));
        assert_eq!(parse("RSSMRA85F10A562S"), Err(E::InvalidMonth));
        assert!(E::InvalidMonth.to_string().contains("mese di nascita"));
    }

    #[test]
    fn invalid_day_is_refused() {
        for day in ["00", "32", "40", "72", "99"] {
            let cf = format!("RSSMRA85T{day}A562S");
            assert_eq!(parse(&cf), Err(E::InvalidDay), "{cf}");
        }
        assert!(E::InvalidDay.to_string().contains("giorno di nascita"));
    }

    #[test]
    fn wrong_check_character_is_refused() {
        assert_eq!(parse("RSSMRA85T10A562X"), Err(E::WrongCheckCharacter));
        assert_eq!(parse("BNCLRA80A41H501A"), Err(E::WrongCheckCharacter));
        assert_eq!(
            E::WrongCheckCharacter.to_string(),
            "Il carattere di controllo del codice fiscale non è corretto."
        );
    }

    #[test]
    fn every_message_names_the_codice_fiscale() {
        for e in [
            E::WrongLength(3),
            E::InvalidCharacter('?'),
            E::InvalidLayout { position: 7 },
            E::InvalidMonth,
            E::InvalidDay,
            E::WrongCheckCharacter,
        ] {
            assert!(e.to_string().contains("codice fiscale"), "{e}");
        }
    }

    #[test]
    fn spid_prefix_is_removed() {
        for input in [
            "TINIT-RSSMRA85T10A562S",
            "tinit-rssmra85t10a562s",
            "TinIt-RSSMRA85T10A562S",
            "  TINIT-RSSMRA85T10A562S  ",
            "RSSMRA85T10A562S",
        ] {
            let cf = CodiceFiscale::parse_spid(input);
            assert_eq!(
                cf.as_ref().map(CodiceFiscale::as_str),
                Ok("RSSMRA85T10A562S")
            );
        }
        assert_eq!(
            CodiceFiscale::parse_spid("TINIT-RSSMRAURTMLARSNL").map(|cf| cf.to_string()),
            Ok("RSSMRAURTMLARSNL".into())
        );
    }

    #[test]
    fn spid_form_is_otherwise_checked_as_parse() {
        let spid = CodiceFiscale::parse_spid;
        assert_eq!(spid("TINIT-RSSMRA85T10A562X"), Err(E::WrongCheckCharacter));
        assert_eq!(spid("TINIT-"), Err(E::WrongLength(0)));
        assert_eq!(spid("TINIT"), Err(E::WrongLength(5)));
        assert_eq!(spid("TINXX-RSSMRA85T10A562S"), Err(E::WrongLength(22)));
        assert_eq!(
            spid("TINIT-TINIT-RSSMRA85T10A562S"),
            Err(E::WrongLength(22))
        );
        // The plain parser does not take the prefix.
        assert_eq!(parse("TINIT-RSSMRA85T10A562S"), Err(E::WrongLength(22)));
    }

    #[test]
    fn string_traits() {
        let cf: CodiceFiscale = "rssmra85t10a562s".parse().unwrap();
        assert_eq!(cf.to_string(), "RSSMRA85T10A562S");
        assert_eq!(cf.as_ref(), "RSSMRA85T10A562S");
        assert_eq!(
            "RSSMRA85T10A562X".parse::<CodiceFiscale>(),
            Err(E::WrongCheckCharacter)
        );
    }

    #[test]
    fn serde_round_trip() {
        let cf = CodiceFiscale::parse("BNCLRA80A41H501D").unwrap();
        let json = serde_json::to_string(&cf).unwrap();
        assert_eq!(json, "\"BNCLRA80A41H501D\"");
        assert_eq!(serde_json::from_str::<CodiceFiscale>(&json).unwrap(), cf);
        let lower: CodiceFiscale = serde_json::from_str("\" bnclra80a41h501d \"").unwrap();
        assert_eq!(lower, cf);
    }

    #[test]
    fn serde_refuses_invalid_codes() {
        let err = serde_json::from_str::<CodiceFiscale>("\"RSSMRA85T10A562X\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("Il carattere di controllo del codice fiscale non è corretto"),
            "{err}"
        );
        let err = serde_json::from_str::<CodiceFiscale>("\"RSS\"").unwrap_err();
        assert!(err.to_string().contains("16 caratteri"), "{err}");
        assert!(serde_json::from_str::<CodiceFiscale>("1234").is_err());
    }

    #[test]
    fn the_code_tells_birth_date_and_sex() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let d = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let cf = CodiceFiscale::parse("RSSMRA85T10A562S").unwrap();
        assert_eq!(cf.birth(today), Some((d(1985, 12, 10), Sex::M)));
        let cf = CodiceFiscale::parse("RSSLCU17E03G702V").unwrap();
        assert_eq!(cf.birth(today), Some((d(2017, 5, 3), Sex::M)));
        // A woman's day is plus 40; a year after today's is of the last century.
        let cf = CodiceFiscale::parse("BNCGLI88A55G702G").unwrap();
        assert_eq!(cf.birth(today), Some((d(1988, 1, 15), Sex::F)));
    }
}
