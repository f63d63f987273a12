//! The messages the SP sends, written field by field as the SPID technical rules want them
//! (samael's builders are not SPID-compliant: no `NameQualifier` on the Issuer, `AllowCreate`,
//! no SPID levels, `SessionIndex` as an attribute of LogoutRequest).
//! They travel with the HTTP-Redirect binding, signed over the query string.

use chrono::NaiveDateTime;

use super::xml::{format_instant, NS_SAML, NS_SAMLP};
use crate::auth::AuthLevel;
// The HTML escaper is valid for XML attribute values and element content.
use crate::text::escape_html as escape;

const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// The SPID level URI (`https://www.spid.gov.it/SpidL2`).
pub fn level_uri(level: AuthLevel) -> String {
    format!("https://www.spid.gov.it/SpidL{}", level.get())
}

/// The level of a SPID level URI.
pub fn level_from_uri(uri: &str) -> Option<AuthLevel> {
    match uri.trim() {
        "https://www.spid.gov.it/SpidL1" => Some(AuthLevel::L1),
        "https://www.spid.gov.it/SpidL2" => Some(AuthLevel::L2),
        "https://www.spid.gov.it/SpidL3" => Some(AuthLevel::L3),
        _ => None,
    }
}

fn issuer(sp_entity_id: &str) -> String {
    let e = escape(sp_entity_id);
    format!(r#"<saml:Issuer Format="{NAMEID_ENTITY}" NameQualifier="{e}">{e}</saml:Issuer>"#)
}

/// An AuthnRequest asking for `level` at least (`Comparison="minimum"`), the ACS and the
/// attribute set at index 0 of the metadata, a transient NameID without `AllowCreate`, and
/// `ForceAuthn` above level 1 (the rules require a fresh authentication there).
pub fn authn_request(
    id: &str,
    issue_instant: NaiveDateTime,
    destination: &str,
    sp_entity_id: &str,
    level: AuthLevel,
) -> String {
    let force = if level > AuthLevel::L1 {
        r#" ForceAuthn="true""#
    } else {
        ""
    };
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{NS_SAMLP}" xmlns:saml="{NS_SAML}" ID="{id}" Version="2.0" IssueInstant="{ii}" Destination="{dest}"{force} AssertionConsumerServiceIndex="0" AttributeConsumingServiceIndex="0">{issuer}<samlp:NameIDPolicy Format="{NAMEID_TRANSIENT}"/><samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>{acr}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"#,
        ii = format_instant(issue_instant),
        dest = escape(destination),
        issuer = issuer(sp_entity_id),
        acr = level_uri(level),
    )
}

/// Who a LogoutRequest is about: the NameID the IdP gave and its session index.
#[derive(Debug, Clone)]
pub struct LogoutSubject {
    pub name_id: String,
    pub name_qualifier: Option<String>,
    pub session_index: Option<String>,
}

/// A LogoutRequest (SP-initiated single logout). `SessionIndex` is a child element, as the
/// schema says.
pub fn logout_request(
    id: &str,
    issue_instant: NaiveDateTime,
    destination: &str,
    sp_entity_id: &str,
    subject: &LogoutSubject,
) -> String {
    let nq = subject
        .name_qualifier
        .as_deref()
        .map(|q| format!(r#" NameQualifier="{}""#, escape(q)))
        .unwrap_or_default();
    let session_index = subject
        .session_index
        .as_deref()
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(s)))
        .unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{NS_SAMLP}" xmlns:saml="{NS_SAML}" ID="{id}" Version="2.0" IssueInstant="{ii}" Destination="{dest}">{issuer}<saml:NameID Format="{NAMEID_TRANSIENT}"{nq}>{name_id}</saml:NameID>{session_index}</samlp:LogoutRequest>"#,
        ii = format_instant(issue_instant),
        dest = escape(destination),
        issuer = issuer(sp_entity_id),
        name_id = escape(&subject.name_id),
    )
}

/// The answer to an IdP's LogoutRequest.
pub fn logout_response(
    id: &str,
    issue_instant: NaiveDateTime,
    destination: &str,
    in_response_to: &str,
    sp_entity_id: &str,
    status: &str,
) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{NS_SAMLP}" xmlns:saml="{NS_SAML}" ID="{id}" Version="2.0" IssueInstant="{ii}" Destination="{dest}" InResponseTo="{irt}">{issuer}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#,
        ii = format_instant(issue_instant),
        dest = escape(destination),
        irt = escape(in_response_to),
        issuer = issuer(sp_entity_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::spid::xml::parse;

    fn t() -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn authn_request_has_the_spid_fields() {
        let xml = authn_request(
            "_a1",
            t(),
            "https://idp/sso",
            "https://sp&co",
            AuthLevel::L2,
        );
        let r = parse(xml.as_bytes()).unwrap();
        assert!(r.is(NS_SAMLP, "AuthnRequest"));
        assert_eq!(r.attr("ForceAuthn"), Some("true"));
        assert_eq!(r.attr("IssueInstant"), Some("2026-11-23T10:00:00Z"));
        assert_eq!(r.attr("AssertionConsumerServiceIndex"), Some("0"));
        let issuer = r.first(NS_SAML, "Issuer").unwrap();
        assert_eq!(issuer.attr("NameQualifier"), Some("https://sp&co"));
        assert_eq!(issuer.trimmed_text(), "https://sp&co");
        let policy = r.first(NS_SAMLP, "NameIDPolicy").unwrap();
        assert_eq!(policy.attr("AllowCreate"), None);
        let rac = r.first(NS_SAMLP, "RequestedAuthnContext").unwrap();
        assert_eq!(rac.attr("Comparison"), Some("minimum"));
        assert_eq!(
            rac.first(NS_SAML, "AuthnContextClassRef")
                .unwrap()
                .trimmed_text(),
            "https://www.spid.gov.it/SpidL2"
        );
        let l1 = authn_request("_a2", t(), "https://idp/sso", "https://sp", AuthLevel::L1);
        assert!(!l1.contains("ForceAuthn"));
    }

    #[test]
    fn logout_request_carries_session_index_as_an_element() {
        let xml = logout_request(
            "_l1",
            t(),
            "https://idp/slo",
            "https://sp",
            &LogoutSubject {
                name_id: "abc".into(),
                name_qualifier: Some("https://idp".into()),
                session_index: Some("_s1".into()),
            },
        );
        let r = parse(xml.as_bytes()).unwrap();
        assert_eq!(r.attr("SessionIndex"), None);
        assert_eq!(
            r.first(NS_SAMLP, "SessionIndex").unwrap().trimmed_text(),
            "_s1"
        );
        assert_eq!(r.first(NS_SAML, "NameID").unwrap().trimmed_text(), "abc");
    }

    #[test]
    fn level_uris_round_trip() {
        for l in [AuthLevel::L1, AuthLevel::L2, AuthLevel::L3] {
            assert_eq!(level_from_uri(&level_uri(l)), Some(l));
        }
        assert_eq!(
            level_from_uri("urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL2"),
            None
        );
    }
}
