//! An e-mail address good enough to send to: one `@`, a sane local part, a domain with at
//! least two valid labels. Not the whole of RFC 5322 (quoted local parts, comments, IP
//! literals) nor internationalised addresses, which citizens' addresses rarely use and mail
//! relays often refuse.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid e-mail address: the local part as given, the domain lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not a valid e-mail address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("L'indirizzo e-mail non è valido: è vuoto.")]
    Empty,
    #[error("L'indirizzo e-mail non è valido: è più lungo di {MAX_LENGTH} caratteri.")]
    TooLong,
    /// No `@`, or more than one.
    #[error("L'indirizzo e-mail non è valido: deve contenere una e una sola @.")]
    AtSign,
    /// The part before the `@` is empty or longer than 64 characters.
    #[error(
        "L'indirizzo e-mail non è valido: la parte prima della @ deve avere da 1 a \
         {MAX_LOCAL_LENGTH} caratteri."
    )]
    LocalPartLength,
    /// The part before the `@` has a space, a control or non-ASCII character, or one of
    /// `<>()[]\,;:"`.
    #[error(
        "L'indirizzo e-mail non è valido: la parte prima della @ contiene caratteri non \
         ammessi (spazi, lettere accentate o uno tra < > ( ) [ ] \\ , ; : \")."
    )]
    LocalPartCharacter,
    /// The part before the `@` starts or ends with a dot, or has two dots in a row.
    #[error(
        "L'indirizzo e-mail non è valido: la parte prima della @ non può iniziare o finire \
         con un punto né contenere due punti di seguito."
    )]
    LocalPartDots,
    /// The domain has a single label (such as `localhost`).
    #[error(
        "L'indirizzo e-mail non è valido: il dominio dopo la @ deve contenere almeno un punto \
         (per esempio comune.example.it)."
    )]
    DomainTooShort,
    /// A label of the domain is empty (two dots in a row, or a dot at either end) or longer
    /// than 63 characters.
    #[error(
        "L'indirizzo e-mail non è valido: ogni parte del dominio tra due punti deve avere da 1 \
         a {MAX_LABEL_LENGTH} caratteri."
    )]
    DomainLabelLength,
    /// A label of the domain has a character other than a letter, a digit or `-`.
    #[error(
        "L'indirizzo e-mail non è valido: il dominio può contenere solo lettere, cifre, \
         trattini e punti."
    )]
    DomainLabelCharacter,
    /// A label of the domain starts or ends with `-`.
    #[error(
        "L'indirizzo e-mail non è valido: una parte del dominio non può iniziare o finire \
         con un trattino."
    )]
    DomainLabelHyphen,
    /// The last label of the domain is made of digits only.
    #[error(
        "L'indirizzo e-mail non è valido: l'ultima parte del dominio non può essere solo \
         numerica."
    )]
    NumericTopLevelDomain,
}

const MAX_LENGTH: usize = 254;
const MAX_LOCAL_LENGTH: usize = 64;
const MAX_LABEL_LENGTH: usize = 63;
const FORBIDDEN_IN_LOCAL: &str = "<>()[]\\,;:\"";

fn check_local_part(local: &str) -> Result<(), EmailError> {
    if local.is_empty() || local.chars().count() > MAX_LOCAL_LENGTH {
        return Err(EmailError::LocalPartLength);
    }
    if local
        .chars()
        .any(|c| !c.is_ascii_graphic() || FORBIDDEN_IN_LOCAL.contains(c))
    {
        return Err(EmailError::LocalPartCharacter);
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::LocalPartDots);
    }
    Ok(())
}

/// Checks a domain that is already lowercased.
fn check_domain(domain: &str) -> Result<(), EmailError> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(EmailError::DomainTooShort);
    }
    for label in &labels {
        if label.is_empty() || label.chars().count() > MAX_LABEL_LENGTH {
            return Err(EmailError::DomainLabelLength);
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(EmailError::DomainLabelCharacter);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EmailError::DomainLabelHyphen);
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(EmailError::NumericTopLevelDomain);
    }
    Ok(())
}

