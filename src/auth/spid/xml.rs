//! A small owned XML tree for reading SAML messages, built with libxml2 (the parser xmlsec
//! verifies signatures with), and the SAML date-time rules.
//!
//! Parsing is strict: no recovery from malformed input, no network, and documents with a
//! DTD (`<!DOCTYPE`, entity declarations) are refused before they reach the parser, so there
//! is no entity expansion of any kind.

use chrono::{DateTime, NaiveDateTime, Utc};
use libxml::parser::{Parser, ParserOptions};

pub const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// An element: namespace URI, local name, attributes (unqualified ones only: SAML uses no
/// qualified attributes that matter here), child elements and its text content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// The concatenated text of the element and its descendants.
    pub text: String,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Child elements with that name.
    pub fn all<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    pub fn first(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn count(&self, ns: &str, name: &str) -> usize {
        self.all(ns, name).count()
    }

    /// Every descendant (and self) with that name, depth first.
    pub fn descendants<'a>(&'a self, ns: &str, name: &str, out: &mut Vec<&'a Element>) {
        if self.is(ns, name) {
            out.push(self);
        }
        for c in &self.children {
            c.descendants(ns, name, out);
        }
    }

    pub fn trimmed_text(&self) -> &str {
        self.text.trim()
    }
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("the document declares a DTD or entities")]
    Dtd,
    #[error("the document is not well-formed XML")]
    Malformed,
    #[error("the document is empty")]
    Empty,
}

/// Parses a document strictly and returns its root element.
pub fn parse(xml: &[u8]) -> Result<Element, XmlError> {
    if contains(xml, b"<!DOCTYPE") || contains(xml, b"<!ENTITY") {
        return Err(XmlError::Dtd);
    }
    let options = ParserOptions {
        recover: false,
        no_def_dtd: true,
        no_error: true,
        no_warning: true,
        pedantic: false,
        no_blanks: false,
        no_net: true,
        no_implied: false,
        compact: false,
        ignore_enc: false,
        encoding: None,
    };
    let doc = Parser::default()
        .parse_string_with_options(xml, options)
        .map_err(|_| XmlError::Malformed)?;
    let root = doc.get_root_element().ok_or(XmlError::Empty)?;
    Ok(convert(&root))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn convert(node: &libxml::tree::Node) -> Element {
    let mut attrs: Vec<(String, String)> = node.get_properties().into_iter().collect();
    attrs.sort();
    Element {
        ns: node
            .get_namespace()
            .map(|n| n.get_href())
            .unwrap_or_default(),
        name: node.get_name(),
        attrs,
        children: node.get_child_elements().iter().map(convert).collect(),
        text: node.get_content(),
    }
}

/// An `xs:dateTime` in UTC as SAML requires (`2026-11-23T10:00:00Z`, optional fraction).
pub fn parse_instant(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if !s.ends_with('Z') || s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc).naive_utc())
}

/// The SAML form of an instant, to the second.
pub fn format_instant(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Escapes text for an attribute value or element content (the HTML escaper is valid XML).
pub use crate::error::escape_html as escape;

/// A fresh SAML message ID (an xsd:ID must not start with a digit): `_` and 32 hex digits.
pub fn new_id() -> anyhow::Result<String> {
    Ok(format!("_{}", crate::auth::random_hex(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_attributes_and_text() {
        let root = parse(
            br#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"
                xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1">
                <saml:Issuer Format="x"> idp </saml:Issuer></samlp:Response>"#,
        )
        .unwrap();
        assert!(root.is(NS_SAMLP, "Response"));
        assert_eq!(root.attr("ID"), Some("_1"));
        let issuer = root.first(NS_SAML, "Issuer").unwrap();
        assert_eq!(issuer.trimmed_text(), "idp");
        assert_eq!(issuer.attr("Format"), Some("x"));
        assert_eq!(root.count(NS_SAML, "Assertion"), 0);
    }

    #[test]
    fn refuses_dtds_and_malformed_documents() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(matches!(parse(xxe), Err(XmlError::Dtd)));
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Malformed)));
        assert!(matches!(parse(b"not xml"), Err(XmlError::Malformed)));
    }

    #[test]
    fn instants_must_be_utc_date_times() {
        assert!(parse_instant("2026-11-23T10:00:00Z").is_some());
        assert!(parse_instant("2026-11-23T10:00:00.123456Z").is_some());
        assert!(parse_instant("2026-11-23T10:00:00+01:00").is_none());
        assert!(parse_instant("2026-11-23 10:00:00Z").is_none());
        assert!(parse_instant("23/11/2026").is_none());
        assert!(parse_instant("").is_none());
        let t = parse_instant("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(format_instant(t), "2026-11-23T10:00:00Z");
    }
}
