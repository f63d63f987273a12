//! `[session]` (the cookie and how long a login lasts) and `[auth]` (the development login).

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Environment, Secret};

/// The secrets shipped in this repository's demo and test configuration. They are public, so
/// a production deployment that uses one of them is refused.
const PUBLIC_SECRETS: &[&str] = &[
    "demo-only-secret-not-for-production-use-0123456789abcdef0123456789",
    "test-only-secret-not-for-production-use-0123456789abcdef0123456789",
];

/// Minimum length of `session.secret`: it is the input of the key derivation for the cookie
/// encryption key, and must carry at least 256 bits of entropy.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// Master secret for the cookie encryption key (at least 32 characters).
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    pub cookie_name: String,
    /// Send the cookie only over HTTPS. Must be true in production.
    pub cookie_secure: bool,
    /// A session unused for this long ends.
    pub idle_timeout_minutes: u32,
    /// A session ends this long after login, used or not.
    pub absolute_timeout_minutes: u32,
}

impl SessionSettings {
    pub fn secret(&self) -> Result<&Secret, ConfigError> {
        self.secret
            .as_ref()
            .ok_or_else(|| ConfigError::new("session.secret", "is missing"))
    }

    /// Refuses a missing, short or (in production) public secret, insecure cookies in
    /// production, a cookie name a browser would mangle, and inconsistent timeouts.
    pub(super) fn validate(&self, env: Environment) -> Result<(), ConfigError> {
        let production = env.is_production();
        let secret = self.secret()?;
        if secret.expose().chars().count() < MIN_SECRET_LEN {
            return Err(ConfigError::new(
                "session.secret",
                format!("must be at least {MIN_SECRET_LEN} characters long"),
            ));
        }
        if production && PUBLIC_SECRETS.contains(&secret.expose()) {
            return Err(ConfigError::new(
                "session.secret",
                "is the public demo/test secret: generate your own (see docs/configuration.md)",
            ));
        }
        if production && !self.cookie_secure {
            return Err(ConfigError::new(
                "session.cookie_secure",
                "must be true in production (cookies only over HTTPS)",
            ));
        }
        let name = &self.cookie_name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::new(
                "session.cookie_name",
                "must be letters, digits, '_' or '-'",
            ));
        }
        if self.idle_timeout_minutes == 0 {
            return Err(ConfigError::new(
                "session.idle_timeout_minutes",
                "must be at least 1",
            ));
        }
        if self.absolute_timeout_minutes < self.idle_timeout_minutes {
            return Err(ConfigError::new(
                "session.absolute_timeout_minutes",
                "must not be shorter than session.idle_timeout_minutes",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `POST /auth/dev/login`: log in as anyone with no identity provider. Demo and tests only.
    pub dev_login: bool,
}

impl AuthSettings {
    /// Refuses the development login in production.
    pub(super) fn validate(&self, env: Environment) -> Result<(), ConfigError> {
        let production = env.is_production();
        if production && self.dev_login {
            return Err(ConfigError::new(
                "auth.dev_login",
                "the development login lets anyone log in as anyone: it cannot be enabled in production",
            ));
        }
        Ok(())
    }
}
