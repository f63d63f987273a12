//! The CIE relying party's JOSE: the OP's tokens as they arrive (compact JWS and JWE) through
//! `jose::header`, `unverified_claims`, `verify` with a fixed JWKS and `decrypt` with a fixed
//! encryption key, and the ID token and userinfo checks built on them (`check_id_token`,
//! `open_userinfo`, `identity`).
//!
//! The first byte chooses what the rest is:
//! - `J`: the payload of an ID token that the harness signs (ES256) with the OP's key, so the
//!   claim checks after the signature are fuzzed; what `verify` returns must be exactly the
//!   payload's claims;
//! - `E`: a plaintext the harness encrypts to the RP's key (RSA-OAEP, A128CBC-HS256);
//!   `decrypt` must return exactly it;
//! - `U`: the claims of a userinfo answer, signed by the OP and encrypted to the RP, as the
//!   userinfo endpoint sends them;
//! - anything else: a token as received. None may verify: the fuzzer does not have the keys.
//!
//! Every key is made once at start; none is committed.
#![no_main]

use std::sync::OnceLock;

use josekit::jwe::alg::rsaes::RsaesJweEncrypter;
use josekit::jwe::{self, JweHeader};
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair;
use josekit::jws::alg::ecdsa::EcdsaJwsSigner;
use josekit::jws::{self, JwsHeader};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use sportello::auth::cie::keys::{thumbprint, RpKey, RpKeys};
use sportello::auth::cie::{self, jose, Expected};
use sportello::auth::AuthLevel;

const ISSUER: &str = "https://op.fuzz.example/oidc/op";
const CLIENT_ID: &str = "https://sportello.fuzz.example";
const NONCE: &str = "fuzz-nonce-0123456789";
const ACCESS_TOKEN: &str = "fuzz-access-token";
const SUBJECT: &str = "fuzz-subject";
/// 2026-11-23T10:00:00Z, the seeds' clock.
const NOW: i64 = 1_795_428_000;
const OP_EC_KID: &str = "op-ec";
const OP_RSA_KID: &str = "op-rsa";

struct Fixture {
    /// The RP's keys (one RSA key in every role: only `encryption` is used here).
    rp: RpKeys,
    /// The OP's signing key, published in `op_jwks` with `OP_EC_KID`.
    op_signer: EcdsaJwsSigner,
    /// Encrypts to the RP's encryption key.
    to_rp: RsaesJweEncrypter,
    /// The OP's keys: an EC and an RSA signing key, and an encryption key `verify` must skip.
    op_jwks: Value,
}

fn rp_key(pair: &RsaKeyPair, usage: &str, alg: &str) -> RpKey {
    let mut public = pair.to_jwk_public_key();
    let kid = thumbprint(&public).expect("thumbprint");
    public.set_key_id(&kid);
    public.set_key_use(usage);
    public.set_algorithm(alg);
    RpKey {
        kid,
        pem: pair.to_pem_private_key(),
        public,
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rp_pair = RsaKeyPair::generate(2048).expect("RSA key");
        let enc = rp_key(&rp_pair, "enc", "RSA-OAEP");
        let rp = RpKeys {
            federation: rp_key(&rp_pair, "sig", "RS256"),
            signing: rp_key(&rp_pair, "sig", "RS256"),
            encryption: enc,
        };
        let ec = EcKeyPair::generate(EcCurve::P256).expect("EC key");
        let mut ec_public = ec.to_jwk_public_key();
        ec_public.set_key_id(OP_EC_KID);
        ec_public.set_key_use("sig");
        let rsa = RsaKeyPair::generate(2048).expect("RSA key");
        let mut rsa_public = rsa.to_jwk_public_key();
        rsa_public.set_key_id(OP_RSA_KID);
        // An encryption key under the EC key's kid (the same RSA key: only its use differs).
        let mut op_enc = rsa.to_jwk_public_key();
        op_enc.set_key_id(OP_EC_KID);
        op_enc.set_key_use("enc");
        let op_jwks = json!({ "keys": [
            Value::Object(ec_public.as_ref().clone()),
            Value::Object(rsa_public.as_ref().clone()),
            Value::Object(op_enc.as_ref().clone()),
        ]});
        let to_rp = jwe::RSA_OAEP
            .encrypter_from_jwk(&rp.encryption.public)
            .expect("encrypter");
        Fixture {
            op_signer: jws::ES256
                .signer_from_pem(ec.to_pem_private_key())
                .expect("signer"),
            to_rp,
            rp,
            op_jwks,
        }
    })
}

