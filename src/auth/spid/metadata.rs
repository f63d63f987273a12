//! Signed SAML 2.0 metadata of a public-sector SPID service provider (`GET /spid/metadata`),
//! as AgID's technical rules and Avviso SPID n. 29 v3 require: `AuthnRequestsSigned` and
//! `WantAssertionsSigned`, a signing `KeyDescriptor`, single logout (HTTP-POST and
//! HTTP-Redirect), the default ACS at index 0 (HTTP-POST), an `AttributeConsumingService`
//! asking only for name, familyName, fiscalNumber and email (data minimisation),
//! `Organization`, and a `ContactPerson` of type `other` with the SPID extensions of public
//! bodies (`spid:IPACode`, `spid:Public`). Enveloped signature: RSA-SHA256, SHA-256 digests,
//! exclusive canonicalisation.
//!
//! The document is written here rather than with samael's metadata types: in samael 0.0.22
//! they do not serialise the `ID` attribute nor the signature, do not escape localised text,
//! and have no `ContactPerson` extensions. samael provides the signature template (its
//! digest is switched from SHA-1 to SHA-256) and signs through libxmlsec1.
//!
//! Checked in the test suite with AgID's `spid-sp-test` (profile `spid-sp-public`, `--extra`).

use anyhow::{anyhow, bail, ensure, Context, Result};
use openssl::pkey::PKey;
use openssl::x509::X509;
use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};
use samael::key_info::{KeyInfo, X509Data};
use samael::signature::{DigestAlgorithm, Signature, SignatureAlgorithm};
use samael::traits::ToXml;

use crate::config::{ConfigError, SpidSettings};

const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Namespace of the SPID metadata extensions (Avviso SPID n. 29 v3).
const NS_SPID: &str = "https://spid.gov.it/saml-extensions";

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// The SPID attributes the service asks for (AttributeConsumingService index 0).
pub const REQUESTED_ATTRIBUTES: [&str; 4] = ["name", "familyName", "fiscalNumber", "email"];

/// What the metadata says about the service provider.
#[derive(Debug, Clone)]
pub struct SpConfig {
    /// The SP's entityID, e.g. `https://sportello.comune.example.it`.
    pub entity_id: String,
    /// Public base URL; `/spid/acs` and `/spid/slo` are appended.
    pub base_url: String,
    pub service_name: String,
    pub organization_name: String,
    pub organization_display_name: String,
    pub organization_url: String,
    /// The ente's IPA code, e.g. `c_h501`.
    pub ipa_code: String,
    pub contact_email: String,
    /// No spaces; should start with `+39`.
    pub contact_phone: Option<String>,
}

impl SpConfig {
    /// The metadata's content from `spid.*`; `public_url` is the service's public address.
    /// Refused, naming the key, exactly as `Settings::validate` refuses it.
    pub fn from_settings(s: &SpidSettings, public_url: &str) -> Result<Self, ConfigError> {
        s.check_metadata(public_url)?;
        let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().to_owned();
        let organization_name = text(&s.organization_name);
        Ok(Self {
            entity_id: s.entity_id_or(public_url),
            base_url: public_url.to_owned(),
            service_name: s
                .service_name
                .clone()
                .unwrap_or_else(|| "Sportello online del cittadino".to_owned()),
            organization_display_name: s
                .organization_display_name
                .clone()
                .unwrap_or_else(|| organization_name.clone()),
            organization_name,
            organization_url: text(&s.organization_url),
            ipa_code: text(&s.ipa_code),
            contact_email: text(&s.contact_email),
            contact_phone: s.contact_phone.clone(),
        })
    }
}

/// The SP's private key and certificate (PEM), read from `spid.key_file` and
/// `spid.cert_file`.
pub fn read_key_and_cert(s: &SpidSettings) -> Result<(Vec<u8>, Vec<u8>), ConfigError> {
    let read = |key: &str, p: &Option<std::path::PathBuf>| -> Result<Vec<u8>, ConfigError> {
        let p = p
            .as_ref()
            .ok_or_else(|| ConfigError::new(key, "is required when spid.enabled = true"))?;
        std::fs::read(p)
            .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", p.display())))
    };
    Ok((
        read("spid.key_file", &s.key_file)?,
        read("spid.cert_file", &s.cert_file)?,
    ))
}

