//! The deployment-wide sections: `[tenancy]` (which enti, by host name), `[telemetry]` (how
//! the service logs) and `[demo]` (where `serve --demo` reads its set-up).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use crate::domain::ente_code::EnteCode;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancySettings {
    /// The ente served when the host name is not in `hosts` (single-ente deployments need
    /// nothing else). Without it, an unknown host gets 404.
    pub default_ente: Option<String>,
    /// Host name (without port) → ente code, for deployments serving several enti.
    #[serde(default)]
    pub hosts: BTreeMap<String, String>,
}

/// The validated tenancy map, with codes already parsed.
impl TenancySettings {
    pub fn default_ente_code(&self) -> Option<EnteCode> {
        self.default_ente
            .as_deref()
            .and_then(|c| EnteCode::parse(c).ok())
    }

    pub fn ente_for_host(&self, host: &str) -> Option<EnteCode> {
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        match self.hosts.get(&host) {
            Some(code) => EnteCode::parse(code).ok(),
            None => self.default_ente_code(),
        }
    }

    /// Refuses an ente code that does not parse, and a deployment that serves no ente.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(code) = &self.default_ente {
            EnteCode::parse(code)
                .map_err(|e| ConfigError::new("tenancy.default_ente", e.to_string()))?;
        }
        for (host, code) in &self.hosts {
            EnteCode::parse(code).map_err(|e| {
                ConfigError::new(format!("tenancy.hosts.\"{host}\""), e.to_string())
            })?;
        }
        if self.default_ente.is_none() && self.hosts.is_empty() {
            return Err(ConfigError::new(
                "tenancy.default_ente",
                "set the ente to serve (or map host names in tenancy.hosts)",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,sportello=debug`.
    pub filter: String,
}

impl TelemetrySettings {
    /// Refuses a filter `tracing` cannot read.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        tracing_subscriber::EnvFilter::try_new(&self.filter)
            .map_err(|e| ConfigError::new("telemetry.filter", e.to_string()))?;
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// The directory `serve --demo` loads the demo ente and catalog from.
    pub bundle_dir: PathBuf,
}
