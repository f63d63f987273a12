//! Validation of a SPID `Response` at the assertion consumer service.
//!
//! 1. The document is parsed strictly (no DTD, no recovery) and its shape is checked before
//!    any signature: one `Response` root, at most one `Assertion`, a direct child of the
//!    root, no encrypted assertions; every `ds:Signature` sits directly inside the element it
//!    signs, with one `Reference` to that element's `ID` and only the enveloped-signature and
//!    canonicalisation transforms (no XSLT, no XPath). This closes the signature-wrapping
//!    (XSW) family before cryptography is even involved.
//! 2. Every signature is verified with the chosen IdP's certificates (RSA/ECDSA with SHA-256
//!    or stronger only) and the document is reduced to what the signatures cover (samael +
//!    xmlsec); the assertion is read from that reduced document only. The assertion must be
//!    signed itself; the Response may be.
//! 3. Then every SPID rule samael does not apply: versions, instants, issuers and formats,
//!    destination and recipient, InResponseTo bound to the stored request, status and the
//!    SPID error codes, conditions and audience, subject confirmation, NameID, the level
//!    returned against the level asked, and the requested attributes.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};

use super::idp::IdentityProvider;
use super::messages::{level_from_uri, NAMEID_TRANSIENT, STATUS_SUCCESS};
use super::metadata::REQUESTED_ATTRIBUTES;
use super::xml::{parse, parse_instant, Element, NS_DS, NS_SAML, NS_SAMLP};
use crate::auth::AuthLevel;

const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

const ALLOWED_TRANSFORMS: [&str; 5] = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
];

pub const ALLOWED_SIGNATURES: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// What the SP expects of the response to one stored AuthnRequest.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub request_id: &'a str,
    pub request_issued: NaiveDateTime,
    pub idp: &'a IdentityProvider,
    /// The level asked with `Comparison="minimum"`.
    pub level: AuthLevel,
    pub now: NaiveDateTime,
    pub skew: Duration,
}

/// A successful SPID authentication.
#[derive(Debug, Clone)]
pub struct Login {
    pub assertion_id: String,
    /// Until when the assertion could be presented (for replay protection).
    pub assertion_expires: NaiveDateTime,
    pub name_id: String,
    pub name_qualifier: Option<String>,
    pub session_index: Option<String>,
    pub level: AuthLevel,
    /// The requested attributes, by SPID name.
    pub attributes: BTreeMap<String, String>,
}

/// Why a response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The IdP reported a failure (the user cancelled, wrong credentials…): `code` is the SPID
    /// `ErrorCode nrNN` of the StatusMessage when there is one.
    #[error("the IdP answered {status} (SPID error code {code:?})")]
    Status { status: String, code: Option<u32> },
    /// The response is not acceptable; the text says why (for the log).
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::Invalid(msg.into()))
}

/// Parses a decoded SAMLResponse (strictly) and checks its root is a `samlp:Response`.
pub fn parse_response(xml: &[u8]) -> Result<Element, Refusal> {
    let root = parse(xml).map_err(|e| Refusal::Invalid(format!("unreadable response: {e}")))?;
    if !root.is(NS_SAMLP, "Response") {
        return invalid(format!("root element is {}, not samlp:Response", root.name));
    }
    Ok(root)
}

/// The `InResponseTo` of a response, read before anything is verified, to find the stored
/// request (and so the IdP whose keys verify the response).
pub fn in_response_to(response: &Element) -> Result<String, Refusal> {
    match response.attr("InResponseTo").map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => invalid("Response without InResponseTo"),
    }
}

/// Checks a decoded SAMLResponse against what was asked.
pub fn validate(xml: &[u8], exp: &Expected<'_>) -> Result<Login, Refusal> {
    validate_parsed(xml, &parse_response(xml)?, exp)
}

