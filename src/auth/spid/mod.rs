//! SPID (SAML2) service provider for a public body: the SP certificate (`certificate`),
//! signed metadata (`metadata`), the registry of identity providers (`idp`), the messages
//! the SP sends (`messages`, over the HTTP-Redirect binding in `redirect`), the validation of
//! the IdP's Response (`response`) and of single-logout messages (`logout`), and the login
//! state kept in the database (`store`). The HTTP side is `crate::http::spid`.

pub mod certificate;
pub mod idp;
pub mod logout;
pub mod messages;
pub mod metadata;
pub mod redirect;
pub mod response;
pub mod store;
pub mod xml;

use anyhow::Context;
use chrono::Duration;
use openssl::pkey::{PKey, Private};

use crate::auth::AuthLevel;
use crate::config::{ConfigError, SpidSettings};
use idp::IdpRegistry;

/// The configured service provider, built once at start-up.
pub struct ServiceProvider {
    pub entity_id: String,
    pub acs_url: String,
    pub slo_url: String,
    pub metadata: String,
    pub idps: IdpRegistry,
    pub key: PKey<Private>,
    pub default_level: AuthLevel,
    pub request_ttl: Duration,
    pub skew: Duration,
    pub after_login_path: String,
    pub after_logout_path: String,
}

impl std::fmt::Debug for ServiceProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProvider")
            .field("entity_id", &self.entity_id)
            .field("idps", &self.idps.len())
            .finish_non_exhaustive()
    }
}

impl ServiceProvider {
    /// Reads key, certificate and IdP metadata and signs the SP metadata; every problem is
    /// reported against the configuration key that causes it.
    pub fn from_settings(s: &SpidSettings, public_url: &str) -> Result<Self, ConfigError> {
        let cfg = metadata::SpConfig::from_settings(s, public_url)?;
        let dir = s.idp_metadata_dir.clone().unwrap_or_default();
        let idps = IdpRegistry::load_dir(&dir)
            .map_err(|e| ConfigError::new("spid.idp_metadata_dir", format!("{e:#}")))?;
        if idps.is_empty() {
            return Err(ConfigError::new(
                "spid.idp_metadata_dir",
                format!("no identity provider metadata in {}", dir.display()),
            ));
        }
        let (key_pem, cert_pem) = metadata::read_key_and_cert(s)?;
        let metadata = metadata::sign(&cfg, &key_pem, &cert_pem)?;
        let key = PKey::private_key_from_pem(&key_pem)
            .context("not a PEM private key")
            .map_err(|e| ConfigError::new("spid.key_file", format!("{e:#}")))?;
        let level = AuthLevel::try_from(s.default_level)
            .map_err(|e| ConfigError::new("spid.default_level", e))?;
        let base = cfg.base_url.trim_end_matches('/');
        Ok(Self {
            entity_id: cfg.entity_id.clone(),
            acs_url: format!("{base}/spid/acs"),
            slo_url: format!("{base}/spid/slo"),
            metadata,
            idps,
            key,
            default_level: level,
            request_ttl: Duration::seconds(s.request_ttl_secs as i64),
            skew: Duration::seconds(s.clock_skew_secs as i64),
            after_login_path: s.after_login_path.clone(),
            after_logout_path: s.after_logout_path.clone(),
        })
    }
}
