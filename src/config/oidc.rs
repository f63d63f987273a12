//! The OpenID Connect relying parties: `[cie]` ("Entra con CIE", OIDC Federation) and
//! `[staff_sso]` (the ente's own OpenID Provider for staff).

use std::path::PathBuf;

use serde::Deserialize;

use super::login::{
    check_login_settings, default_after_login, default_after_logout, default_spid_clock_skew,
    default_spid_level,
};
use super::{ConfigError, Environment, Secret};

/// A Trust Anchor of the CIE federation: its entity id and a file with its federation public
/// keys (JWKS), obtained out of band (never trusted from the network).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustAnchorSettings {
    pub entity_id: String,
    pub jwks_file: PathBuf,
}

/// A trust mark issued to this RP (`id` and the JWT), published in the entity configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustMarkSettings {
    pub id: String,
    pub trust_mark: String,
}

/// "Entra con CIE": relying party of the SPID/CIE OIDC Federation. Off unless `enabled`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CieSettings {
    #[serde(default)]
    pub enabled: bool,
    /// The RP's entity id (= client_id); `server.public_url` when absent.
    pub entity_id: Option<String>,
    /// Directory with the keys made by `sportello keys generate`.
    pub keys_dir: Option<PathBuf>,
    pub client_name: Option<String>,
    pub organization_name: Option<String>,
    pub homepage_uri: Option<String>,
    #[serde(default)]
    pub contacts: Vec<String>,
    /// Our superiors in the federation (usually the Trust Anchor's entity id).
    #[serde(default)]
    pub authority_hints: Vec<String>,
    #[serde(default)]
    pub trust_marks: Vec<TrustMarkSettings>,
    #[serde(default)]
    pub trust_anchors: Vec<TrustAnchorSettings>,
    /// The OpenID Providers offered (entity ids), e.g. the CIE OP.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Trust marks an OP must show (ids); none by default.
    #[serde(default)]
    pub required_trust_marks: Vec<String>,
    #[serde(default = "default_spid_level")]
    pub default_level: i32,
    #[serde(default = "default_cie_request_ttl")]
    pub request_ttl_secs: u64,
    #[serde(default = "default_spid_clock_skew")]
    pub clock_skew_secs: u64,
    /// Lifetime of our entity configuration.
    #[serde(default = "default_ec_lifetime")]
    pub entity_configuration_lifetime_secs: u64,
    #[serde(default = "default_after_login")]
    pub after_login_path: String,
    #[serde(default = "default_after_logout")]
    pub after_logout_path: String,
}

fn default_cie_request_ttl() -> u64 {
    600
}
fn default_ec_lifetime() -> u64 {
    86400
}

impl Default for CieSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            entity_id: None,
            keys_dir: None,
            client_name: None,
            organization_name: None,
            homepage_uri: None,
            contacts: Vec::new(),
            authority_hints: Vec::new(),
            trust_marks: Vec::new(),
            trust_anchors: Vec::new(),
            providers: Vec::new(),
            required_trust_marks: Vec::new(),
            default_level: default_spid_level(),
            request_ttl_secs: default_cie_request_ttl(),
            clock_skew_secs: default_spid_clock_skew(),
            entity_configuration_lifetime_secs: default_ec_lifetime(),
            after_login_path: default_after_login(),
            after_logout_path: default_after_logout(),
        }
    }
}