/// Reads key and certificate and signs the metadata.
pub fn build(s: &SpidSettings, public_url: &str) -> Result<String, ConfigError> {
    let cfg = SpConfig::from_settings(s, public_url)?;
    let (key, cert) = read_key_and_cert(s)?;
    sign(&cfg, &key, &cert)
}

/// Signs the SP metadata ([`sp_metadata`]); a problem is reported against `spid.key_file`.
pub fn sign(cfg: &SpConfig, key: &[u8], cert: &[u8]) -> Result<String, ConfigError> {
    sp_metadata(cfg, key, cert).map_err(|e| ConfigError::new("spid.key_file", format!("{e:#}")))
}

/// Builds and signs the metadata with the SP's key (PEM) and certificate (PEM).
pub fn sp_metadata(cfg: &SpConfig, key_pem: &[u8], cert_pem: &[u8]) -> Result<String> {
    let key = PKey::private_key_from_pem(key_pem).context("SPID key: not a PEM private key")?;
    let cert = X509::from_pem(cert_pem).context("SPID certificate: not a PEM certificate")?;
    let cert_key = cert
        .public_key()
        .context("SPID certificate: unreadable public key")?;
    ensure!(
        key.public_eq(&cert_key),
        "the SPID private key does not belong to the certificate"
    );
    let cert_der = cert.to_der()?;
    // xmlsec loads DER keys with d2i_PrivateKey: the traditional (PKCS#1) encoding.
    let key_der = key.private_key_to_der()?;

    let id = super::xml::new_id()?;
    let unsigned = unsigned_metadata(cfg, &id, &cert_der)?;
    let template = signature_template(&id, &cert_der)?;
    let with_template = insert_after_root_start_tag(&unsigned, &template)?;
    XmlSec::sign_xml(with_template.as_bytes(), &key_der)
        .map_err(|e| anyhow!("signing the SPID metadata with xmlsec: {e:?}"))
}

/// The enveloped-signature template: RSA-SHA256, SHA-256 digest (samael's template says
/// SHA-1), exclusive c14n, KeyInfo with the certificate on one base64 line.
fn signature_template(id: &str, cert_der: &[u8]) -> Result<String> {
    let mut sig = Signature::template(id, &CertificateDer::from(cert_der.to_vec()));
    sig.signed_info.signature_method.algorithm = SignatureAlgorithm::RsaSha256;
    for reference in &mut sig.signed_info.reference {
        reference.digest_method.algorithm = DigestAlgorithm::Sha256;
    }
    sig.key_info = Some(vec![KeyInfo {
        id: None,
        x509_data: Some(X509Data {
            certificates: vec![openssl::base64::encode_block(cert_der)],
        }),
    }]);
    sig.to_string()
        .map_err(|e| anyhow!("serialising the signature template: {e}"))
}

/// Puts `fragment` right after the root's start tag: the schema wants `ds:Signature` first.
fn insert_after_root_start_tag(xml: &str, fragment: &str) -> Result<String> {
    let root_start = xml
        .find("<md:EntityDescriptor")
        .ok_or_else(|| anyhow!("no EntityDescriptor start tag"))?;
    let end = root_start
        + xml[root_start..]
            .find('>')
            .ok_or_else(|| anyhow!("unterminated EntityDescriptor start tag"))?
        + 1;
    Ok([&xml[..end], fragment, &xml[end..]].concat())
}

