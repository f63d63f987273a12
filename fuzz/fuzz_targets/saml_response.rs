//! The SPID assertion consumer service's validator, from the raw bytes of a decoded
//! SAMLResponse to its verdict: a `Login` or a `Refusal`, never a panic.
//!
//! Two ways in, chosen by the first byte:
//! - anything else: the bytes as they came, through `parse_response` and `validate` with a
//!   fixed identity provider, request and clock (parsing, shape, signature refusal). None may
//!   log in: the IdP's key is made at start, so no such input carries its signature;
//! - `S` then a Response holding a `ds:Signature` template: the harness signs the template
//!   with the fixed IdP's key first, as an IdP would, so that the checks that run only after
//!   a signature verifies (envelope, status, assertion, subject, conditions, level,
//!   attributes) are fuzzed too.
//!
//! The IdP's key pair is made once at start (ECDSA P-256, fast to sign with); no key is
//! committed, so the committed seeds' own signatures never verify: the `S` seeds carry empty
//! templates instead.
#![no_main]

use std::sync::OnceLock;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use libfuzzer_sys::fuzz_target;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509};
use samael::crypto::{CryptoProvider, XmlSec};
use sportello::auth::spid::idp::IdentityProvider;
use sportello::auth::spid::response::{self, Expected, Refusal};
use sportello::auth::AuthLevel;

/// The fixed parties and clock; the seeds under fuzz/corpus/saml_response use the same.
const IDP_ENTITY_ID: &str = "https://idp.fuzz.example";
const SP_ENTITY_ID: &str = "https://sportello.fuzz.example";
const ACS_URL: &str = "https://sportello.fuzz.example/spid/acs";
const REQUEST_ID: &str = "_0123456789abcdef0123456789abcdef";

struct Fixture {
    idp: IdentityProvider,
    /// The IdP's private key, DER (what `XmlSec::sign_xml` takes).
    key_der: Vec<u8>,
    request_issued: NaiveDateTime,
    now: NaiveDateTime,
}

fn instant(h: u32, m: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 23)
        .and_then(|d| d.and_hms_opt(h, m, s))
        .expect("fixed instant")
}

fn certificate(key: &PKey<Private>) -> X509 {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, "sportello fuzz test IdP")
        .expect("CN");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("version");
    let serial = BigNum::from_u32(1).and_then(|n| n.to_asn1_integer());
    b.set_serial_number(&serial.expect("serial"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(key).expect("key");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("not before");
    b.set_not_after(&Asn1Time::days_from_now(3650).expect("time"))
        .expect("not after");
    b.sign(key, MessageDigest::sha256()).expect("self-signed");
    b.build()
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let key = PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("PKey");
        let cert = certificate(&key);
        Fixture {
            idp: IdentityProvider {
                entity_id: IDP_ENTITY_ID.to_owned(),
                name: "IdP di prova (fuzz)".to_owned(),
                sso_redirect: Some(format!("{IDP_ENTITY_ID}/sso")),
                sso_post: None,
                slo: Vec::new(),
                signing_certificates: vec![cert.to_der().expect("DER")],
            },
            key_der: key.private_key_to_der().expect("key DER"),
            request_issued: instant(9, 59, 30),
            now: instant(10, 0, 0),
        }
    })
}

/// `SPORTELLO_FUZZ_DEBUG=1` prints each verdict (to see what a replayed input reaches).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("SPORTELLO_FUZZ_DEBUG").is_some_and(|v| v == "1"))
}

/// Validates `xml`; true when it logged in.
fn check(xml: &[u8]) -> bool {
    let f = fixture();
    let exp = Expected {
        sp_entity_id: SP_ENTITY_ID,
        acs_url: ACS_URL,
        request_id: REQUEST_ID,
        request_issued: f.request_issued,
        idp: &f.idp,
        level: AuthLevel::L2,
        now: f.now,
        skew: Duration::seconds(120),
    };
    let verdict = response::validate(xml, &exp);
    if debug() {
        eprintln!("verdict: {verdict:?}");
    }
    match &verdict {
        Ok(login) => {
            // A login carries what the checks promised.
            assert!(!login.assertion_id.trim().is_empty());
            assert!(!login.name_id.trim().is_empty());
            assert!(login.level >= exp.level);
            assert!(login.assertion_expires > f.now);
            for name in sportello::auth::spid::metadata::REQUESTED_ATTRIBUTES {
                assert!(login.attributes.get(name).is_some_and(|v| !v.is_empty()));
            }
        }
        Err(Refusal::Status { status, .. }) => assert!(!status.is_empty()),
        Err(Refusal::Invalid(why)) => assert!(!why.is_empty()),
    }
    verdict.is_ok()
}

fuzz_target!(|data: &[u8]| {
    if let Some((b'S', template)) = data.split_first() {
        // Only what the ACS would parse at all is signed (no DTD, well-formed).
        if response::parse_response(template).is_err() {
            return;
        }
        match XmlSec::sign_xml(template, &fixture().key_der) {
            Ok(signed) => {
                check(signed.as_bytes());
            }
            Err(e) if debug() => eprintln!("not signed: {e:?}"),
            Err(_) => {}
        }
        return;
    }
    if let Ok(root) = response::parse_response(data) {
        let _ = response::in_response_to(&root);
    }
    // The IdP's key was made at start: no input as received can carry its signature.
    assert!(!check(data), "a Response not signed by the IdP logged in");
});