/// `SPORTELLO_FUZZ_DEBUG=1` prints what the checks answered (to see what an input reaches).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("SPORTELLO_FUZZ_DEBUG").is_some_and(|v| v == "1"))
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        nonce: NONCE,
        level: AuthLevel::L2,
        now: NOW,
        skew: 60,
    }
}

/// A compact JWS of the OP over `payload` (any bytes).
fn op_signed(payload: &[u8]) -> String {
    let mut h = JwsHeader::new();
    h.set_key_id(OP_EC_KID);
    h.set_token_type("JWT");
    jws::serialize_compact(payload, &h, &fixture().op_signer).expect("JWS")
}

/// A compact JWE of `plain` to the RP's encryption key.
fn to_rp(plain: &[u8]) -> String {
    let f = fixture();
    let mut h = JweHeader::new();
    h.set_content_encryption("A128CBC-HS256");
    h.set_key_id(&f.rp.encryption.kid);
    jwe::serialize_compact(plain, &h, &f.to_rp).expect("JWE")
}

/// The claims of a JSON object payload, as `verify` must return them.
fn claims_of(payload: &[u8]) -> Option<jose::Claims> {
    match serde_json::from_slice(payload) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn id_token(payload: &[u8]) {
    let f = fixture();
    let token = op_signed(payload);
    let verified = jose::verify(&token, &f.op_jwks).ok().map(|(_, c)| c);
    let parsed = claims_of(payload);
    // What verifies is exactly what was signed; a payload that is no JSON object never
    // verifies (the service may refuse more, e.g. duplicate members).
    if let Some(claims) = &verified {
        assert_eq!(Some(claims), parsed.as_ref(), "verify changed the claims");
    }
    assert!(
        parsed.is_some() || verified.is_none(),
        "a payload that is no JSON object verified"
    );
    let checked = cie::check_id_token(&token, &f.op_jwks, &expected(), ACCESS_TOKEN);
    if debug() {
        eprintln!("ID token: {checked:?}");
    }
    if let Ok((claims, level)) = checked {
        assert!(level >= AuthLevel::L2);
        assert_eq!(claims.get("nonce").and_then(Value::as_str), Some(NONCE));
        let _ = cie::identity(&claims, &jose::Claims::new(), level);
    }
}

fn encrypted(plain: &[u8]) {
    let f = fixture();
    let token = to_rp(plain);
    let opened = jose::decrypt(&token, &f.rp.encryption).expect("our own JWE does not open");
    assert_eq!(opened, plain);
}

fn userinfo(payload: &[u8]) {
    let f = fixture();
    let body = to_rp(op_signed(payload).as_bytes());
    let opened = cie::open_userinfo(&body, &f.rp, &f.op_jwks, SUBJECT);
    if debug() {
        eprintln!("userinfo: {opened:?}");
    }
    if let Ok(claims) = opened {
        assert_eq!(claims.get("sub").and_then(Value::as_str), Some(SUBJECT));
        let id = claims_of(br#"{"sub":"fuzz-subject"}"#).expect("claims");
        let identity = cie::identity(&id, &claims, AuthLevel::L2);
        if debug() {
            eprintln!("identity: {identity:?}");
        }
    }
}

fn as_received(token: &str) {
    let f = fixture();
    let _ = jose::header(token);
    let _ = jose::unverified_claims(token);
    assert!(
        jose::verify(token, &f.op_jwks).is_err(),
        "a token made without the OP's key verified"
    );
    let _ = jose::decrypt(token, &f.rp.encryption);
    assert!(cie::check_id_token(token, &f.op_jwks, &expected(), ACCESS_TOKEN).is_err());
    let _ = cie::open_userinfo(token, &f.rp, &f.op_jwks, SUBJECT);
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((b'J', payload)) => id_token(payload),
        Some((b'E', plain)) => encrypted(plain),
        Some((b'U', payload)) => userinfo(payload),
        _ => {
            if let Ok(token) = std::str::from_utf8(data) {
                as_received(token);
            }
        }
    }
});
