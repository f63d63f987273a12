//! Single logout messages arriving from an IdP at `/spid/slo`: a LogoutRequest (the IdP ends
//! the user's SSO session and asks every SP to end theirs) or the LogoutResponse to a
//! LogoutRequest the SP sent. Accepted with the HTTP-Redirect binding (query-string signature)
//! and the HTTP-POST binding (enveloped XML signature); never unsigned.

use chrono::{Duration, NaiveDateTime};

use super::idp::{IdentityProvider, IdpRegistry};
use super::messages::STATUS_SUCCESS;
use super::redirect::RedirectMessage;
use super::response::verified_content;
use super::xml::{parse, parse_instant, Element, NS_DS, NS_SAML, NS_SAMLP};

/// A LogoutRequest from an IdP.
#[derive(Debug, Clone)]
pub struct IdpLogoutRequest {
    pub id: String,
    pub idp: String,
    pub name_id: String,
    pub session_indexes: Vec<String>,
    pub relay_state: Option<String>,
}

/// The IdP's answer to our LogoutRequest.
#[derive(Debug, Clone)]
pub struct IdpLogoutResponse {
    pub in_response_to: String,
    pub idp: String,
    pub success: bool,
    pub status: String,
    pub relay_state: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Incoming {
    Request(IdpLogoutRequest),
    Response(IdpLogoutResponse),
}

/// What incoming messages are checked against.
pub struct Context<'a> {
    pub registry: &'a IdpRegistry,
    pub slo_url: &'a str,
    pub now: NaiveDateTime,
    pub skew: Duration,
    /// How old a message may be.
    pub max_age: Duration,
}

/// A message received with the HTTP-Redirect binding (the raw query string).
pub fn read_redirect(query: &str, ctx: &Context<'_>) -> Result<Incoming, String> {
    let msg = RedirectMessage::from_query(query).map_err(|e| format!("{e:#}"))?;
    let root = parse(msg.xml.as_bytes()).map_err(|e| e.to_string())?;
    let idp = issuing_idp(&root, ctx)?;
    msg.verify(&idp.signing_certificates)
        .map_err(|e| format!("{e:#}"))?;
    if root.first(NS_DS, "Signature").is_some() {
        return Err("an XML signature inside a redirect-binding message".into());
    }
    read(&root, idp, msg.relay_state, ctx)
}

/// A message received with the HTTP-POST binding (base64 form field, not deflated).
pub fn read_post(
    b64: &str,
    relay_state: Option<String>,
    ctx: &Context<'_>,
) -> Result<Incoming, String> {
    let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = openssl::base64::decode_block(&clean).map_err(|_| "not base64".to_owned())?;
    let root = parse(&bytes).map_err(|e| e.to_string())?;
    let idp = issuing_idp(&root, ctx)?;
    // One enveloped signature, directly inside the root and referencing it.
    let mut sigs = Vec::new();
    root.descendants(NS_DS, "Signature", &mut sigs);
    let id = root.attr("ID").unwrap_or_default();
    let reference = root
        .first(NS_DS, "Signature")
        .and_then(|s| s.first(NS_DS, "SignedInfo"))
        .and_then(|i| i.first(NS_DS, "Reference"))
        .and_then(|r| r.attr("URI"));
    if sigs.len() != 1 || id.is_empty() || reference != Some(&format!("#{id}")) {
        return Err(
            "a POST-binding logout message must carry one signature of the whole message".into(),
        );
    }
    let verified = verified_content(&bytes, idp)?;
    if verified.name != root.name || verified.attr("ID") != root.attr("ID") {
        return Err("the signature does not cover the message".into());
    }
    read(&verified, idp, relay_state, ctx)
}

fn issuing_idp<'a>(root: &Element, ctx: &Context<'a>) -> Result<&'a IdentityProvider, String> {
    let issuer = root
        .first(NS_SAML, "Issuer")
        .map(|i| i.trimmed_text())
        .filter(|i| !i.is_empty())
        .ok_or("logout message without Issuer")?;
    ctx.registry
        .get(issuer)
        .ok_or_else(|| format!("logout message from an unknown IdP {issuer}"))
}

fn read(
    root: &Element,
    idp: &IdentityProvider,
    relay_state: Option<String>,
    ctx: &Context<'_>,
) -> Result<Incoming, String> {
    if root.attr("Version") != Some("2.0") {
        return Err("Version is not 2.0".into());
    }
    let issued = root
        .attr("IssueInstant")
        .and_then(parse_instant)
        .ok_or("IssueInstant missing or not a UTC instant")?;
    if issued > ctx.now + ctx.skew || issued + ctx.max_age < ctx.now {
        return Err(format!(
            "IssueInstant {issued} is outside the accepted window"
        ));
    }
    if root.attr("Destination").map(str::trim) != Some(ctx.slo_url) {
        return Err(format!(
            "Destination {:?} is not {}",
            root.attr("Destination"),
            ctx.slo_url
        ));
    }
    if let Some(noa) = root.attr("NotOnOrAfter") {
        let noa = parse_instant(noa).ok_or("NotOnOrAfter is not a UTC instant")?;
        if ctx.now >= noa + ctx.skew {
            return Err("the LogoutRequest has expired".into());
        }
    }
    let id = root
        .attr("ID")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("message without ID")?
        .to_owned();
    if root.is(NS_SAMLP, "LogoutRequest") {
        let name_id = root
            .first(NS_SAML, "NameID")
            .map(|n| n.trimmed_text().to_owned())
            .filter(|n| !n.is_empty())
            .ok_or("LogoutRequest without NameID")?;
        Ok(Incoming::Request(IdpLogoutRequest {
            id,
            idp: idp.entity_id.clone(),
            name_id,
            session_indexes: root
                .all(NS_SAMLP, "SessionIndex")
                .map(|s| s.trimmed_text().to_owned())
                .collect(),
            relay_state,
        }))
    } else if root.is(NS_SAMLP, "LogoutResponse") {
        let in_response_to = root
            .attr("InResponseTo")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or("LogoutResponse without InResponseTo")?
            .to_owned();
        let status = root
            .first(NS_SAMLP, "Status")
            .and_then(|s| s.first(NS_SAMLP, "StatusCode"))
            .and_then(|c| c.attr("Value"))
            .ok_or("LogoutResponse without StatusCode")?
            .to_owned();
        Ok(Incoming::Response(IdpLogoutResponse {
            in_response_to,
            idp: idp.entity_id.clone(),
            success: status == STATUS_SUCCESS,
            status,
            relay_state,
        }))
    } else {
        Err(format!("{} is not a logout message", root.name))
    }
}