/// [`validate`] for a response already read with [`parse_response`] (`original` is its
/// tree, `xml` its bytes, which the signatures are verified on).
pub fn validate_parsed(
    xml: &[u8],
    original: &Element,
    exp: &Expected<'_>,
) -> Result<Login, Refusal> {
    check_shape(original)?;

    // Signatures: every one must verify with the IdP's keys; keep only what they cover.
    let has_signature = original.first(NS_DS, "Signature").is_some()
        || original
            .first(NS_SAML, "Assertion")
            .is_some_and(|a| a.first(NS_DS, "Signature").is_some());
    let reduced = if has_signature {
        Some(verified_content(xml, exp.idp).map_err(Refusal::Invalid)?)
    } else {
        None
    };
    let response_signed = original.first(NS_DS, "Signature").is_some();
    // The envelope: the verified one when the Response is signed, else as received (SPID lets
    // the IdP leave it unsigned; what matters is re-checked inside the signed assertion).
    let envelope = match (&reduced, response_signed) {
        (Some(r), true) if r.is(NS_SAMLP, "Response") => r,
        (_, true) => return invalid("the Response signature does not cover the Response"),
        (_, false) => original,
    };

    check_envelope(envelope, exp)?;
    check_status(envelope)?;

    let Some(original_assertion) = original.first(NS_SAML, "Assertion") else {
        return invalid("successful Response without an Assertion");
    };
    if original_assertion.first(NS_DS, "Signature").is_none() {
        return invalid("the Assertion is not signed");
    }
    let reduced = reduced.ok_or_else(|| Refusal::Invalid("the Assertion is not signed".into()))?;
    let assertion = if reduced.is(NS_SAML, "Assertion") {
        &reduced
    } else {
        reduced
            .first(NS_SAML, "Assertion")
            .ok_or_else(|| Refusal::Invalid("no signed Assertion".into()))?
    };
    if assertion.attr("ID") != original_assertion.attr("ID") {
        return invalid("the signed Assertion is not the one in the Response");
    }
    check_assertion(assertion, exp)
}

/// Verifies every signature of a document with the IdP's certificates (allowed algorithms
/// only) and returns what the signatures cover, parsed (samael + libxmlsec1).
pub fn verified_content(xml: &[u8], idp: &IdentityProvider) -> Result<Element, String> {
    let certs: Vec<CertificateDer> = idp
        .signing_certificates
        .iter()
        .cloned()
        .map(CertificateDer::from)
        .collect();
    let text = std::str::from_utf8(xml).map_err(|_| "the document is not UTF-8".to_owned())?;
    let reduced = XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        text,
        &certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&ALLOWED_SIGNATURES),
    )
    .map_err(|e| format!("signature verification failed: {e}"))?;
    parse(reduced.as_bytes()).map_err(|e| format!("verified content unreadable: {e}"))
}

/// Structural checks against signature wrapping.
fn check_shape(root: &Element) -> Result<(), Refusal> {
    let mut found = Vec::new();
    root.descendants(NS_SAML, "EncryptedAssertion", &mut found);
    if !found.is_empty() {
        return invalid("encrypted assertions are not used by SPID");
    }
    root.descendants(NS_SAML, "Assertion", &mut found);
    if found.len() > 1 {
        return invalid(format!("{} Assertion elements (one expected)", found.len()));
    }
    if found.len() == 1 && root.count(NS_SAML, "Assertion") != 1 {
        return invalid("the Assertion is not a child of the Response");
    }
    // Every signature: directly inside the element it signs, referencing that element.
    let mut signatures = Vec::new();
    root.descendants(NS_DS, "Signature", &mut signatures);
    let allowed_parents: Vec<&Element> = std::iter::once(root)
        .chain(root.first(NS_SAML, "Assertion"))
        .collect();
    let mut placed = 0;
    for parent in &allowed_parents {
        let sigs: Vec<&Element> = parent.all(NS_DS, "Signature").collect();
        if sigs.len() > 1 {
            return invalid(format!("{} signatures on one {}", sigs.len(), parent.name));
        }
        if let Some(sig) = sigs.first() {
            check_signature_reference(sig, parent)?;
            placed += 1;
        }
    }
    if placed != signatures.len() {
        return invalid("a signature outside the Response and Assertion elements");
    }
    Ok(())
}

fn check_signature_reference(sig: &Element, parent: &Element) -> Result<(), Refusal> {
    let id = parent.attr("ID").map(str::trim).unwrap_or_default();
    if id.is_empty() {
        return invalid(format!("a signed {} without ID", parent.name));
    }
    let Some(info) = sig.first(NS_DS, "SignedInfo") else {
        return invalid("signature without SignedInfo");
    };
    let refs: Vec<&Element> = info.all(NS_DS, "Reference").collect();
    if refs.len() != 1 {
        return invalid(format!(
            "signature with {} references (one expected)",
            refs.len()
        ));
    }
    if refs[0].attr("URI") != Some(&format!("#{id}")) {
        return invalid(format!(
            "the {} signature does not reference it",
            parent.name
        ));
    }
    if let Some(transforms) = refs[0].first(NS_DS, "Transforms") {
        for t in &transforms.children {
            let alg = t.attr("Algorithm").unwrap_or_default();
            if !t.is(NS_DS, "Transform") || !ALLOWED_TRANSFORMS.contains(&alg) {
                return invalid(format!("signature transform not allowed: {alg}"));
            }
            // Exclusive canonicalisation may name inclusive prefixes; nothing else may have
            // content (that is where XSLT and XPath would go).
            if t.children.iter().any(|c| {
                !c.is(
                    "http://www.w3.org/2001/10/xml-exc-c14n#",
                    "InclusiveNamespaces",
                )
            }) {
                return invalid("signature transform with content (XSLT/XPath) not allowed");
            }
        }
    }
    Ok(())
}

