//! "Entra con CIE": a relying party of the SPID/CIE OpenID Connect Federation
//! (`italia/spid-cie-oidc-docs`).
//!
//! - `keys`: the RP's federation, signing and encryption keys (`sportello keys generate`);
//! - `federation`: our entity configuration and the OP's trust chain (its endpoints and keys);
//! - `jose`: JWS/JWE with `josekit`;
//! - here: the authorization request (signed request object, PKCE S256, `claims`), the token
//!   request with `private_key_jwt`, the ID token and userinfo checks, and revocation.
//!
//! The crate split: `openidconnect` gives the random `state`/`nonce` and PKCE (and runs the
//! staff single sign-on, plain OIDC); it has no request objects, no `private_key_jwt`, no JWE
//! and no federation, so those are built on `josekit` here.

pub mod federation;
pub mod jose;
pub mod keys;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use sha2::Digest;

use crate::auth::AuthLevel;
use federation::{ResolvedOp, Resolver, RpDescription};
use jose::Claims;
use keys::{b64url, RpKeys};

/// The CIE claim with the codice fiscale (`TINIT-…`).
pub const FISCAL_NUMBER: &str = "https://attributes.eid.gov.it/fiscal_number";

/// The configured relying party.
pub struct CieRp {
    pub description: RpDescription,
    pub keys: RpKeys,
    pub resolver: Resolver,
    pub http: reqwest::Client,
    /// The OPs offered to citizens (entity ids).
    pub providers: Vec<String>,
    pub default_level: AuthLevel,
    pub request_ttl_secs: i64,
    pub skew_secs: i64,
    pub after_login_path: String,
    pub after_logout_path: String,
}

impl std::fmt::Debug for CieRp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CieRp")
            .field("entity_id", &self.description.entity_id)
            .finish_non_exhaustive()
    }
}

/// The claims of a `json!` object.
fn obj(v: Value) -> Claims {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// What the callback checks the tokens against.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub level: AuthLevel,
    pub now: i64,
    pub skew: i64,
}

/// A verified CIE login.
#[derive(Debug, Clone)]
pub struct CieIdentity {
    pub subject: String,
    pub level: AuthLevel,
    pub fiscal_number: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
}

/// The level of an `acr` (CIE uses the SPID level URIs).
pub fn level_of_acr(acr: &str) -> Option<AuthLevel> {
    crate::auth::spid::messages::level_from_uri(acr)
}

impl CieRp {
    pub fn client_id(&self) -> &str {
        &self.description.entity_id
    }

    fn jti() -> String {
        crate::auth::random_hex(16).unwrap_or_default()
    }

    /// A `private_key_jwt` client assertion for one endpoint.
    pub fn client_assertion(&self, audience: &str) -> Result<String> {
        let now = federation::unix_now();
        let claims = obj(json!({
            "iss": self.client_id(),
            "sub": self.client_id(),
            "aud": audience,
            "iat": now,
            "exp": now + 60,
            "jti": Self::jti(),
        }));
        jose::sign(&self.keys.signing, None, &claims)
    }

