//! An e-mail address good enough to send to: one `@`, a sane local part, a domain with at
//! least two valid labels. Not the whole of RFC 5322 (quoted local parts, IP literals),
//! which citizens' addresses do not use and mail relays often refuse.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("L'indirizzo e-mail non è valido: {0}.")]
pub struct EmailError(&'static str);

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError("è vuoto"));
        }
        if s.len() > 254 {
            return Err(EmailError("è troppo lungo"));
        }
        let mut parts = s.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError("deve contenere una sola @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(EmailError("la parte prima della @ è vuota o troppo lunga"));
        }
        let bad_local = |c: char| !c.is_ascii_graphic() || "<>()[]\\,;:\"".contains(c);
        if local.chars().any(bad_local)
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(EmailError(
                "la parte prima della @ contiene caratteri non ammessi",
            ));
        }
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(EmailError("il dominio deve avere almeno un punto"));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(EmailError("il dominio non è valido"));
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(EmailError("il dominio non è valido"));
        }
        Ok(Self(format!("{local}@{domain}")))
    }

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
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses() {
        for a in [
            "mario.rossi@example.org",
            "m+tag@sub.comune.example.it",
            "a_b-c@x-y.example",
            "o'brien@example.com",
        ] {
            assert!(Email::parse(a).is_ok(), "{a}");
        }
        assert_eq!(
            Email::parse(" Mario@Example.ORG ").unwrap().as_str(),
            "Mario@example.org"
        );
    }

    #[test]
    fn invalid_addresses() {
        for a in [
            "",
            "no-at.example.org",
            "two@@example.org",
            "a@b@example.org",
            "@example.org",
            "mario@",
            "mario@localhost",
            "mario rossi@example.org",
            ".mario@example.org",
            "mario.@example.org",
            "ma..rio@example.org",
            "mario@-example.org",
            "mario@example..org",
            "mario@example.123",
            "mario@exa_mple.org",
            "<mario>@example.org",
        ] {
            assert!(Email::parse(a).is_err(), "{a}");
        }
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let long = format!("a@{}.org", "b".repeat(260));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn messages_are_italian_and_serde_uses_parse() {
        let e = Email::parse("x").unwrap_err();
        assert!(e.to_string().starts_with("L'indirizzo e-mail non è valido"));
        assert!(serde_json::from_str::<Email>("\"x@y\"").is_err());
        let ok: Email = serde_json::from_str("\"x@y.it\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"x@y.it\"");
    }
}
