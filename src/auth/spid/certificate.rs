//! The key and self-signed certificate of a public-sector SPID service provider, made
//! offline, as Avviso SPID n. 29 v3 requires:
//!
//! - RSA 2048, 3072 or 4096 bits; signature SHA-256 or SHA-512;
//! - SubjectDN: organizationName, commonName, uri (2.5.4.83, the SP's entityID),
//!   organizationIdentifier (2.5.4.97, `PA:IT-<IPA code>`), countryName `IT`, localityName —
//!   and no personal attributes;
//! - basicConstraints `CA:FALSE`; keyUsage (critical) digitalSignature and nonRepudiation only;
//! - certificatePolicies: AgIDroot (1.3.76.16), agIDcert (1.3.76.16.6) and
//!   spid-publicsector-SP (1.3.76.16.4.2.1, notice `cert_SP_Pub`).
//!
//! The result passes the validator of `spid-compliant-certificates` (`--sector public`),
//! which the test suite runs. That package's generator needs the internet (it looks the IPA
//! code up); this one does not.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use openssl::x509::{X509Builder, X509Extension, X509NameBuilder};

/// What goes into the certificate.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    /// The SP's entityID (the public URL of its metadata), `https://…`.
    pub entity_id: String,
    /// The ente's IPA code, e.g. `c_h501`.
    pub ipa_code: String,
    pub organization_name: String,
    pub common_name: String,
    /// The ente's seat, e.g. `Roma`.
    pub locality: String,
    pub key_bits: u32,
    pub days: u32,
    /// `sha256` or `sha512`.
    pub digest: String,
}

impl CertificateRequest {
    fn check(&self) -> anyhow::Result<()> {
        if !self.entity_id.starts_with("https://") || self.entity_id.len() < 12 {
            bail!("--entity-id must be the https:// address of the SP (its entityID)");
        }
        let code = &self.ipa_code;
        if code.is_empty() || code.len() > 16 || code.chars().any(|c| c.is_whitespace()) {
            bail!("--ipa-code must be the ente's IPA code (1–16 characters, no spaces)");
        }
        for (flag, v) in [
            ("--org-name", &self.organization_name),
            ("--common-name", &self.common_name),
            ("--locality", &self.locality),
        ] {
            if v.trim().is_empty() {
                bail!("{flag} must not be empty");
            }
        }
        if ![2048, 3072, 4096].contains(&self.key_bits) {
            bail!("--key-size must be 2048, 3072 or 4096");
        }
        if !(1..=3650).contains(&self.days) {
            bail!("--days must be between 1 and 3650");
        }
        if self.digest != "sha256" && self.digest != "sha512" {
            bail!("--digest must be sha256 or sha512");
        }
        Ok(())
    }
}

/// DER: one tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// DER of an OBJECT IDENTIFIER given as dotted decimal.
fn oid(dotted: &str) -> anyhow::Result<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse::<u64>().context("bad OID"))
        .collect::<anyhow::Result<_>>()?;
    if arcs.len() < 2 {
        bail!("bad OID {dotted}");
    }
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend(tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    Ok(tlv(0x06, &body))
}

/// DER of certificatePolicies: each policy with a user notice (explicitText, UTF8String).
fn certificate_policies(policies: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
    let unotice = oid("1.3.6.1.5.5.7.2.2")?;
    let mut seq = Vec::new();
    for (policy, text) in policies {
        let notice = tlv(0x30, &tlv(0x0c, text.as_bytes()));
        let qualifier = tlv(0x30, &[unotice.clone(), notice].concat());
        let info = tlv(0x30, &[oid(policy)?, tlv(0x30, &qualifier)].concat());
        seq.extend(info);
    }
    Ok(tlv(0x30, &seq))
}

/// The generated pair, PEM-encoded.
pub struct Generated {
    pub key_pem: Vec<u8>,
    pub certificate_pem: Vec<u8>,
}

