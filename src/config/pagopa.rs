//! `[pagopa]`: the pagoPA platform's Gestione Posizioni Debitorie (GPD) for the debt positions
//! of fees (docs/payments.md). The subscription key comes from a file or the environment.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Environment, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagopaSettings {
    /// Fees are asked through pagoPA; without it a service with a fee cannot be booked.
    #[serde(default)]
    pub enabled: bool,
    /// The GPD debt positions API, e.g.
    /// `https://api.platform.pagopa.it/gpd/debt-positions-service/v1`.
    #[serde(default)]
    pub gpd_base_url: Option<String>,
    /// pagoPA Checkout for enti (`POST /carts`), e.g.
    /// `https://api.platform.pagopa.it/checkout/ec/v1`.
    #[serde(default)]
    pub checkout_base_url: Option<String>,
    /// The GPD payments API (receipts), e.g.
    /// `https://api.platform.pagopa.it/gpd/payments-receipts-service/v1`.
    #[serde(default)]
    pub receipts_base_url: Option<String>,
    /// The `Ocp-Apim-Subscription-Key` of the ente's subscription (GPD, receipts, Checkout); or:
    #[serde(default)]
    pub subscription_key: Option<Secret>,
    #[serde(default)]
    pub subscription_key_file: Option<PathBuf>,
    /// Seconds to wait for the platform.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    20
}

impl Default for PagopaSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            gpd_base_url: None,
            checkout_base_url: None,
            receipts_base_url: None,
            subscription_key: None,
            subscription_key_file: None,
            timeout_secs: default_timeout(),
        }
    }
}

impl PagopaSettings {
    pub(super) fn validate(&self, env: Environment) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        for (key, url) in [
            ("pagopa.gpd_base_url", &self.gpd_base_url),
            ("pagopa.checkout_base_url", &self.checkout_base_url),
            ("pagopa.receipts_base_url", &self.receipts_base_url),
        ] {
            let Some(url) = url else {
                return Err(ConfigError::new(
                    key,
                    "set the API's base URL (pagoPA enabled)",
                ));
            };
            let https = url.starts_with("https://");
            if !(https || url.starts_with("http://")) {
                return Err(ConfigError::new(key, "must be an http(s) URL"));
            }
            if env == Environment::Production && !https {
                return Err(ConfigError::new(key, "must be https:// in production"));
            }
        }
        if self.subscription_key.is_none() {
            return Err(ConfigError::new(
                "pagopa.subscription_key",
                "set pagopa.subscription_key or pagopa.subscription_key_file (pagoPA enabled)",
            ));
        }
        if self.timeout_secs == 0 {
            return Err(ConfigError::new(
                "pagopa.timeout_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