/// A required, non-empty attribute.
fn required<'a>(e: &'a Element, attr: &str) -> Result<&'a str, Refusal> {
    match e.attr(attr).map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => invalid(format!("{}@{attr} is empty", e.name)),
        None => invalid(format!("{}@{attr} is missing", e.name)),
    }
}

fn required_instant(e: &Element, attr: &str) -> Result<NaiveDateTime, Refusal> {
    let v = required(e, attr)?;
    parse_instant(v)
        .ok_or_else(|| Refusal::Invalid(format!("{}@{attr} is not a UTC instant: {v}", e.name)))
}

fn child<'a>(e: &'a Element, ns: &str, name: &str) -> Result<&'a Element, Refusal> {
    let mut it = e.children.iter().filter(|c| c.is(ns, name));
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => invalid(format!("{} without {name}", e.name)),
        (Some(_), Some(_)) => invalid(format!("{} with more than one {name}", e.name)),
    }
}

fn text_of(e: &Element) -> Result<&str, Refusal> {
    match e.trimmed_text() {
        "" => invalid(format!("{} is empty", e.name)),
        t => Ok(t),
    }
}

/// Issuer: the IdP's entityID; `Format` entity (the Response's may omit it).
fn check_issuer(
    parent: &Element,
    exp: &Expected<'_>,
    format_required: bool,
) -> Result<(), Refusal> {
    let issuer = child(parent, NS_SAML, "Issuer")?;
    let value = text_of(issuer)?;
    if value != exp.idp.entity_id {
        return invalid(format!(
            "{} Issuer {value} is not the IdP {}",
            parent.name, exp.idp.entity_id
        ));
    }
    match issuer.attr("Format").map(str::trim) {
        None if !format_required => Ok(()),
        None => invalid(format!("{} Issuer without Format", parent.name)),
        Some(NAMEID_ENTITY) => Ok(()),
        Some(f) => invalid(format!("{} Issuer Format {f:?} is not entity", parent.name)),
    }
}

fn check_version(e: &Element) -> Result<(), Refusal> {
    match e.attr("Version") {
        Some("2.0") => Ok(()),
        v => invalid(format!("{} Version {v:?} is not 2.0", e.name)),
    }
}

/// An instant issued for this request: not before it was sent, not in the future.
fn check_issued(e: &Element, exp: &Expected<'_>) -> Result<(), Refusal> {
    let t = required_instant(e, "IssueInstant")?;
    if t + exp.skew < exp.request_issued {
        return invalid(format!(
            "{} IssueInstant {t} is before the request ({})",
            e.name, exp.request_issued
        ));
    }
    if t > exp.now + exp.skew {
        return invalid(format!("{} IssueInstant {t} is in the future", e.name));
    }
    Ok(())
}

fn check_envelope(r: &Element, exp: &Expected<'_>) -> Result<(), Refusal> {
    required(r, "ID")?;
    check_version(r)?;
    check_issued(r, exp)?;
    let irt = required(r, "InResponseTo")?;
    if irt != exp.request_id {
        return invalid(format!(
            "InResponseTo {irt} is not the request {}",
            exp.request_id
        ));
    }
    let dest = required(r, "Destination")?;
    if dest != exp.acs_url {
        return invalid(format!("Destination {dest} is not the ACS {}", exp.acs_url));
    }
    check_issuer(r, exp, false)
}