    /// The URL the browser goes to: the OP's authorization endpoint with a signed request
    /// object.
    pub fn authorization_url(
        &self,
        op: &ResolvedOp,
        level: AuthLevel,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Result<String> {
        let endpoint = op.endpoint("authorization_endpoint")?;
        let now = federation::unix_now();
        let acr = crate::auth::spid::messages::level_uri(level);
        let claims = obj(json!({
            "iss": self.client_id(),
            "sub": self.client_id(),
            "client_id": self.client_id(),
            "aud": [op.entity_id, endpoint],
            "iat": now,
            "exp": now + 300,
            "jti": Self::jti(),
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": self.description.redirect_uri,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "consent login",
            "acr_values": acr,
            "claims": {
                "id_token": {
                    "given_name": {"essential": true},
                    "family_name": {"essential": true},
                },
                "userinfo": {
                    "given_name": null,
                    "family_name": null,
                    "birthdate": null,
                    "email": null,
                    FISCAL_NUMBER: {"essential": true},
                }
            }
        }));
        let request = jose::sign(&self.keys.signing, None, &claims)?;
        let enc = crate::auth::spid::redirect::encode;
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{endpoint}{sep}client_id={}&response_type=code&scope=openid&code_challenge={}&code_challenge_method=S256&request={}",
            enc(self.client_id()),
            enc(challenge),
            enc(&request)
        ))
    }

    /// POSTs a form to an OP endpoint, authenticated with `private_key_jwt` (the assertion's
    /// audience is that endpoint); returns status and body.
    async fn post_authenticated(
        &self,
        endpoint: &str,
        fields: &[(&str, &str)],
    ) -> Result<(reqwest::StatusCode, String)> {
        let assertion = self.client_assertion(endpoint)?;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.extend([
            ("client_id", self.client_id()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ]);
        let res = self
            .http
            .post(endpoint)
            .form(&form)
            .send()
            .await
            .with_context(|| format!("POST {endpoint}"))?;
        let status = res.status();
        Ok((status, res.text().await.unwrap_or_default()))
    }

    /// Token request (`authorization_code`, PKCE verifier, `private_key_jwt`); returns
    /// (access token, ID token).
    pub async fn token(
        &self,
        op: &ResolvedOp,
        code: &str,
        verifier: &str,
    ) -> Result<(String, String)> {
        let endpoint = op.endpoint("token_endpoint")?;
        let (status, body) = self
            .post_authenticated(
                &endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", verifier),
                    ("redirect_uri", &self.description.redirect_uri),
                ],
            )
            .await?;
        if !status.is_success() {
            bail!(
                "token endpoint answered {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        let v = jose::strict_object(body.as_bytes(), "token response")?;
        let access = v
            .get("access_token")
            .and_then(Value::as_str)
            .context("token response without access_token")?;
        let id = v
            .get("id_token")
            .and_then(Value::as_str)
            .context("token response without id_token")?;
        Ok((access.to_owned(), id.to_owned()))
    }

    /// The userinfo response (a JWE), as received.
    pub async fn userinfo(&self, op: &ResolvedOp, access_token: &str) -> Result<String> {
        let endpoint = op.endpoint("userinfo_endpoint")?;
        let res = self
            .http
            .get(&endpoint)
            .bearer_auth(access_token)
            .send()
            .await
            .with_context(|| format!("GET {endpoint}"))?;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("userinfo endpoint answered {status}");
        }
        Ok(body.trim().trim_matches('"').to_owned())
    }

    /// RFC 7009 revocation of the access token (`private_key_jwt`).
    pub async fn revoke(&self, op: &ResolvedOp, access_token: &str) -> Result<()> {
        let endpoint = op.endpoint("revocation_endpoint")?;
        let (status, _) = self
            .post_authenticated(
                &endpoint,
                &[("token", access_token), ("token_type_hint", "access_token")],
            )
            .await?;
        if !status.is_success() {
            bail!("revocation endpoint answered {status}");
        }
        Ok(())
    }
}

fn claim_str<'a>(c: &'a Claims, name: &str) -> Option<&'a str> {
    c.get(name).and_then(Value::as_str)
}

