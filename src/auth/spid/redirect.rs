//! The SAML HTTP-Redirect binding (SAML 2.0 Bindings, 3.4): messages DEFLATE-compressed,
//! base64-encoded and carried in the query string, signed over the
//! `SAMLRequest|SAMLResponse=…&RelayState=…&SigAlg=…` octets.
//!
//! Outgoing messages (AuthnRequest, LogoutRequest, LogoutResponse) are signed with the SP key
//! (RSA-SHA256). Incoming ones are verified over the query string exactly as received (the
//! bindings require the original URL-encoded values, not a re-encoding).

use std::io::{Read, Write};

use anyhow::{anyhow, bail, Context, Result};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;

pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SIG_RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const SIG_RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";

/// Largest inflated message accepted (a SPID message is a few KiB).
const MAX_INFLATED: u64 = 256 * 1024;

/// Percent-encodes like `application/x-www-form-urlencoded` (space as `+`, only
/// `A-Z a-z 0-9 - . _ ~` left as they are).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes a query-string value (`+` is a space).
pub fn decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| anyhow!("bad percent-encoding"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).context("query value is not UTF-8")
}

fn b64(data: &[u8]) -> String {
    openssl::base64::encode_block(data)
}

fn unb64(s: &str) -> Result<Vec<u8>> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    openssl::base64::decode_block(&clean).map_err(|_| anyhow!("not base64"))
}

/// DEFLATE + base64 of a message.
pub fn deflate(xml: &str) -> Result<String> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes())?;
    Ok(b64(&enc.finish()?))
}

/// base64 + inflate of a message from the query string.
pub fn inflate(b64_value: &str) -> Result<String> {
    let raw = unb64(b64_value)?;
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .take(MAX_INFLATED + 1)
        .read_to_string(&mut out)
        .context("not a DEFLATE-compressed UTF-8 message")?;
    if out.len() as u64 > MAX_INFLATED {
        bail!("message larger than {MAX_INFLATED} bytes");
    }
    Ok(out)
}

/// `param` is `SAMLRequest` or `SAMLResponse`. Returns the whole signed query string.
pub fn signed_query(
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &PKey<Private>,
) -> Result<String> {
    let mut q = format!("{param}={}", encode(&deflate(xml)?));
    if let Some(rs) = relay_state {
        q.push_str("&RelayState=");
        q.push_str(&encode(rs));
    }
    q.push_str("&SigAlg=");
    q.push_str(&encode(SIG_RSA_SHA256));
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    signer.update(q.as_bytes())?;
    let sig = signer.sign_to_vec()?;
    q.push_str("&Signature=");
    q.push_str(&encode(&b64(&sig)));
    Ok(q)
}

/// Appends a query string to an endpoint that may already have one.
pub fn url_with_query(endpoint: &str, query: &str) -> String {
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{sep}{query}")
}

/// A message received with the HTTP-Redirect binding.
#[derive(Debug, Clone)]
pub struct RedirectMessage {
    /// `SAMLRequest` or `SAMLResponse`.
    pub param: &'static str,
    pub xml: String,
    pub relay_state: Option<String>,
    signed_octets: String,
    sig_alg: Option<String>,
    signature: Option<String>,
}

