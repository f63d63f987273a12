//! OpenID Federation as the SPID/CIE OIDC profile uses it: our entity configuration, and the
//! resolution of an OpenID Provider's trust chain up to a configured Trust Anchor.
//!
//! Resolution: the OP's entity configuration (`/.well-known/openid-federation`, self-signed)
//! names its superiors in `authority_hints`; each superior's entity configuration gives its
//! fetch endpoint, which returns a subordinate statement about the OP signed by the superior.
//! Every signature is checked one level up (the OP's configuration with the keys its superior
//! states for it; each statement with the superior's keys; the last with the Trust Anchor's
//! keys **from our configuration**, never from the network). Every `exp` is checked, the
//! `metadata_policy` of every statement is applied (anchor first), the anchor's
//! `max_path_length` is respected, and required trust marks are verified. The result is cached
//! until the earliest `exp` of the chain. CIE publishes no discovery document: the OP's
//! endpoints and keys come from the chain.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};

use super::jose::{self, Claims};
use super::keys::RpKeys;

pub const EC_PATH: &str = "/.well-known/openid-federation";
pub const EC_CONTENT_TYPE: &str = "application/entity-statement+jwt";
pub const EC_TYP: &str = "entity-statement+jwt";

/// A Trust Anchor we trust: its entity id and its federation public keys (a JWKS).
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    pub entity_id: String,
    pub jwks: Value,
}

/// What goes into our entity configuration.
#[derive(Debug, Clone)]
pub struct RpDescription {
    pub entity_id: String,
    pub redirect_uri: String,
    pub client_name: String,
    pub organization_name: String,
    pub homepage_uri: String,
    pub contacts: Vec<String>,
    pub authority_hints: Vec<String>,
    /// `{"id": …, "trust_mark": JWT}` as issued to us.
    pub trust_marks: Vec<Value>,
    pub lifetime_secs: i64,
}

pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Our signed entity configuration.
pub fn entity_configuration(rp: &RpDescription, keys: &RpKeys) -> Result<String> {
    let now = unix_now();
    let claims = json!({
        "iss": rp.entity_id,
        "sub": rp.entity_id,
        "iat": now,
        "exp": now + rp.lifetime_secs,
        "jwks": keys.federation_jwks(),
        "authority_hints": rp.authority_hints,
        "trust_marks": rp.trust_marks,
        "metadata": {
            "openid_relying_party": {
                "client_id": rp.entity_id,
                "client_registration_types": ["automatic"],
                "application_type": "web",
                "client_name": rp.client_name,
                "contacts": rp.contacts,
                "jwks": keys.oidc_jwks(),
                "redirect_uris": [rp.redirect_uri],
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "private_key_jwt",
                "id_token_signed_response_alg": "RS256",
                "userinfo_signed_response_alg": "RS256",
                "userinfo_encrypted_response_alg": "RSA-OAEP",
                "userinfo_encrypted_response_enc": "A256CBC-HS512",
            },
            "federation_entity": {
                "organization_name": rp.organization_name,
                "homepage_uri": rp.homepage_uri,
                "contacts": rp.contacts,
            }
        }
    });
    jose::sign(&keys.federation, Some(EC_TYP), &super::obj(claims))
}

/// An OP as its trust chain describes it.
#[derive(Debug, Clone)]
pub struct ResolvedOp {
    pub entity_id: String,
    pub trust_anchor: String,
    /// `metadata.openid_provider` after the policies.
    pub metadata: Map<String, Value>,
    /// Unix time when the chain stops being valid.
    pub expires_at: i64,
}

impl ResolvedOp {
    pub fn endpoint(&self, name: &str) -> Result<String> {
        self.metadata
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the OP's metadata has no {name}"))
    }

    /// The OP's OIDC signing keys.
    pub fn jwks(&self) -> Result<Value> {
        self.metadata
            .get("jwks")
            .cloned()
            .ok_or_else(|| anyhow!("the OP's metadata has no jwks"))
    }
}

/// Why a chain could not be built (each hint tried, each reason).
fn chain_error(op: &str, reasons: &[String]) -> anyhow::Error {
    anyhow!("no valid trust chain for {op}: {}", reasons.join("; "))
}

