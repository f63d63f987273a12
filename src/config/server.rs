//! `[server]`: where the service listens, the address citizens use, body limits.

use serde::Deserialize;

use super::{ConfigError, Environment};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// The address citizens use to reach the service (behind the proxy). Used for absolute
    /// links and, later, as the base of SPID/CIE entity identifiers.
    pub public_url: String,
    /// Largest JSON body accepted by the API.
    pub max_json_bytes: usize,
    /// Largest body of any other kind (forms, raw payloads).
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Seconds given to in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Seconds a request body may take before its minimum rate applies (see
    /// `http::slow_body`): a body must arrive within this plus one second per
    /// `body_min_bytes_per_sec` bytes received, or it is answered 408 and closed.
    pub body_timeout_secs: u64,
    /// The slowest rate a request body may keep up, bytes per second.
    pub body_min_bytes_per_sec: u64,
    /// Request bodies one client address may have in flight at once (0 = no cap).
    pub max_slow_bodies_per_client: usize,
    /// Where Prometheus scrapes `/metrics` (e.g. `127.0.0.1:9464`): an address of its own,
    /// never the public port. Empty: no metrics listener.
    #[serde(default)]
    pub metrics_listen: String,
}

impl ServerSettings {
    /// Refuses an empty host, a public URL that is not http(s) (https in production), and body
    /// limits that would refuse every request.
    pub(super) fn validate(&self, env: Environment) -> Result<(), ConfigError> {
        let production = env.is_production();
        if self.host.trim().is_empty() {
            return Err(ConfigError::new("server.host", "is empty"));
        }
        let public = self.public_url.as_str();
        if !(public.starts_with("http://") || public.starts_with("https://")) {
            return Err(ConfigError::new(
                "server.public_url",
                "must be an absolute http:// or https:// URL",
            ));
        }
        if production && !public.starts_with("https://") {
            return Err(ConfigError::new(
                "server.public_url",
                "must use https:// in production",
            ));
        }
        if !self.metrics_listen.is_empty()
            && self.metrics_listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(ConfigError::new(
                "server.metrics_listen",
                "must be an address and port such as 127.0.0.1:9464, or empty",
            ));
        }
        if self.body_timeout_secs == 0 || self.body_min_bytes_per_sec == 0 {
            return Err(ConfigError::new(
                "server.body_timeout_secs",
                "body_timeout_secs and body_min_bytes_per_sec must be above 0",
            ));
        }
        if self.max_json_bytes < 1024 || self.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "server.max_json_bytes",
                "body limits must be at least 1024 bytes",
            ));
        }
        Ok(())
    }
}
