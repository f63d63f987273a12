//! `[spid]`: the SPID service provider (its metadata is built by `auth::spid::metadata`).

use std::path::PathBuf;

use serde::Deserialize;

use super::login::{
    check_login_settings, default_after_login, default_after_logout, default_spid_clock_skew,
    default_spid_level,
};
use super::{ConfigError, Environment};

/// The SPID service provider (one per deployment). Off unless `enabled`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpidSettings {
    #[serde(default)]
    pub enabled: bool,
    /// The SP's entityID; `server.public_url` when absent.
    pub entity_id: Option<String>,
    /// The SP's private key and certificate (PEM), e.g. from `sportello spid certificate`.
    pub key_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    /// Shown by identity providers when asking consent.
    pub service_name: Option<String>,
    pub organization_name: Option<String>,
    /// `organization_name` when absent.
    pub organization_display_name: Option<String>,
    pub organization_url: Option<String>,
    /// The ente's IPA code.
    pub ipa_code: Option<String>,
    pub contact_email: Option<String>,
    /// International format without spaces, e.g. `+390612345678`.
    pub contact_phone: Option<String>,
    /// Directory of identity providers' metadata files (`*.xml`).
    pub idp_metadata_dir: Option<PathBuf>,
    /// SPID level asked for when the login link names none (1–3; services may require more).
    #[serde(default = "default_spid_level")]
    pub default_level: i32,
    /// How long an AuthnRequest (or LogoutRequest) may wait for its answer.
    #[serde(default = "default_spid_request_ttl")]
    pub request_ttl_secs: u64,
    /// Tolerated difference between the IdP's clock and ours.
    #[serde(default = "default_spid_clock_skew")]
    pub clock_skew_secs: u64,
    /// Where the browser goes after a login whose link had no `next` (a local path).
    #[serde(default = "default_after_login")]
    pub after_login_path: String,
    /// Where the browser goes after a logout (a local path).
    #[serde(default = "default_after_logout")]
    pub after_logout_path: String,
}

impl Default for SpidSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            entity_id: None,
            key_file: None,
            cert_file: None,
            service_name: None,
            organization_name: None,
            organization_display_name: None,
            organization_url: None,
            ipa_code: None,
            contact_email: None,
            contact_phone: None,
            idp_metadata_dir: None,
            default_level: default_spid_level(),
            request_ttl_secs: default_spid_request_ttl(),
            clock_skew_secs: default_spid_clock_skew(),
            after_login_path: default_after_login(),
            after_logout_path: default_after_logout(),
        }
    }
}

fn default_spid_request_ttl() -> u64 {
    900
}

impl SpidSettings {
    /// The SP's entityID: `spid.entity_id`, or the service's public address.
    pub fn entity_id_or(&self, public_url: &str) -> String {
        self.entity_id
            .clone()
            .unwrap_or_else(|| public_url.to_owned())
    }

    /// Checks what the signed metadata will publish (`auth::spid::metadata::SpConfig` is
    /// built from settings this accepts): the required texts present, the contact e-mail and
    /// phone well formed, the entity id an http(s) URL.
    pub fn check_metadata(&self, public_url: &str) -> Result<(), ConfigError> {
        fn need<'a>(key: &str, v: &'a Option<String>) -> Result<&'a str, ConfigError> {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ConfigError::new(
                        format!("spid.{key}"),
                        "is required when spid.enabled = true",
                    )
                })
        }
        need("organization_name", &self.organization_name)?;
        let email = need("contact_email", &self.contact_email)?;
        crate::domain::email::Email::parse(email)
            .map_err(|e| ConfigError::new("spid.contact_email", e.to_string()))?;
        if let Some(phone) = &self.contact_phone {
            if phone.chars().any(char::is_whitespace) || !phone.starts_with('+') {
                return Err(ConfigError::new(
                    "spid.contact_phone",
                    "must be in international format without spaces, e.g. +390612345678",
                ));
            }
        }
        let entity_id = self.entity_id_or(public_url);
        if !(entity_id.starts_with("https://") || entity_id.starts_with("http://")) {
            return Err(ConfigError::new("spid.entity_id", "must be an http(s) URL"));
        }
        need("organization_url", &self.organization_url)?;
        need("ipa_code", &self.ipa_code)?;
        Ok(())
    }

    /// With SPID on: the metadata inputs ([`Self::check_metadata`]), https in production, the
    /// key, certificate and IdP directory given, and the shared login settings.
    pub(super) fn validate(&self, public_url: &str, env: Environment) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let production = env.is_production();
        self.check_metadata(public_url)?;
        if production && !self.entity_id_or(public_url).starts_with("https://") {
            return Err(ConfigError::new(
                "spid.entity_id",
                "must use https:// in production",
            ));
        }
        for (key, v) in [
            ("spid.key_file", &self.key_file),
            ("spid.cert_file", &self.cert_file),
            ("spid.idp_metadata_dir", &self.idp_metadata_dir),
        ] {
            if v.is_none() {
                return Err(ConfigError::new(
                    key,
                    "is required when spid.enabled = true",
                ));
            }
        }
        check_login_settings(
            "spid",
            Some(self.default_level),
            self.request_ttl_secs,
            Some(self.clock_skew_secs),
            &[
                ("after_login_path", &self.after_login_path),
                ("after_logout_path", &self.after_logout_path),
            ],
        )?;
        Ok(())
    }
}