/// Checks an ID token: signature with the OP's keys (from the trust chain), `iss`, `aud`
/// (and `azp` when several), `exp`, `iat`, `nonce`, `acr` at least the level asked, and
/// `at_hash` when present. Returns its claims.
pub fn check_id_token(
    token: &str,
    op_jwks: &Value,
    exp: &Expected<'_>,
    access_token: &str,
) -> Result<(Claims, AuthLevel)> {
    let (header, c) = jose::verify(token, op_jwks).context("ID token signature")?;
    if claim_str(&c, "iss") != Some(exp.issuer) {
        bail!("ID token iss {:?} is not {}", c.get("iss"), exp.issuer);
    }
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == exp.client_id,
        Some(Value::Array(a)) => {
            a.iter().any(|v| v.as_str() == Some(exp.client_id))
                && (a.len() == 1 || claim_str(&c, "azp") == Some(exp.client_id))
        }
        _ => false,
    };
    if !aud_ok {
        bail!("ID token aud {:?} is not this RP", c.get("aud"));
    }
    let expires = c
        .get("exp")
        .and_then(Value::as_i64)
        .context("ID token without exp")?;
    if expires <= exp.now - exp.skew {
        bail!("ID token expired");
    }
    let iat = c
        .get("iat")
        .and_then(Value::as_i64)
        .context("ID token without iat")?;
    if iat > exp.now + exp.skew {
        bail!("ID token issued in the future");
    }
    if claim_str(&c, "nonce") != Some(exp.nonce) {
        bail!("ID token nonce does not match the request");
    }
    if claim_str(&c, "sub").is_none_or(str::is_empty) {
        bail!("ID token without sub");
    }
    let acr = claim_str(&c, "acr").context("ID token without acr")?;
    let level = level_of_acr(acr).ok_or_else(|| anyhow!("acr {acr} is not a known level"))?;
    if level < exp.level {
        bail!(
            "acr level {} is lower than the {} asked",
            level.get(),
            exp.level.get()
        );
    }
    if let Some(at_hash) = claim_str(&c, "at_hash") {
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let digest: Vec<u8> = match &alg[2..] {
            "384" => sha2::Sha384::digest(access_token.as_bytes()).to_vec(),
            "512" => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
            _ => sha2::Sha256::digest(access_token.as_bytes()).to_vec(),
        };
        if b64url(&digest[..digest.len() / 2]) != at_hash {
            bail!("ID token at_hash does not match the access token");
        }
    }
    Ok((c, level))
}

/// Opens the userinfo response: a JWE to our encryption key wrapping a JWS of the OP; its
/// `sub` must be the ID token's.
pub fn open_userinfo(body: &str, keys: &RpKeys, op_jwks: &Value, sub: &str) -> Result<Claims> {
    let inner = jose::decrypt(body, &keys.encryption).context("userinfo JWE")?;
    let inner = String::from_utf8(inner).context("userinfo content is not text")?;
    let (_, claims) = jose::verify(inner.trim(), op_jwks).context("userinfo JWS")?;
    if claim_str(&claims, "sub") != Some(sub) {
        bail!("userinfo sub is not the ID token's");
    }
    Ok(claims)
}

/// The identity from the ID token and userinfo claims. An identity that could be read two
/// ways is refused: a claim that is not a string (an array of fiscal numbers, say), or the
/// two tokens naming different values. (Duplicate members were refused when the tokens were
/// read, see [`jose::strict_object`].)
pub fn identity(id: &Claims, userinfo: &Claims, level: AuthLevel) -> Result<CieIdentity> {
    let one = |c: &Claims, name: &str, token: &str| -> Result<Option<String>> {
        match c.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => bail!("{token} claim {name} is not a string"),
        }
    };
    let get = |name: &str| -> Result<Option<String>> {
        let from_userinfo = one(userinfo, name, "userinfo")?;
        let from_id = one(id, name, "ID token")?;
        match (from_userinfo, from_id) {
            (Some(u), Some(i)) if u != i => {
                bail!("userinfo and ID token name different values of {name}")
            }
            (u, i) => Ok(u.or(i)),
        }
    };
    Ok(CieIdentity {
        subject: one(id, "sub", "ID token")?.unwrap_or_default(),
        level,
        fiscal_number: get(FISCAL_NUMBER)?.context("no fiscal_number released")?,
        given_name: get("given_name")?,
        family_name: get("family_name")?,
        email: get("email")?,
    })
}