pub struct Resolver {
    http: reqwest::Client,
    anchors: Vec<TrustAnchor>,
    required_trust_marks: Vec<String>,
    skew: i64,
    cache: Mutex<HashMap<String, ResolvedOp>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("anchors", &self.anchors.len())
            .finish_non_exhaustive()
    }
}

const MAX_DEPTH: usize = 4;

fn str_claim<'a>(c: &'a Claims, name: &str) -> Result<&'a str> {
    c.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("statement without {name}"))
}

fn int_claim(c: &Claims, name: &str) -> Result<i64> {
    c.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| anyhow!("statement without {name}"))
}

impl Resolver {
    pub fn new(
        http: reqwest::Client,
        anchors: Vec<TrustAnchor>,
        required_trust_marks: Vec<String>,
        skew: i64,
    ) -> Self {
        Self {
            http,
            anchors,
            required_trust_marks,
            skew,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn get(&self, url: &str) -> Result<String> {
        let res = self
            .http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = res.status();
        if !status.is_success() {
            bail!("GET {url}: HTTP {status}");
        }
        let body = res.text().await.with_context(|| format!("GET {url}"))?;
        Ok(body.trim().to_owned())
    }

    fn check_times(&self, c: &Claims, what: &str) -> Result<()> {
        let now = unix_now();
        let exp = int_claim(c, "exp")?;
        if exp <= now - self.skew {
            bail!("{what} expired");
        }
        let iat = int_claim(c, "iat")?;
        if iat > now + self.skew {
            bail!("{what} issued in the future");
        }
        Ok(())
    }

    /// An entity configuration: self-signed, about itself, in date.
    async fn entity_configuration(&self, entity: &str) -> Result<(String, Claims)> {
        let url = format!("{}{EC_PATH}", entity.trim_end_matches('/'));
        let token = self.get(&url).await?;
        let unverified = jose::unverified_claims(&token)?;
        let jwks = unverified
            .get("jwks")
            .cloned()
            .ok_or_else(|| anyhow!("entity configuration of {entity} without jwks"))?;
        let (_, claims) = jose::verify(&token, &jwks)
            .with_context(|| format!("entity configuration of {entity}"))?;
        if str_claim(&claims, "iss")? != entity || str_claim(&claims, "sub")? != entity {
            bail!("entity configuration of {entity} is not about itself");
        }
        self.check_times(&claims, &format!("entity configuration of {entity}"))?;
        Ok((token, claims))
    }

    /// The statement `authority` makes about `sub`, verified with the authority's keys.
    async fn subordinate_statement(
        &self,
        authority: &str,
        authority_ec: &Claims,
        sub: &str,
    ) -> Result<(String, Claims)> {
        let fetch = authority_ec
            .get("metadata")
            .and_then(|m| m.get("federation_entity"))
            .and_then(|m| m.get("federation_fetch_endpoint"))
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{authority} publishes no federation_fetch_endpoint"))?;
        let sep = if fetch.contains('?') { '&' } else { '?' };
        let url = format!(
            "{fetch}{sep}sub={}",
            crate::auth::spid::redirect::encode(sub)
        );
        let token = self.get(&url).await?;
        let jwks = authority_ec.get("jwks").cloned().unwrap_or(Value::Null);
        let (_, claims) = jose::verify(&token, &jwks)
            .with_context(|| format!("statement of {authority} about {sub}"))?;
        if str_claim(&claims, "iss")? != authority || str_claim(&claims, "sub")? != sub {
            bail!("statement of {authority} is not about {sub}");
        }
        self.check_times(&claims, &format!("statement of {authority} about {sub}"))?;
        Ok((token, claims))
    }

    /// The OP, from its trust chain (cached until the chain expires).
    pub async fn resolve(&self, op: &str) -> Result<ResolvedOp> {
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(op).cloned()) {
            if hit.expires_at > unix_now() {
                return Ok(hit);
            }
        }
        let resolved = self.build(op).await?;
        tracing::info!(
            op,
            trust_anchor = resolved.trust_anchor,
            expires_at = resolved.expires_at,
            "trust chain resolved"
        );
        if let Ok(mut c) = self.cache.lock() {
            c.insert(op.to_owned(), resolved.clone());
        }
        Ok(resolved)
    }

    /// Forget cached chains (tests, key rotation).
    pub fn clear_cache(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    async fn build(&self, op: &str) -> Result<ResolvedOp> {
        let (op_token, op_ec) = self.entity_configuration(op).await?;
        // Statements from the OP's superior up to the anchor.
        let mut statements: Vec<Claims> = Vec::new();
        let mut current_token = op_token;
        let mut current = op.to_owned();
        let mut current_ec = op_ec.clone();
        let mut anchor: Option<(TrustAnchor, Claims)> = None;
        let mut reasons = Vec::new();
        'levels: for _ in 0..MAX_DEPTH {
            let hints: Vec<String> = current_ec
                .get("authority_hints")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if hints.is_empty() {
                reasons.push(format!("{current} has no authority_hints"));
                break;
            }
            for hint in hints {
                let step = async {
                    let (auth_token, auth_ec) = self.entity_configuration(&hint).await?;
                    let (stmt_token, stmt) = self
                        .subordinate_statement(&hint, &auth_ec, &current)
                        .await?;
                    // The subordinate's configuration must verify with the keys its superior
                    // states for it.
                    let stated = stmt.get("jwks").cloned().unwrap_or(Value::Null);
                    jose::verify(&current_token, &stated).with_context(|| {
                        format!(
                            "{current}'s configuration does not verify with the keys {hint} states"
                        )
                    })?;
                    Ok::<_, anyhow::Error>((auth_token, auth_ec, stmt_token, stmt))
                };
                match step.await {
                    Ok((auth_token, auth_ec, stmt_token, stmt)) => {
                        if let Some(ta) = self.anchors.iter().find(|a| a.entity_id == hint) {
                            // The anchor's keys come from our configuration.
                            if let Err(e) = jose::verify(&stmt_token, &ta.jwks) {
                                reasons.push(format!(
                                    "statement of {hint} does not verify with the configured keys: {e:#}"
                                ));
                                continue;
                            }
                            statements.push(stmt);
                            anchor = Some((ta.clone(), auth_ec));
                            break 'levels;
                        }
                        // An intermediate: go up from it.
                        statements.push(stmt);
                        current_token = auth_token;
                        current = hint;
                        current_ec = auth_ec;
                        continue 'levels;
                    }
                    Err(e) => reasons.push(format!("via {hint}: {e:#}")),
                }
            }
            break;
        }
        let Some((ta, ta_ec)) = anchor else {
            return Err(chain_error(op, &reasons));
        };
        // max_path_length: intermediates between the OP and the anchor.
        let intermediates = statements.len() - 1;
        if let Some(max) = ta_ec
            .get("constraints")
            .and_then(|c| c.get("max_path_length"))
            .and_then(Value::as_u64)
        {
            if intermediates as u64 > max {
                bail!("trust chain of {op}: {intermediates} intermediates, max_path_length {max}");
            }
        }
        // Metadata: the OP's own, then each policy from the anchor down.
        let mut metadata = op_ec
            .get("metadata")
            .and_then(|m| m.get("openid_provider"))
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| anyhow!("{op} has no openid_provider metadata"))?;
        for stmt in statements.iter().rev() {
            if let Some(policy) = stmt
                .get("metadata_policy")
                .and_then(|p| p.get("openid_provider"))
                .and_then(Value::as_object)
            {
                apply_policy(&mut metadata, policy)
                    .with_context(|| format!("metadata policy for {op}"))?;
            }
        }
        self.check_trust_marks(op, &op_ec, &ta)?;
        let expires_at = statements
            .iter()
            .chain([&op_ec, &ta_ec])
            .filter_map(|c| c.get("exp").and_then(Value::as_i64))
            .min()
            .unwrap_or_else(unix_now);
        Ok(ResolvedOp {
            entity_id: op.to_owned(),
            trust_anchor: ta.entity_id.clone(),
            metadata,
            expires_at,
        })
    }

