//! JOSE with `josekit` (OpenSSL underneath): signing our JWTs, verifying the OP's and the
//! federation's JWS against a JWKS, and opening the userinfo JWE. Only the algorithms the
//! SPID/CIE OIDC profile allows are accepted: RS256/384/512, PS256/384/512, ES256/384/512 for
//! signatures; RSA-OAEP and RSA-OAEP-256 with A128CBC-HS256 or A256CBC-HS512 for encryption.
//! `none`, HMAC and RSA1_5 are refused before any key is touched.

use anyhow::{anyhow, bail, Context, Result};
use josekit::jwe::{self, JweHeader};
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader, JwsVerifier};
use serde_json::{Map, Value};

use super::keys::RpKey;

pub type Claims = Map<String, Value>;

pub const SIGNING_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
];
pub const JWE_ALGS: [&str; 2] = ["RSA-OAEP", "RSA-OAEP-256"];
pub const JWE_ENCS: [&str; 2] = ["A128CBC-HS256", "A256CBC-HS512"];

fn b64url_decode(s: &str) -> Result<Vec<u8>> {
    let mut t = s.replace('-', "+").replace('_', "/");
    while t.len() % 4 != 0 {
        t.push('=');
    }
    openssl::base64::decode_block(&t).map_err(|_| anyhow!("not base64url"))
}

/// The protected header of a compact JWS/JWE, unverified.
pub fn header(token: &str) -> Result<Claims> {
    let first = token.split('.').next().unwrap_or_default();
    let v: Value = serde_json::from_slice(&b64url_decode(first)?).context("header is not JSON")?;
    match v {
        Value::Object(m) => Ok(m),
        _ => bail!("header is not a JSON object"),
    }
}

/// The payload of a compact JWS, NOT verified (to learn who signed it before verifying).
pub fn unverified_claims(token: &str) -> Result<Claims> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        bail!("not a compact JWS");
    }
    let v: Value =
        serde_json::from_slice(&b64url_decode(parts[1])?).context("payload is not JSON")?;
    match v {
        Value::Object(m) => Ok(m),
        _ => bail!("payload is not a JSON object"),
    }
}

/// Signs claims as a JWT (RS256) with one of our keys; `typ` as the profile wants it.
pub fn sign(key: &RpKey, typ: Option<&str>, claims: &Claims) -> Result<String> {
    let signer = jws::RS256
        .signer_from_pem(&key.pem)
        .context("signing key")?;
    let mut h = JwsHeader::new();
    h.set_key_id(&key.kid);
    if let Some(t) = typ {
        h.set_token_type(t);
    }
    let payload = serde_json::to_vec(claims)?;
    Ok(jws::serialize_compact(&payload, &h, &signer)?)
}

fn verifier(alg: &str, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>> {
    Ok(match alg {
        "RS256" => Box::new(jws::RS256.verifier_from_jwk(jwk)?),
        "RS384" => Box::new(jws::RS384.verifier_from_jwk(jwk)?),
        "RS512" => Box::new(jws::RS512.verifier_from_jwk(jwk)?),
        "PS256" => Box::new(jws::PS256.verifier_from_jwk(jwk)?),
        "PS384" => Box::new(jws::PS384.verifier_from_jwk(jwk)?),
        "PS512" => Box::new(jws::PS512.verifier_from_jwk(jwk)?),
        "ES256" => Box::new(jws::ES256.verifier_from_jwk(jwk)?),
        "ES384" => Box::new(jws::ES384.verifier_from_jwk(jwk)?),
        "ES512" => Box::new(jws::ES512.verifier_from_jwk(jwk)?),
        other => bail!("signature algorithm {other} not allowed"),
    })
}

/// The keys of a JWKS (`{"keys": [...]}`).
pub fn jwks_keys(jwks: &Value) -> Result<Vec<Jwk>> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .context("JWKS without keys")?;
    keys.iter()
        .map(|k| match k {
            Value::Object(m) => Jwk::from_map(m.clone()).map_err(|e| anyhow!("bad JWK: {e}")),
            _ => bail!("a JWK is not an object"),
        })
        .collect()
}

/// Verifies a compact JWS with the key of the JWKS its `kid` names (the only signing key when
/// it names none); returns header and claims.
pub fn verify(token: &str, jwks: &Value) -> Result<(Claims, Claims)> {
    let h = header(token)?;
    let alg = h.get("alg").and_then(Value::as_str).unwrap_or("none");
    if !SIGNING_ALGS.contains(&alg) {
        bail!("signature algorithm {alg} not allowed");
    }
    let keys = jwks_keys(jwks)?;
    let kid = h.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|k| k.key_use().is_none_or(|u| u == "sig"))
        .filter(|k| match kid {
            Some(kid) => k.key_id() == Some(kid),
            None => true,
        })
        .collect();
    let jwk = match (candidates.as_slice(), kid) {
        ([one], _) => *one,
        ([], Some(kid)) => bail!("no key with kid {kid}"),
        ([], None) => bail!("no signing key"),
        (_, _) => bail!("several keys could have signed it and it names none"),
    };
    let v = verifier(alg, jwk)?;
    let (payload, _) = jws::deserialize_compact(token, v.as_ref())
        .map_err(|e| anyhow!("signature does not verify: {e}"))?;
    let claims: Value = serde_json::from_slice(&payload).context("payload is not JSON")?;
    match claims {
        Value::Object(m) => Ok((h, m)),
        _ => bail!("payload is not a JSON object"),
    }
}

/// Opens a compact JWE addressed to our encryption key; returns the plaintext.
pub fn decrypt(token: &str, key: &RpKey) -> Result<Vec<u8>> {
    if token.split('.').count() != 5 {
        bail!("not a compact JWE");
    }
    let h = header(token)?;
    let alg = h.get("alg").and_then(Value::as_str).unwrap_or("none");
    let enc = h.get("enc").and_then(Value::as_str).unwrap_or("none");
    if !JWE_ALGS.contains(&alg) {
        bail!("key encryption algorithm {alg} not allowed");
    }
    if !JWE_ENCS.contains(&enc) {
        bail!("content encryption {enc} not allowed");
    }
    if let Some(kid) = h.get("kid").and_then(Value::as_str) {
        if kid != key.kid {
            bail!("encrypted for another key ({kid})");
        }
    }
    let (plain, _h): (Vec<u8>, JweHeader) = match alg {
        "RSA-OAEP" => jwe::deserialize_compact(token, &jwe::RSA_OAEP.decrypter_from_pem(&key.pem)?),
        _ => jwe::deserialize_compact(token, &jwe::RSA_OAEP_256.decrypter_from_pem(&key.pem)?),
    }
    .map_err(|e| anyhow!("cannot decrypt: {e}"))?;
    Ok(plain)
}