/// `ErrorCode nr19` → 19.
fn spid_error_code(message: &str) -> Option<u32> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("errorcode nr")? + "errorcode nr".len();
    let digits: String = lower[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn check_status(r: &Element) -> Result<(), Refusal> {
    let status = child(r, NS_SAMLP, "Status")?;
    let code = child(status, NS_SAMLP, "StatusCode")?;
    let value = required(code, "Value")?;
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    let sub = code
        .first(NS_SAMLP, "StatusCode")
        .and_then(|c| c.attr("Value"))
        .map(|v| format!(" / {v}"))
        .unwrap_or_default();
    let message = status
        .first(NS_SAMLP, "StatusMessage")
        .map(|m| m.trimmed_text().to_owned())
        .unwrap_or_default();
    Err(Refusal::Status {
        status: format!("{value}{sub} {message}").trim().to_owned(),
        code: spid_error_code(&message),
    })
}

fn check_assertion(a: &Element, exp: &Expected<'_>) -> Result<Login, Refusal> {
    let assertion_id = required(a, "ID")?.to_owned();
    check_version(a)?;
    check_issued(a, exp)?;
    check_issuer(a, exp, true)?;
    let now = exp.now;

    // Subject: a transient NameID with its qualifier, bearer confirmation for this request.
    let subject = child(a, NS_SAML, "Subject")?;
    let name_id_el = child(subject, NS_SAML, "NameID")?;
    let name_id = text_of(name_id_el)?.to_owned();
    let format = required(name_id_el, "Format")?;
    if format != NAMEID_TRANSIENT {
        return invalid(format!("NameID Format {format} is not transient"));
    }
    let name_qualifier = required(name_id_el, "NameQualifier")?.to_owned();
    let confirmation = child(subject, NS_SAML, "SubjectConfirmation")?;
    let method = required(confirmation, "Method")?;
    if method != CM_BEARER {
        return invalid(format!("SubjectConfirmation Method {method} is not bearer"));
    }
    let data = child(confirmation, NS_SAML, "SubjectConfirmationData")?;
    let recipient = required(data, "Recipient")?;
    if recipient != exp.acs_url {
        return invalid(format!(
            "Recipient {recipient} is not the ACS {}",
            exp.acs_url
        ));
    }
    let irt = required(data, "InResponseTo")?;
    if irt != exp.request_id {
        return invalid(format!(
            "SubjectConfirmationData InResponseTo {irt} is not the request"
        ));
    }
    let confirmation_until = required_instant(data, "NotOnOrAfter")?;
    if now >= confirmation_until + exp.skew {
        return invalid(format!(
            "SubjectConfirmationData expired at {confirmation_until}"
        ));
    }

    // Conditions: a validity window around now, and this SP as the audience.
    let conditions = child(a, NS_SAML, "Conditions")?;
    let not_before = required_instant(conditions, "NotBefore")?;
    if not_before > now + exp.skew {
        return invalid(format!(
            "Conditions NotBefore {not_before} is in the future"
        ));
    }
    let not_after = required_instant(conditions, "NotOnOrAfter")?;
    if now >= not_after + exp.skew {
        return invalid(format!("Conditions expired at {not_after}"));
    }
    let restriction = child(conditions, NS_SAML, "AudienceRestriction")?;
    let audiences: Vec<&str> = restriction
        .all(NS_SAML, "Audience")
        .map(Element::trimmed_text)
        .collect();
    if audiences.is_empty() {
        return invalid("AudienceRestriction without Audience");
    }
    if !audiences.contains(&exp.sp_entity_id) {
        return invalid(format!("Audience {audiences:?} does not name this SP"));
    }

    // The level: a SPID level URI, at least the one asked (Comparison="minimum").
    let statement = child(a, NS_SAML, "AuthnStatement")?;
    let context = child(statement, NS_SAML, "AuthnContext")?;
    let class_ref = text_of(child(context, NS_SAML, "AuthnContextClassRef")?)?;
    let level = level_from_uri(class_ref).ok_or_else(|| {
        Refusal::Invalid(format!(
            "AuthnContextClassRef {class_ref} is not a SPID level"
        ))
    })?;
    if level < exp.level {
        return invalid(format!(
            "level {} returned, at least {} asked",
            level.get(),
            exp.level.get()
        ));
    }
    let session_index = statement
        .attr("SessionIndex")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);

    // Attributes: every one asked for, each with one value. An identity that could be read
    // two ways (an attribute released twice, two values of a single-valued attribute — every
    // SPID attribute is) is refused: which one is "the" codice fiscale is not ours to guess.
    let mut attributes = BTreeMap::new();
    for st in a.all(NS_SAML, "AttributeStatement") {
        for attr in st.all(NS_SAML, "Attribute") {
            let name = required(attr, "Name")?;
            let mut values = attr.all(NS_SAML, "AttributeValue");
            let value = values
                .next()
                .map(|v| v.trimmed_text().to_owned())
                .unwrap_or_default();
            if values.next().is_some() {
                return invalid(format!(
                    "attribute {name} has several values (SPID attributes have one)"
                ));
            }
            if attributes.insert(name.to_owned(), value).is_some() {
                return invalid(format!("attribute {name} is released more than once"));
            }
        }
    }
    if attributes.is_empty() {
        return invalid("no attributes released");
    }
    for name in REQUESTED_ATTRIBUTES {
        match attributes.get(name) {
            Some(v) if !v.is_empty() => {}
            Some(_) => return invalid(format!("attribute {name} is empty")),
            None => return invalid(format!("attribute {name} was asked for and not released")),
        }
    }
    attributes.retain(|k, _| REQUESTED_ATTRIBUTES.contains(&k.as_str()));

    Ok(Login {
        assertion_id,
        assertion_expires: confirmation_until.max(not_after) + exp.skew,
        name_id,
        name_qualifier: Some(name_qualifier),
        session_index,
        level,
        attributes,
    })
}

