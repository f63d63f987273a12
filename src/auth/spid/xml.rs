//! A small owned XML tree for reading SAML messages, built with libxml2 (the parser xmlsec
//! verifies signatures with), and the SAML date-time rules.
//!
//! Parsing is strict (see [`parse`]): UTF-8 only, no recovery from malformed input, no
//! network, no DTD (so no entity expansion of any kind), and bounded in size, depth and
//! element count, so a hostile document costs about as much memory as its own size.

use chrono::{DateTime, NaiveDateTime, Utc};
use libxml::parser::{Parser, ParserOptions};
use libxml::readonly::RoNode;
use libxml::tree::NodeType;

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
    /// The element's own text (its text and CDATA children, not its descendants': the SAML
    /// values read are all leaves, and so every text node is copied once).
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

/// Largest SAML document read (a SPID Response is 5–20 KiB; a LogoutRequest less).
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024;
/// Deepest element nesting read (a signed SPID Response nests about 8 levels).
pub const MAX_DEPTH: usize = 32;
/// Most elements read in one document (a SPID Response has about 60).
pub const MAX_ELEMENTS: usize = 1000;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("the document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the document is not UTF-8 ({0})")]
    Encoding(&'static str),
    #[error("the document declares a DTD or entities")]
    Dtd,
    #[error("the document nests elements deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("the document has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("the document is not well-formed XML")]
    Malformed,
    #[error("the document is empty")]
    Empty,
}

/// Parses a SAML document strictly and returns its root element.
///
/// SPID IdPs send UTF-8, so only UTF-8 is read: anything else (a UTF-16 or UTF-32 byte
/// order, NUL bytes, an `encoding` declaration other than UTF-8, such as UTF-7 or
/// ISO-8859-1) is refused before the parser starts, and the parser ignores encoding declarations so it
/// never switches on its own. The parser runs without DTD loading, entity substitution,
/// network access, recovery or huge-node support; a document type declaration is then
/// refused by what the parser found (not by searching bytes), before the tree is read.
/// Reading the tree is bounded in depth and element count, and each text node is copied
/// once.
pub fn parse(xml: &[u8]) -> Result<Element, XmlError> {
    if xml.len() > MAX_DOCUMENT_BYTES {
        return Err(XmlError::TooLarge);
    }
    parse_utf8(check_utf8(xml)?.as_bytes())
}