pub fn generate(req: &CertificateRequest) -> anyhow::Result<Generated> {
    req.check()?;
    let key = PKey::from_rsa(Rsa::generate(req.key_bits)?)?;

    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", &req.organization_name)?;
    name.append_entry_by_text("CN", &req.common_name)?;
    name.append_entry_by_text("2.5.4.83", &req.entity_id)?;
    name.append_entry_by_text("2.5.4.97", &format!("PA:IT-{}", req.ipa_code))?;
    name.append_entry_by_text("C", "IT")?;
    name.append_entry_by_text("L", &req.locality)?;
    let name = name.build();

    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(159, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (not_before, not_after) = (
        Asn1Time::days_from_now(0)?,
        Asn1Time::days_from_now(req.days)?,
    );
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    b.append_extension(BasicConstraints::new().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .non_repudiation()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    let policies = certificate_policies(&[
        ("1.3.76.16", "AgIDroot"),
        ("1.3.76.16.6", "agIDcert"),
        ("1.3.76.16.4.2.1", "cert_SP_Pub"),
    ])?;
    let policies_oid = Asn1Object::from_str("2.5.29.32")?;
    let policies = Asn1OctetString::new_from_bytes(&policies)?;
    b.append_extension(X509Extension::new_from_der(
        &policies_oid,
        false,
        &policies,
    )?)?;
    let digest = if req.digest == "sha512" {
        MessageDigest::sha512()
    } else {
        MessageDigest::sha256()
    };
    b.sign(&key, digest)?;
    Ok(Generated {
        key_pem: key.private_key_to_pem_pkcs8()?,
        certificate_pem: b.build().to_pem()?,
    })
}

/// Writes `key.pem` (readable by the owner only) and `crt.pem` into `dir`; never overwrites.
pub fn write(dir: &Path, g: &Generated) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = dir.join("key.pem");
    let crt = dir.join("crt.pem");
    for p in [&key, &crt] {
        if p.exists() {
            bail!("{} exists: not overwriting it", p.display());
        }
    }
    crate::text::write_new_file(&key, &g.key_pem, 0o600)?;
    crate::text::write_new_file(&crt, &g.certificate_pem, 0o644)?;
    Ok((key, crt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_encoding_of_oids_and_lengths() {
        // 1.3.6.1.5.5.7.2.2 (id-qt-unotice) and 2.5.29.32 (certificatePolicies).
        assert_eq!(
            oid("1.3.6.1.5.5.7.2.2").unwrap(),
            [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x02, 0x02]
        );
        assert_eq!(oid("2.5.29.32").unwrap(), [0x06, 0x03, 0x55, 0x1d, 0x20]);
        // 1.3.76.16.4.2.1
        assert_eq!(
            oid("1.3.76.16.4.2.1").unwrap(),
            [0x06, 0x06, 0x2b, 0x4c, 0x10, 0x04, 0x02, 0x01]
        );
        assert_eq!(tlv(0x04, &[0u8; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[0u8; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn bad_requests_are_refused() {
        let ok = CertificateRequest {
            entity_id: "https://sportello.comune.example.it".into(),
            ipa_code: "c_x000".into(),
            organization_name: "Comune di Esempio".into(),
            common_name: "Comune di Esempio".into(),
            locality: "Esempio".into(),
            key_bits: 2048,
            days: 365,
            digest: "sha256".into(),
        };
        assert!(ok.check().is_ok());
        for bad in [
            CertificateRequest {
                entity_id: "http://x.example".into(),
                ..ok.clone()
            },
            CertificateRequest {
                ipa_code: "c x000".into(),
                ..ok.clone()
            },
            CertificateRequest {
                ipa_code: "a_very_long_ipa_code".into(),
                ..ok.clone()
            },
            CertificateRequest {
                key_bits: 1024,
                ..ok.clone()
            },
            CertificateRequest {
                days: 0,
                ..ok.clone()
            },
            CertificateRequest {
                digest: "sha1".into(),
                ..ok.clone()
            },
            CertificateRequest {
                locality: " ".into(),
                ..ok.clone()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
