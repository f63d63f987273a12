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

/// A JSON object read strictly: a member named twice, at any depth, is refused. serde_json
/// keeps the last of duplicate members and another JOSE library may keep the first, so a
/// token whose claims can be read two ways (two `sub`, two fiscal numbers) is not read at all.
pub fn strict_object(bytes: &[u8], what: &str) -> Result<Claims> {
    let v: StrictValue =
        serde_json::from_slice(bytes).with_context(|| format!("{what} is not strict JSON"))?;
    match v.0 {
        Value::Object(m) => Ok(m),
        _ => bail!("{what} is not a JSON object"),
    }
}

/// A `serde_json::Value` whose objects refuse duplicate member names.
struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "member {key:?} appears more than once"
                )));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// The protected header of a compact JWS/JWE, unverified.
pub fn header(token: &str) -> Result<Claims> {
    let first = token.split('.').next().unwrap_or_default();
    strict_object(&b64url_decode(first)?, "header")
}

/// The payload of a compact JWS, NOT verified (to learn who signed it before verifying).
pub fn unverified_claims(token: &str) -> Result<Claims> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        bail!("not a compact JWS");
    }
    strict_object(&b64url_decode(parts[1])?, "payload")
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
    Ok((h, strict_object(&payload, "payload")?))
}

/// Opens a compact JWE addressed to our encryption key; returns the plaintext.
pub fn decrypt(token: &str, key: &RpKey) -> Result<Vec<u8>> {
    // The header is read here (strictly: no duplicate members) before josekit reads it.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn b64url(bytes: &[u8]) -> String {
        openssl::base64::encode_block(bytes)
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_")
    }

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert!(strict_object(br#"{"a":1,"b":{"c":[{"d":2}]}}"#, "x").is_ok());
        for dup in [
            &br#"{"sub":"a","sub":"b"}"#[..],
            br#"{"x":{"fiscal_number":"A","fiscal_number":"B"}}"#,
            br#"{"x":[{"k":1,"k":1}]}"#,
        ] {
            let e = strict_object(dup, "payload").unwrap_err();
            assert!(format!("{e:#}").contains("more than once"), "{e:#}");
        }
        assert!(strict_object(b"[1]", "payload").is_err());
        assert!(strict_object(b"{\"a\":1} x", "payload").is_err());
    }

    #[test]
    fn tokens_with_duplicate_members_are_not_read() {
        let dup_header = b64url(br#"{"alg":"RS256","alg":"none"}"#);
        let payload = b64url(br#"{"sub":"a","sub":"b"}"#);
        let token = format!("{dup_header}.{payload}.sig");
        assert!(header(&token).is_err());
        let token = format!("{}.{payload}.sig", b64url(br#"{"alg":"RS256"}"#));
        assert!(unverified_claims(&token).is_err());
        assert!(verify(&token, &serde_json::json!({"keys": []})).is_err());
    }
}