/// The Italian message for a SPID failure status (AgID's table of anomaly messages).
pub fn status_message(code: Option<u32>) -> &'static str {
    match code {
        Some(19) => "Autenticazione non riuscita: le credenziali sono state inserite in modo errato troppe volte. Attendere e riprovare, oppure rivolgersi al proprio gestore SPID.",
        Some(20) => "Le credenziali SPID usate non consentono il livello di sicurezza richiesto da questo servizio. Accedere con credenziali del livello richiesto (ad esempio con il secondo fattore).",
        Some(21) => "Tempo scaduto durante l'autenticazione presso il gestore dell'identità. Ripetere l'accesso.",
        Some(22) => "Non è stato dato il consenso all'invio dei dati necessari al servizio: senza di essi non è possibile accedere.",
        Some(23) => "L'identità SPID risulta sospesa, revocata o con credenziali bloccate. Rivolgersi al proprio gestore SPID.",
        Some(24) => "Il gestore dell'identità non ha potuto completare l'autenticazione (codice 24). Ripetere l'accesso più tardi.",
        Some(25) => "Accesso annullato: il processo di autenticazione è stato interrotto. È possibile ripetere l'accesso quando si desidera.",
        Some(30) => "L'identità digitale usata non è del tipo richiesto da questo servizio (serve un'identità SPID per persona fisica).",
        _ => "Il gestore dell'identità non ha completato l'autenticazione. Ripetere l'accesso; se il problema persiste, rivolgersi al proprio gestore SPID.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spid_error_codes() {
        assert_eq!(spid_error_code("ErrorCode nr19"), Some(19));
        assert_eq!(spid_error_code("errorcode nr25 annullato"), Some(25));
        assert_eq!(spid_error_code("something else"), None);
        let mut seen = std::collections::HashSet::new();
        for c in 19..=25 {
            assert!(
                seen.insert(status_message(Some(c))),
                "code {c} shares a message"
            );
        }
    }

    #[test]
    fn wrapped_assertions_are_refused_before_any_signature_check() {
        let doc = |inner: &str| {
            format!(
                r#"<samlp:Response xmlns:samlp="{NS_SAMLP}" xmlns:saml="{NS_SAML}" xmlns:ds="{NS_DS}" ID="_r">{inner}</samlp:Response>"#
            )
        };
        let two = doc(r#"<saml:Assertion ID="_a"/><saml:Assertion ID="_b"/>"#);
        assert!(check_shape(&parse(two.as_bytes()).unwrap()).is_err());
        let nested = doc(r#"<samlp:Extensions><saml:Assertion ID="_a"/></samlp:Extensions>"#);
        assert!(check_shape(&parse(nested.as_bytes()).unwrap()).is_err());
        let elsewhere = doc(
            r##"<saml:Assertion ID="_a"><saml:Subject><ds:Signature><ds:SignedInfo><ds:Reference URI="#_a"/></ds:SignedInfo></ds:Signature></saml:Subject></saml:Assertion>"##,
        );
        assert!(check_shape(&parse(elsewhere.as_bytes()).unwrap()).is_err());
        let other_ref = doc(
            r##"<saml:Assertion ID="_a"><ds:Signature><ds:SignedInfo><ds:Reference URI="#_r"/></ds:SignedInfo></ds:Signature></saml:Assertion>"##,
        );
        assert!(check_shape(&parse(other_ref.as_bytes()).unwrap()).is_err());
        let xslt = doc(
            r##"<saml:Assertion ID="_a"><ds:Signature><ds:SignedInfo><ds:Reference URI="#_a"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/></ds:Transforms></ds:Reference></ds:SignedInfo></ds:Signature></saml:Assertion>"##,
        );
        assert!(check_shape(&parse(xslt.as_bytes()).unwrap()).is_err());
        let fine = doc(
            r##"<saml:Assertion ID="_a"><ds:Signature><ds:SignedInfo><ds:Reference URI="#_a"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms></ds:Reference></ds:SignedInfo></ds:Signature></saml:Assertion>"##,
        );
        check_shape(&parse(fine.as_bytes()).unwrap()).unwrap();
    }
}