    fn check_trust_marks(&self, op: &str, op_ec: &Claims, ta: &TrustAnchor) -> Result<()> {
        let marks = op_ec
            .get("trust_marks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for required in &self.required_trust_marks {
            let found = marks.iter().any(|m| {
                let id = m
                    .get("id")
                    .or_else(|| m.get("trust_mark_type"))
                    .and_then(Value::as_str);
                let jwt = m.get("trust_mark").and_then(Value::as_str);
                match (id, jwt) {
                    (Some(id), Some(jwt)) if id == required => {
                        jose::verify(jwt, &ta.jwks).ok().is_some_and(|(_, c)| {
                            c.get("sub").and_then(Value::as_str) == Some(op)
                                && c.get("exp")
                                    .and_then(Value::as_i64)
                                    .is_none_or(|e| e > unix_now())
                        })
                    }
                    _ => false,
                }
            });
            if !found {
                bail!("{op} has no valid trust mark {required}");
            }
        }
        Ok(())
    }
}

/// Applies one `metadata_policy` (per claim: value, add, default, one_of, subset_of,
/// superset_of, essential) to metadata.
pub fn apply_policy(metadata: &mut Map<String, Value>, policy: &Map<String, Value>) -> Result<()> {
    for (claim, ops) in policy {
        let Some(ops) = ops.as_object() else {
            bail!("policy for {claim} is not an object");
        };
        if let Some(v) = ops.get("value") {
            if v.is_null() {
                metadata.remove(claim);
            } else {
                metadata.insert(claim.clone(), v.clone());
            }
        }
        if let Some(Value::Array(add)) = ops.get("add") {
            let entry = metadata
                .entry(claim.clone())
                .or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(have) = entry {
                for v in add {
                    if !have.contains(v) {
                        have.push(v.clone());
                    }
                }
            }
        }
        if let Some(d) = ops.get("default") {
            metadata.entry(claim.clone()).or_insert_with(|| d.clone());
        }
        if let Some(Value::Array(allowed)) = ops.get("one_of") {
            if let Some(v) = metadata.get(claim) {
                if !allowed.contains(v) {
                    bail!("{claim} = {v} is not one of {allowed:?}");
                }
            }
        }
        if let Some(Value::Array(allowed)) = ops.get("subset_of") {
            if let Some(Value::Array(have)) = metadata.get(claim) {
                let kept: Vec<Value> = have
                    .iter()
                    .filter(|v| allowed.contains(v))
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    metadata.remove(claim);
                } else {
                    metadata.insert(claim.clone(), Value::Array(kept));
                }
            }
        }
        if let Some(Value::Array(needed)) = ops.get("superset_of") {
            if let Some(Value::Array(have)) = metadata.get(claim) {
                if let Some(missing) = needed.iter().find(|v| !have.contains(v)) {
                    bail!("{claim} lacks {missing}");
                }
            }
        }
        if ops.get("essential") == Some(&Value::Bool(true)) && !metadata.contains_key(claim) {
            bail!("{claim} is essential and missing");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_apply_in_order() {
        let mut md: Map<String, Value> = serde_json::from_value(json!({
            "scopes_supported": ["openid", "offline_access", "profile"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }))
        .unwrap();
        let policy: Map<String, Value> = serde_json::from_value(json!({
            "scopes_supported": {"subset_of": ["openid", "profile"]},
            "token_endpoint_auth_methods_supported": {"superset_of": ["private_key_jwt"]},
            "contacts": {"add": ["ops@example.org"]},
            "client_registration_types_supported": {"default": ["automatic"]},
            "id_token_signing_alg_values_supported": {"value": ["RS256"]},
        }))
        .unwrap();
        apply_policy(&mut md, &policy).unwrap();
        assert_eq!(md["scopes_supported"], json!(["openid", "profile"]));
        assert_eq!(md["contacts"], json!(["ops@example.org"]));
        assert_eq!(
            md["client_registration_types_supported"],
            json!(["automatic"])
        );
        assert_eq!(
            md["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );

        let strict: Map<String, Value> = serde_json::from_value(
            json!({"token_endpoint_auth_methods_supported": {"superset_of": ["tls_client_auth"]}}),
        )
        .unwrap();
        assert!(apply_policy(&mut md, &strict).is_err());
        let essential: Map<String, Value> =
            serde_json::from_value(json!({"userinfo_endpoint": {"essential": true}})).unwrap();
        assert!(apply_policy(&mut md, &essential).is_err());
        let one_of: Map<String, Value> = serde_json::from_value(
            json!({"id_token_signing_alg_values_supported": {"one_of": [["ES256"]]}}),
        )
        .unwrap();
        assert!(apply_policy(&mut md, &one_of).is_err());
    }
}