/// Refuses every document that is not plainly UTF-8; returns its text without a byte order
/// mark (the parser ignores encoding hints, so it would read one as text).
fn check_utf8(xml: &[u8]) -> Result<&str, XmlError> {
    if xml.starts_with(&[0xFE, 0xFF]) || xml.starts_with(&[0xFF, 0xFE]) {
        return Err(XmlError::Encoding("UTF-16 byte order mark"));
    }
    if xml.contains(&0) {
        // UTF-16 and UTF-32 without a byte order mark: '<' next to NUL bytes.
        return Err(XmlError::Encoding("NUL bytes"));
    }
    let text = std::str::from_utf8(xml).map_err(|_| XmlError::Encoding("invalid UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(decl) = text.strip_prefix("<?xml") {
        let decl = decl.split("?>").next().unwrap_or_default();
        if let Some(encoding) = declared_encoding(decl) {
            if !encoding.eq_ignore_ascii_case("UTF-8") {
                return Err(XmlError::Encoding("declared encoding other than UTF-8"));
            }
        }
    }
    Ok(text)
}

/// The value of `encoding="…"` in an XML declaration's text, if any.
fn declared_encoding(decl: &str) -> Option<&str> {
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    rest.split(quote).next()
}

/// The parser's part of [`parse`], on bytes already known to be UTF-8.
fn parse_utf8(xml: &[u8]) -> Result<Element, XmlError> {
    // Only options that restrict: no `no_def_dtd` (the crate maps it to HTML's NODEFDTD,
    // which for XML is XML_PARSE_DTDLOAD, the opposite of what it says), no entity
    // substitution (XML_PARSE_NOENT), no XML_PARSE_HUGE, and the encoding declaration ignored.
    let options = ParserOptions {
        recover: false,
        no_def_dtd: false,
        no_error: true,
        no_warning: true,
        pedantic: false,
        no_blanks: false,
        no_net: true,
        no_implied: false,
        compact: false,
        ignore_enc: true,
        // Not named: looking an encoding handler up races with xmlsec's set-up and clean-up
        // in other threads (the parse then fails). With the declaration ignored and no byte
        // order mark other than UTF-8's (checked before), libxml reads UTF-8, natively.
        encoding: None,
    };
    let doc = Parser::default()
        .parse_string_with_options(xml, options)
        .map_err(|_| XmlError::Malformed)?;
    // A document type declaration, internal or external, is a child of the document node.
    let mut top = doc.as_node().get_first_child();
    while let Some(node) = top {
        if matches!(
            node.get_type(),
            Some(NodeType::DTDNode | NodeType::DocumentTypeNode)
        ) {
            return Err(XmlError::Dtd);
        }
        top = node.get_next_sibling();
    }
    let root = doc.get_root_readonly().ok_or(XmlError::Empty)?;
    let mut elements = 0;
    convert(root, 1, &mut elements)
}

fn convert(node: RoNode, depth: usize, elements: &mut usize) -> Result<Element, XmlError> {
    if depth > MAX_DEPTH {
        return Err(XmlError::TooDeep);
    }
    *elements += 1;
    if *elements > MAX_ELEMENTS {
        return Err(XmlError::TooManyElements);
    }
    let mut attrs: Vec<(String, String)> = node.get_properties().into_iter().collect();
    attrs.sort();
    let mut children = Vec::new();
    let mut text = String::new();
    let mut child = node.get_first_child();
    while let Some(c) = child {
        match c.get_type() {
            Some(NodeType::ElementNode) => {
                children.push(convert(c, depth + 1, elements)?);
            }
            Some(NodeType::TextNode | NodeType::CDataSectionNode) => {
                text.push_str(&c.get_content());
            }
            // No DTD means no entity may be referenced; libxml keeps the reference as a
            // node when it cannot resolve it.
            Some(NodeType::EntityRefNode | NodeType::EntityNode) => return Err(XmlError::Dtd),
            _ => {}
        }
        child = c.get_next_sibling();
    }
    Ok(Element {
        ns: node
            .get_namespace()
            .map(|n| n.get_href())
            .unwrap_or_default(),
        name: node.get_name(),
        attrs,
        children,
        text,
    })
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
    fn the_parser_itself_refuses_a_dtd() {
        // Straight to the parser step, past the encoding check: what the parser sees counts.
        for doc in [
            &b"<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>"[..],
            b"<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/x.dtd\"><r/>",
            b"<!DOCTYPE r><r/>",
            b"<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE r [<!ATTLIST r a CDATA \"d\">]><r/>",
        ] {
            assert!(
                matches!(parse_utf8(doc), Err(XmlError::Dtd)),
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
        // An undeclared entity is not well-formed: refused, never looked up.
        assert!(parse_utf8(b"<r>&e;</r>").is_err());
        // The predefined entities and character references are plain text.
        let r = parse_utf8(b"<r>&lt;&#65;&amp;</r>").unwrap();
        assert_eq!(r.text, "<A&");
    }

    #[test]
    fn text_is_the_elements_own() {
        let r = parse(b"<r>a<b>x</b><![CDATA[<c>]]>d</r>").unwrap();
        assert_eq!(r.text, "a<c>d");
        assert_eq!(r.children[0].text, "x");
    }

    #[test]
    fn only_utf8_is_read() {
        let doc = "<r>è</r>";
        assert_eq!(
            parse(doc.as_bytes())
                .map_err(|e| e.to_string())
                .map(|r| r.text),
            Ok("è".into())
        );
        assert!(parse(format!("\u{feff}{doc}").as_bytes()).is_ok());
        assert!(parse(b"<?xml version=\"1.0\" encoding=\"utf-8\"?><r/>").is_ok());
        assert!(parse(b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?><r/>").is_ok());
        for (name, bytes) in encodings("<?xml version=\"1.0\" encoding=\"ENC\"?><r>caffè</r>") {
            if name == "UTF-8" {
                assert!(parse(&bytes).is_ok());
            } else {
                assert!(
                    matches!(parse(&bytes), Err(XmlError::Encoding(_))),
                    "{name} was read"
                );
            }
        }
        // Plain ASCII that only declares another encoding is refused too.
        for enc in ["ISO-8859-1", "UTF-7", "US-ASCII", "UTF-16"] {
            let doc = format!("<?xml version=\"1.0\" encoding=\"{enc}\"?><r/>");
            assert!(
                matches!(parse(doc.as_bytes()), Err(XmlError::Encoding(_))),
                "{enc}"
            );
        }
    }

    #[test]
    fn work_is_bounded() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(parse(deep.as_bytes()), Err(XmlError::TooDeep)));
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        let wide = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS));
        assert!(matches!(
            parse(wide.as_bytes()),
            Err(XmlError::TooManyElements)
        ));
        let big = format!("<r>{}</r>", "x".repeat(MAX_DOCUMENT_BYTES));
        assert!(matches!(parse(big.as_bytes()), Err(XmlError::TooLarge)));
    }

    /// `template` (with `ENC` where the encoding name goes) in every encoding libxml reads:
    /// UTF-8, UTF-16 LE/BE with and without byte order mark, UTF-7 and ISO-8859-1.
    fn encodings(template: &str) -> Vec<(&'static str, Vec<u8>)> {
        let with = |enc: &str| template.replace("ENC", enc);
        let utf16 = |text: String, le: bool, bom: bool| -> Vec<u8> {
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(if le { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
            }
            for u in text.encode_utf16() {
                out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
            }
            out
        };
        let utf7 = |text: String| -> Vec<u8> {
            // The declaration stays ASCII (that is how a parser finds the encoding); after it,
            // letters, digits and a few marks go as they are, the rest as +base64(UTF-16BE)-.
            let (decl, body) = text.split_at(text.find("?>").map_or(0, |i| i + 2));
            let mut out = decl.to_owned();
            for c in body.chars() {
                if c.is_ascii_alphanumeric() || " '(),-./:?\"=".contains(c) {
                    out.push(c);
                } else {
                    let mut buf = [0u16; 2];
                    let units: Vec<u8> = c
                        .encode_utf16(&mut buf)
                        .iter()
                        .flat_map(|u| u.to_be_bytes())
                        .collect();
                    let b64 = openssl::base64::encode_block(&units);
                    out.push('+');
                    out.push_str(b64.trim_end_matches('='));
                    out.push('-');
                }
            }
            out.into_bytes()
        };
        let latin1 = |text: String| -> Vec<u8> {
            text.chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect()
        };
        vec![
            ("UTF-8", with("UTF-8").into_bytes()),
            ("UTF-16LE+BOM", utf16(with("UTF-16"), true, true)),
            ("UTF-16BE+BOM", utf16(with("UTF-16"), false, true)),
            ("UTF-16LE", utf16(with("UTF-16LE"), true, false)),
            ("UTF-16BE", utf16(with("UTF-16BE"), false, false)),
            ("UTF-7", utf7(with("UTF-7"))),
            ("ISO-8859-1", latin1(with("ISO-8859-1"))),
        ]
    }

    /// The review's attack: one big internal entity referenced a thousand times inside
    /// `saml:Issuer`, in each encoding. (40,000 characters, so that even UTF-16 stays under
    /// the size limit and reaches the encoding check.)
    fn entity_bomb() -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"ENC\"?>\
             <!DOCTYPE samlp:Response [<!ENTITY big \"{}\">]>\
             <samlp:Response xmlns:samlp=\"{NS_SAMLP}\" xmlns:saml=\"{NS_SAML}\" ID=\"_1\">\
             <saml:Issuer>{}</saml:Issuer></samlp:Response>",
            "A".repeat(40_000),
            "&big;".repeat(1000)
        )
    }

    fn peak_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Run by [`entity_bombs_are_refused_with_bounded_memory`] in a process of its own, one
    /// encoding each, so that the peak memory it reports is this parse's alone.
    #[test]
    #[ignore = "started by entity_bombs_are_refused_with_bounded_memory"]
    fn entity_bomb_child() {
        let Ok(which) = std::env::var("SPORTELLO_XML_BOMB") else {
            return;
        };
        let (_, bytes) = encodings(&entity_bomb())
            .into_iter()
            .find(|(n, _)| *n == which)
            .unwrap();
        let before = peak_rss_kib();
        let verdict = parse(&bytes).map(|_| ()).map_err(|e| e.to_string());
        let after = peak_rss_kib();
        println!("BOMB {} {:?}", after.saturating_sub(before), verdict);
    }

    #[test]
    fn entity_bombs_are_refused_with_bounded_memory() {
        let exe = std::env::current_exe().unwrap();
        for (name, bytes) in encodings(&entity_bomb()) {
            assert!(bytes.len() <= MAX_DOCUMENT_BYTES, "{name}: {}", bytes.len());
            let out = std::process::Command::new(&exe)
                .args([
                    "auth::spid::xml::tests::entity_bomb_child",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("SPORTELLO_XML_BOMB", name)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let line = stdout
                .lines()
                .find_map(|l| l.split_once("BOMB ").map(|(_, r)| r))
                .unwrap_or_else(|| panic!("{name}: no result from the child: {stdout}"));
            let (kib, verdict) = line.split_once(' ').unwrap();
            let kib: u64 = kib.parse().unwrap();
            assert!(verdict.starts_with("Err("), "{name}: {verdict}");
            let expected = if name == "UTF-8" { "DTD" } else { "not UTF-8" };
            assert!(verdict.contains(expected), "{name}: {verdict}");
            // The document is under 100 KiB; reading it may cost a few times that, never
            // the expansion (40 MB of text per copy).
            assert!(kib < 8 * 1024, "{name}: peak memory grew by {kib} KiB");
            println!(
                "{name}: {} bytes, refused ({verdict}), peak memory +{kib} KiB",
                bytes.len()
            );
        }
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
