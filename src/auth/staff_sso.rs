//! Staff single sign-on through the ente's own OpenID Provider: plain OpenID Connect,
//! authorization code with PKCE S256, done entirely with the `openidconnect` crate (discovery,
//! authorization URL, code exchange with the client secret, ID token verification with the
//! OP's JWKS, nonce). The staff account is found by a configured claim (`email` or
//! `preferred_username`); unknown or inactive accounts are refused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
};

use crate::config::StaffSsoSettings;

/// How long a discovery document is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);

pub struct StaffSso {
    pub issuer: String,
    client_id: String,
    client_secret: String,
    pub redirect_uri: String,
    pub match_claim: String,
    pub request_ttl_secs: i64,
    pub after_login_path: String,
    http: openidconnect::reqwest::Client,
    discovered: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl std::fmt::Debug for StaffSso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSso")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// What the callback learned: the claim that names the account, and the subject.
#[derive(Debug, Clone)]
pub struct StaffIdentity {
    pub subject: String,
    pub matched_value: String,
}

impl StaffSso {
    pub fn from_settings(s: &StaffSsoSettings, public_url: &str) -> Result<Self> {
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects would open the client to SSRF.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()?;
        Ok(Self {
            issuer: s.issuer.clone().unwrap_or_default(),
            client_id: s.client_id.clone().unwrap_or_default(),
            client_secret: s
                .client_secret
                .as_ref()
                .map(|x| x.expose().to_owned())
                .unwrap_or_default(),
            redirect_uri: format!("{}/auth/staff/callback", public_url.trim_end_matches('/')),
            match_claim: s.match_claim.clone(),
            request_ttl_secs: s.request_ttl_secs as i64,
            after_login_path: s.after_login_path.clone(),
            http,
            discovered: Mutex::new(None),
        })
    }

    async fn client(
        &self,
    ) -> Result<
        openidconnect::Client<
            openidconnect::EmptyAdditionalClaims,
            openidconnect::core::CoreAuthDisplay,
            openidconnect::core::CoreGenderClaim,
            openidconnect::core::CoreJweContentEncryptionAlgorithm,
            openidconnect::core::CoreJsonWebKey,
            openidconnect::core::CoreAuthPrompt,
            openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
            openidconnect::core::CoreTokenResponse,
            openidconnect::core::CoreTokenIntrospectionResponse,
            openidconnect::core::CoreRevocableToken,
            openidconnect::core::CoreRevocationErrorResponse,
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
    > {
        let cached = self
            .discovered
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .filter(|(at, _)| at.elapsed() < DISCOVERY_TTL)
            .map(|(_, m)| m);
        let metadata = match cached {
            Some(m) => m,
            None => {
                let issuer = IssuerUrl::new(self.issuer.clone()).context("staff_sso.issuer")?;
                let m = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| anyhow!("OpenID discovery at {}: {e}", self.issuer))?;
                if let Ok(mut g) = self.discovered.lock() {
                    *g = Some((Instant::now(), m.clone()));
                }
                m
            }
        };
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(self.redirect_uri.clone())?))
    }

    /// The URL to send the browser to, with its `state`, `nonce` and PKCE verifier.
    pub async fn start(&self) -> Result<(String, String, String, String)> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            state.secret().clone(),
            nonce.secret().clone(),
            verifier.secret().clone(),
        ))
    }

    /// Exchanges the code and verifies the ID token; returns the matching claim.
    pub async fn finish(&self, code: &str, verifier: &str, nonce: &str) -> Result<StaffIdentity> {
        let client = self.client().await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| anyhow!("token request: {e}"))?;
        let id_token = openidconnect::TokenResponse::id_token(&token)
            .ok_or_else(|| anyhow!("the OP returned no ID token"))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_owned()))
            .map_err(|e| anyhow!("ID token: {e}"))?;
        let value = match self.match_claim.as_str() {
            "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_owned()),
            _ => claims.email().map(|e| e.as_str().to_owned()),
        }
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| anyhow!("the ID token has no {} claim", self.match_claim))?;
        Ok(StaffIdentity {
            subject: claims.subject().as_str().to_owned(),
            matched_value: value,
        })
    }
}