impl CieRp {
    /// Loads keys and Trust Anchor keys; every problem names its configuration key.
    pub fn from_settings(
        s: &crate::config::CieSettings,
        public_url: &str,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let entity_id = s
            .entity_id
            .clone()
            .unwrap_or_else(|| public_url.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let dir = s.keys_dir.clone().unwrap_or_default();
        let keys = RpKeys::load(&dir).map_err(|e| {
            ConfigError::new(
                "cie.keys_dir",
                format!("{e:#} (make them with `sportello keys generate`)"),
            )
        })?;
        let mut anchors = Vec::new();
        for ta in &s.trust_anchors {
            let text = std::fs::read_to_string(&ta.jwks_file).map_err(|e| {
                ConfigError::new(
                    "cie.trust_anchors",
                    format!("cannot read {}: {e}", ta.jwks_file.display()),
                )
            })?;
            let jwks: Value = serde_json::from_str(&text).map_err(|e| {
                ConfigError::new(
                    "cie.trust_anchors",
                    format!("{}: not JSON: {e}", ta.jwks_file.display()),
                )
            })?;
            jose::jwks_keys(&jwks).map_err(|e| {
                ConfigError::new(
                    "cie.trust_anchors",
                    format!("{}: {e:#}", ta.jwks_file.display()),
                )
            })?;
            anchors.push(federation::TrustAnchor {
                entity_id: ta.entity_id.trim_end_matches('/').to_owned(),
                jwks,
            });
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| ConfigError::new("cie.enabled", format!("HTTP client: {e}")))?;
        let level = AuthLevel::try_from(s.default_level)
            .map_err(|e| ConfigError::new("cie.default_level", e))?;
        Ok(Self {
            description: RpDescription {
                redirect_uri: format!("{entity_id}/cie/callback"),
                client_name: s
                    .client_name
                    .clone()
                    .unwrap_or_else(|| "Sportello online del cittadino".to_owned()),
                organization_name: s.organization_name.clone().unwrap_or_default(),
                homepage_uri: s.homepage_uri.clone().unwrap_or_default(),
                contacts: s.contacts.clone(),
                authority_hints: s.authority_hints.clone(),
                trust_marks: s
                    .trust_marks
                    .iter()
                    .map(|t| json!({"id": t.id, "trust_mark": t.trust_mark}))
                    .collect(),
                lifetime_secs: s.entity_configuration_lifetime_secs as i64,
                entity_id,
            },
            keys,
            resolver: Resolver::new(
                http.clone(),
                anchors,
                s.required_trust_marks.clone(),
                s.clock_skew_secs as i64,
            ),
            http,
            providers: s
                .providers
                .iter()
                .map(|p| p.trim_end_matches('/').to_owned())
                .collect(),
            default_level: level,
            request_ttl_secs: s.request_ttl_secs as i64,
            skew_secs: s.clock_skew_secs as i64,
            after_login_path: s.after_login_path.clone(),
            after_logout_path: s.after_logout_path.clone(),
        })
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    fn claims(v: Value) -> Claims {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn an_identity_readable_two_ways_is_refused() {
        let id = claims(json!({"sub": "s1"}));
        let ok = identity(
            &id,
            &claims(json!({"sub": "s1", FISCAL_NUMBER: "TINIT-RSSMRA85T10A562S"})),
            AuthLevel::L2,
        )
        .unwrap();
        assert_eq!(ok.fiscal_number, "TINIT-RSSMRA85T10A562S");
        for userinfo in [
            json!({"sub": "s1", FISCAL_NUMBER: ["TINIT-RSSMRA85T10A562S", "TINIT-BNCGPP80A01H501X"]}),
            json!({"sub": "s1", FISCAL_NUMBER: {"v": "TINIT-RSSMRA85T10A562S"}}),
            json!({"sub": "s1", FISCAL_NUMBER: 1}),
            json!({"sub": "s1", FISCAL_NUMBER: "TINIT-RSSMRA85T10A562S", "given_name": ["A", "B"]}),
        ] {
            let e = identity(&id, &claims(userinfo.clone()), AuthLevel::L2).unwrap_err();
            assert!(
                format!("{e:#}").contains("not a string"),
                "{userinfo}: {e:#}"
            );
        }
        // The ID token and userinfo disagree.
        let id2 = claims(json!({"sub": "s1", FISCAL_NUMBER: "TINIT-BNCGPP80A01H501X"}));
        let e = identity(
            &id2,
            &claims(json!({"sub": "s1", FISCAL_NUMBER: "TINIT-RSSMRA85T10A562S"})),
            AuthLevel::L2,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("different values"), "{e:#}");
    }
}