impl CieSettings {
    /// With CIE on: an acceptable entity id (https in production), keys, the published names,
    /// contacts, the federation (trust anchors, superiors, providers), the shared login settings
    /// and the entity configuration's lifetime.
    pub(super) fn validate(&self, public_url: &str, env: Environment) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let production = env.is_production();
        let url_ok =
            |v: &str| v.starts_with("https://") || (!production && v.starts_with("http://"));
        let entity = self
            .entity_id
            .clone()
            .unwrap_or_else(|| public_url.to_owned());
        if !url_ok(&entity) {
            return Err(ConfigError::new(
                "cie.entity_id",
                if production {
                    "must use https:// in production"
                } else {
                    "must be an http(s) URL"
                },
            ));
        }
        if self.keys_dir.is_none() {
            return Err(ConfigError::new(
                "cie.keys_dir",
                "is required when cie.enabled = true",
            ));
        }
        for (key, v) in [
            ("cie.organization_name", &self.organization_name),
            ("cie.homepage_uri", &self.homepage_uri),
        ] {
            if v.as_deref().map(str::trim).unwrap_or_default().is_empty() {
                return Err(ConfigError::new(key, "is required when cie.enabled = true"));
            }
        }
        if self.contacts.is_empty() {
            return Err(ConfigError::new(
                "cie.contacts",
                "give at least one contact e-mail",
            ));
        }
        if self.trust_anchors.is_empty() {
            return Err(ConfigError::new(
                "cie.trust_anchors",
                "give at least one Trust Anchor",
            ));
        }
        if self.authority_hints.is_empty() {
            return Err(ConfigError::new(
                "cie.authority_hints",
                "give at least one superior",
            ));
        }
        if self.providers.is_empty() {
            return Err(ConfigError::new(
                "cie.providers",
                "give at least one OpenID Provider",
            ));
        }
        for p in self
            .providers
            .iter()
            .chain(&self.authority_hints)
            .chain(self.trust_anchors.iter().map(|t| &t.entity_id))
        {
            if !url_ok(p) {
                return Err(ConfigError::new(
                    "cie.providers",
                    format!("{p} is not an acceptable entity id"),
                ));
            }
        }
        check_login_settings(
            "cie",
            Some(self.default_level),
            self.request_ttl_secs,
            Some(self.clock_skew_secs),
            &[
                ("after_login_path", &self.after_login_path),
                ("after_logout_path", &self.after_logout_path),
            ],
        )?;
        if !(600..=31_536_000).contains(&self.entity_configuration_lifetime_secs) {
            return Err(ConfigError::new(
                "cie.entity_configuration_lifetime_secs",
                "must be between 600 and 31536000",
            ));
        }
        Ok(())
    }
}

/// Staff single sign-on through the ente's own OpenID Provider (plain OIDC, code + PKCE).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffSsoSettings {
    #[serde(default)]
    pub enabled: bool,
    /// The OP's issuer URL (its discovery document is read at login).
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    /// The claim that names the staff account: `email` or `preferred_username`.
    #[serde(default = "default_match_claim")]
    pub match_claim: String,
    #[serde(default = "default_request_ttl_staff")]
    pub request_ttl_secs: u64,
    #[serde(default = "default_after_login")]
    pub after_login_path: String,
}

fn default_match_claim() -> String {
    "email".to_owned()
}
fn default_request_ttl_staff() -> u64 {
    600
}

impl Default for StaffSsoSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            match_claim: default_match_claim(),
            request_ttl_secs: default_request_ttl_staff(),
            after_login_path: default_after_login(),
        }
    }
}

impl StaffSsoSettings {
    /// With staff SSO on: the issuer (https in production), the client, the claim that names
    /// the account and the shared login settings.
    pub(super) fn validate(&self, env: Environment) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let production = env.is_production();
        let issuer = self.issuer.as_deref().unwrap_or_default();
        if !(issuer.starts_with("https://") || (!production && issuer.starts_with("http://"))) {
            return Err(ConfigError::new(
                "staff_sso.issuer",
                if production {
                    "must be an https:// URL in production"
                } else {
                    "must be an http(s) URL"
                },
            ));
        }
        if self.client_id.as_deref().unwrap_or_default().is_empty() {
            return Err(ConfigError::new(
                "staff_sso.client_id",
                "is required when staff_sso.enabled = true",
            ));
        }
        if self.client_secret.is_none() {
            return Err(ConfigError::new(
                "staff_sso.client_secret",
                "is required (or staff_sso.client_secret_file) when staff_sso.enabled = true",
            ));
        }
        if !["email", "preferred_username"].contains(&self.match_claim.as_str()) {
            return Err(ConfigError::new(
                "staff_sso.match_claim",
                "must be \"email\" or \"preferred_username\"",
            ));
        }
        check_login_settings(
            "staff_sso",
            None,
            self.request_ttl_secs,
            None,
            &[("after_login_path", &self.after_login_path)],
        )?;
        Ok(())
    }
}