fn unsigned_metadata(cfg: &SpConfig, id: &str, cert_der: &[u8]) -> Result<String> {
    for (what, value) in [
        ("entity_id", &cfg.entity_id),
        ("base_url", &cfg.base_url),
        ("service_name", &cfg.service_name),
        ("organization_name", &cfg.organization_name),
        ("organization_display_name", &cfg.organization_display_name),
        ("organization_url", &cfg.organization_url),
        ("ipa_code", &cfg.ipa_code),
        ("contact_email", &cfg.contact_email),
    ] {
        if value.trim().is_empty() {
            bail!("SPID metadata: {what} must not be empty");
        }
    }
    if let Some(phone) = &cfg.contact_phone {
        ensure!(
            !phone.contains(char::is_whitespace),
            "SPID metadata: the telephone number must not contain spaces"
        );
    }
    let base = cfg.base_url.trim_end_matches('/');
    let acs = format!("{base}/spid/acs");
    let slo = format!("{base}/spid/slo");
    let cert_b64 = openssl::base64::encode_block(cert_der);

    let mut x = String::with_capacity(8 * 1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        r#"<md:EntityDescriptor xmlns:md="{NS_MD}" xmlns:ds="{NS_DS}" xmlns:spid="{NS_SPID}" entityID="{}" ID="{}">"#,
        esc(&cfg.entity_id),
        esc(id)
    ));
    // Schema order: KeyDescriptor, SingleLogoutService, NameIDFormat,
    // AssertionConsumerService, AttributeConsumingService.
    x.push_str(&format!(
        r#"<md:SPSSODescriptor protocolSupportEnumeration="{PROTOCOL}" AuthnRequestsSigned="true" WantAssertionsSigned="true">"#
    ));
    x.push_str(&format!(
        r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
    ));
    for binding in [BINDING_POST, BINDING_REDIRECT] {
        x.push_str(&format!(
            r#"<md:SingleLogoutService Binding="{binding}" Location="{}"/>"#,
            esc(&slo)
        ));
    }
    x.push_str(&format!(
        "<md:NameIDFormat>{NAMEID_TRANSIENT}</md:NameIDFormat>"
    ));
    x.push_str(&format!(
        r#"<md:AssertionConsumerService index="0" isDefault="true" Binding="{BINDING_POST}" Location="{}"/>"#,
        esc(&acs)
    ));
    x.push_str(r#"<md:AttributeConsumingService index="0">"#);
    x.push_str(&format!(
        r#"<md:ServiceName xml:lang="it">{}</md:ServiceName>"#,
        esc(&cfg.service_name)
    ));
    for name in REQUESTED_ATTRIBUTES {
        x.push_str(&format!(r#"<md:RequestedAttribute Name="{name}"/>"#));
    }
    x.push_str("</md:AttributeConsumingService></md:SPSSODescriptor>");
    // Organization: name, display name, URL, in Italian (xml:lang must be the only attribute).
    x.push_str("<md:Organization>");
    for (tag, value) in [
        ("OrganizationName", &cfg.organization_name),
        ("OrganizationDisplayName", &cfg.organization_display_name),
        ("OrganizationURL", &cfg.organization_url),
    ] {
        x.push_str(&format!(
            r#"<md:{tag} xml:lang="it">{}</md:{tag}>"#,
            esc(value)
        ));
    }
    x.push_str("</md:Organization>");
    // ContactPerson "other": Extensions (IPACode before Public), EmailAddress, TelephoneNumber.
    x.push_str(r#"<md:ContactPerson contactType="other"><md:Extensions>"#);
    x.push_str(&format!(
        "<spid:IPACode>{}</spid:IPACode><spid:Public/>",
        esc(cfg.ipa_code.trim())
    ));
    x.push_str("</md:Extensions>");
    x.push_str(&format!(
        "<md:EmailAddress>{}</md:EmailAddress>",
        esc(cfg.contact_email.trim())
    ));
    if let Some(phone) = &cfg.contact_phone {
        x.push_str(&format!(
            "<md:TelephoneNumber>{}</md:TelephoneNumber>",
            esc(phone)
        ));
    }
    x.push_str("</md:ContactPerson></md:EntityDescriptor>");
    Ok(x)
}

/// Escapes text content and attribute values.
fn esc(s: &str) -> String {
    crate::text::escape_html(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_signs_with_sha256_only() {
        let t = signature_template("_x", b"\x30\x00").unwrap();
        assert!(t.contains("http://www.w3.org/2001/04/xmlenc#sha256"));
        assert!(t.contains("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"));
        assert!(!t.contains("sha1"));
        assert!(t.contains(r##"URI="#_x""##));
    }

    #[test]
    fn the_signature_goes_first_inside_the_root() {
        let x = insert_after_root_start_tag(
            "<?xml version=\"1.0\"?>\n<md:EntityDescriptor a=\"1\"><b/></md:EntityDescriptor>",
            "<S/>",
        )
        .unwrap();
        assert!(x.ends_with("<md:EntityDescriptor a=\"1\"><S/><b/></md:EntityDescriptor>"));
    }
}