impl Email {
    /// Parses an e-mail address. Surrounding whitespace is ignored; the domain is stored
    /// lowercased, the local part as given (it may be case-sensitive).
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let address = input.trim();
        if address.is_empty() {
            return Err(EmailError::Empty);
        }
        if address.chars().count() > MAX_LENGTH {
            return Err(EmailError::TooLong);
        }
        let Some((local, domain)) = address.split_once('@') else {
            return Err(EmailError::AtSign);
        };
        if domain.contains('@') {
            return Err(EmailError::AtSign);
        }
        check_local_part(local)?;
        let domain = domain.to_ascii_lowercase();
        check_domain(&domain)?;
        Ok(Self(format!("{local}@{domain}")))
    }

    /// The whole address, `local@domain`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailError as E;
    use super::*;

    fn parse(s: &str) -> Result<String, EmailError> {
        Email::parse(s).map(|e| e.as_str().to_owned())
    }

    #[test]
    fn valid_addresses_are_accepted() {
        for a in [
            "mario.rossi@example.org",
            "m+tag@sub.comune.example.it",
            "a_b-c@x-y.example",
            "o'brien@example.com",
            "x@y.it",
            "1234@123.example.it",
            "!#$%&'*+-/=?^_`{|}~@example.org",
            "protocollo@pec.comune.roma.it",
            "a@xn--comune-6ta.it",
        ] {
            assert_eq!(parse(a).as_deref(), Ok(a));
        }
    }

    #[test]
    fn domain_is_lowercased_and_local_part_kept() {
        assert_eq!(
            parse(" Mario.Rossi@Example.ORG\n"),
            Ok("Mario.Rossi@example.org".into())
        );
    }

    #[test]
    fn length_limits() {
        // 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 characters: the longest accepted.
        let longest = format!(
            "{}@{}.{}.{}",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(longest.len(), 254);
        assert!(Email::parse(&longest).is_ok());
        let too_long = format!("{longest}d");
        assert_eq!(parse(&too_long), Err(E::TooLong));
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert_eq!(parse(&long_local), Err(E::LocalPartLength));
        let long_label = format!("a@{}.org", "b".repeat(64));
        assert_eq!(parse(&long_label), Err(E::DomainLabelLength));
    }

    #[test]
    fn empty_is_refused() {
        assert_eq!(parse(""), Err(E::Empty));
        assert_eq!(parse(" \t "), Err(E::Empty));
    }

    #[test]
    fn at_sign_must_appear_once() {
        assert_eq!(parse("no-at.example.org"), Err(E::AtSign));
        assert_eq!(parse("two@@example.org"), Err(E::AtSign));
        assert_eq!(parse("a@b@example.org"), Err(E::AtSign));
    }

    #[test]
    fn invalid_local_parts_are_refused() {
        assert_eq!(parse("@example.org"), Err(E::LocalPartLength));
        for a in [
            "mario rossi@example.org",
            "<mario>@example.org",
            "mario(x)@example.org",
            "[mario]@example.org",
            "mario\\x@example.org",
            "mario,x@example.org",
            "mario;x@example.org",
            "mario:x@example.org",
            "\"mario\"@example.org",
            "mariò@example.org",
            "mario\u{7}@example.org",
        ] {
            assert_eq!(parse(a), Err(E::LocalPartCharacter), "{a}");
        }
        for a in [
            ".mario@example.org",
            "mario.@example.org",
            "ma..rio@example.org",
        ] {
            assert_eq!(parse(a), Err(E::LocalPartDots), "{a}");
        }
    }

    #[test]
    fn invalid_domains_are_refused() {
        assert_eq!(parse("mario@localhost"), Err(E::DomainTooShort));
        assert_eq!(parse("mario@"), Err(E::DomainTooShort));
        for a in [
            "mario@example..org",
            "mario@.example.org",
            "mario@example.org.",
        ] {
            assert_eq!(parse(a), Err(E::DomainLabelLength), "{a}");
        }
        for a in [
            "mario@exa_mple.org",
            "mario@exa mple.org",
            "mario@comunè.it",
        ] {
            assert_eq!(parse(a), Err(E::DomainLabelCharacter), "{a}");
        }
        for a in [
            "mario@-example.org",
            "mario@example-.org",
            "mario@example.-org",
        ] {
            assert_eq!(parse(a), Err(E::DomainLabelHyphen), "{a}");
        }
        assert_eq!(parse("mario@example.123"), Err(E::NumericTopLevelDomain));
        assert_eq!(parse("mario@192.168.1.1"), Err(E::NumericTopLevelDomain));
    }

    #[test]
    fn messages_are_italian() {
        for e in [
            E::Empty,
            E::TooLong,
            E::AtSign,
            E::LocalPartLength,
            E::LocalPartCharacter,
            E::LocalPartDots,
            E::DomainTooShort,
            E::DomainLabelLength,
            E::DomainLabelCharacter,
            E::DomainLabelHyphen,
            E::NumericTopLevelDomain,
        ] {
            assert!(
                e.to_string()
                    .starts_with("L'indirizzo e-mail non è valido: "),
                "{e}"
            );
        }
        assert_eq!(
            E::TooLong.to_string(),
            "L'indirizzo e-mail non è valido: è più lungo di 254 caratteri."
        );
    }

    #[test]
    fn string_traits() {
        let e: Email = "Mario@Example.org".parse().unwrap();
        assert_eq!(e.to_string(), "Mario@example.org");
        assert_eq!(e.as_ref(), "Mario@example.org");
        assert_eq!("mario@localhost".parse::<Email>(), Err(E::DomainTooShort));
    }

    #[test]
    fn serde_round_trip() {
        let e: Email = serde_json::from_str("\" Mario@Example.IT \"").unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, "\"Mario@example.it\"");
        assert_eq!(serde_json::from_str::<Email>(&json).unwrap(), e);
    }

    #[test]
    fn serde_refuses_invalid_addresses() {
        let err = serde_json::from_str::<Email>("\"x@y\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("L'indirizzo e-mail non è valido: il dominio"),
            "{err}"
        );
        assert!(serde_json::from_str::<Email>("42").is_err());
    }
}