impl RedirectMessage {
    /// Reads a raw query string (as received, still URL-encoded).
    pub fn from_query(query: &str) -> Result<Self> {
        let mut found: Vec<(&str, &str)> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if found.iter().any(|(fk, _)| *fk == k) {
                bail!("parameter {k} given twice");
            }
            found.push((k, v));
        }
        let get = |k: &str| found.iter().find(|(fk, _)| *fk == k).map(|(_, v)| *v);
        let (param, raw_msg) = match (get("SAMLRequest"), get("SAMLResponse")) {
            (Some(m), None) => ("SAMLRequest", m),
            (None, Some(m)) => ("SAMLResponse", m),
            _ => bail!("exactly one of SAMLRequest and SAMLResponse is required"),
        };
        let xml = inflate(&decode(raw_msg)?)?;
        let relay_raw = get("RelayState");
        let relay_state = relay_raw.map(decode).transpose()?;
        let sig_alg_raw = get("SigAlg");
        let mut signed_octets = format!("{param}={raw_msg}");
        if let Some(rs) = relay_raw {
            signed_octets.push_str("&RelayState=");
            signed_octets.push_str(rs);
        }
        if let Some(sa) = sig_alg_raw {
            signed_octets.push_str("&SigAlg=");
            signed_octets.push_str(sa);
        }
        Ok(Self {
            param,
            xml,
            relay_state,
            signed_octets,
            sig_alg: sig_alg_raw.map(decode).transpose()?,
            signature: get("Signature").map(decode).transpose()?,
        })
    }

    /// Verifies the query-string signature with one of the certificates (DER).
    pub fn verify(&self, certificates: &[Vec<u8>]) -> Result<()> {
        let (Some(alg), Some(sig)) = (&self.sig_alg, &self.signature) else {
            bail!("the message is not signed (SigAlg and Signature are required)");
        };
        let digest = match alg.as_str() {
            SIG_RSA_SHA256 => MessageDigest::sha256(),
            SIG_RSA_SHA384 => MessageDigest::sha384(),
            SIG_RSA_SHA512 => MessageDigest::sha512(),
            other => bail!("signature algorithm {other} not allowed"),
        };
        let sig = unb64(sig).context("Signature")?;
        for der in certificates {
            let key = X509::from_der(der)?.public_key()?;
            let mut v = Verifier::new(digest, &key)?;
            v.update(self.signed_octets.as_bytes())?;
            if v.verify(&sig).unwrap_or(false) {
                return Ok(());
            }
        }
        bail!("the query-string signature does not verify with the IdP's certificates")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;

    fn cert_for(key: &PKey<Private>) -> Vec<u8> {
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "t").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(key).unwrap();
        let day = |n| openssl::asn1::Asn1Time::days_from_now(n).unwrap();
        b.set_not_before(&day(0)).unwrap();
        b.set_not_after(&day(1)).unwrap();
        b.sign(key, MessageDigest::sha256()).unwrap();
        b.build().to_der().unwrap()
    }

    #[test]
    fn encoding_matches_form_urlencoding() {
        assert_eq!(encode("a b+c/d=e"), "a+b%2Bc%2Fd%3De");
        assert_eq!(
            encode(SIG_RSA_SHA256),
            "http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
        );
        assert_eq!(decode("a+b%2Bc%2fd").unwrap(), "a b+c/d");
        assert!(decode("%zz").is_err());
    }

    #[test]
    fn signed_query_round_trips_and_tampering_is_detected() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let cert = cert_for(&key);
        let xml = "<samlp:LogoutRequest ID=\"_x\"/>";
        let q = signed_query("SAMLRequest", xml, Some("abc def"), &key).unwrap();
        let m = RedirectMessage::from_query(&q).unwrap();
        assert_eq!(m.xml, xml);
        assert_eq!(m.relay_state.as_deref(), Some("abc def"));
        m.verify(std::slice::from_ref(&cert)).unwrap();

        let tampered = q.replace("RelayState=abc", "RelayState=abd");
        let m = RedirectMessage::from_query(&tampered).unwrap();
        assert!(m.verify(std::slice::from_ref(&cert)).is_err());

        let other = cert_for(&PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap());
        let m = RedirectMessage::from_query(&q).unwrap();
        assert!(m.verify(&[other]).is_err());

        let unsigned = q.split("&SigAlg").next().unwrap();
        let m = RedirectMessage::from_query(unsigned).unwrap();
        assert!(m.verify(&[cert]).is_err());
    }

    #[test]
    fn refuses_ambiguous_queries() {
        assert!(RedirectMessage::from_query("RelayState=x").is_err());
        let d = deflate("<a/>").unwrap();
        let e = encode(&d);
        assert!(RedirectMessage::from_query(&format!("SAMLRequest={e}&SAMLResponse={e}")).is_err());
        assert!(RedirectMessage::from_query(&format!("SAMLRequest={e}&SAMLRequest={e}")).is_err());
    }
}
