//! Typed settings: `config/default.toml` < `config/<SPORTELLO_ENV>.toml` < `SPORTELLO__…`
//! environment variables (`SPORTELLO__SERVER__PORT=8081` sets `server.port`).
//!
//! Secrets may be given inline or read from a file (`session.secret_file`,
//! `database.url_file`), so they can come from a secret store mounted as files. Every
//! refusal names the key that is wrong: an operator reads the one-line error and knows what to
//! change. See `config/production.example.toml` for every key.
//!
//! Each section is a type in its own file and checks itself (`validate`);
//! [`Settings::validate`] calls them in a fixed order, so the problem reported first stays the
//! same, and passes a section what it needs of another (the public URL, the environment).
//! This module is pure data and validation: it imports no other part of Sportello but
//! `domain` and `storage::sniff`, so every module may depend on it.

mod database;
mod deployment;
mod instances;
mod login;
mod mail;
mod oidc;
mod pagopa;
mod server;
mod session;
mod spid;

use std::fmt;
use std::path::Path;

use serde::Deserialize;

pub use database::{DatabaseSettings, DbLocation, SqliteSynchronous};
pub use deployment::{DemoSettings, LogFormat, TelemetrySettings, TenancySettings};
pub use instances::{InstancesSettings, SegnaturaSettings, StorageSettings};
pub use login::is_local_path;
pub use mail::{MailSettings, MailTransport, SmtpTls, WorkerMode};
pub use oidc::{CieSettings, StaffSsoSettings, TrustAnchorSettings, TrustMarkSettings};
pub use pagopa::PagopaSettings;
pub use server::ServerSettings;
pub use session::{AuthSettings, SessionSettings, MIN_SECRET_LEN};
pub use spid::SpidSettings;

/// Which configuration layer is in force; decides the second file and the safety rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Demo,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Demo => "demo",
            Self::Test => "test",
            Self::Production => "production",
        }
    }

    pub fn is_production(self) -> bool {
        self == Self::Production
    }

    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "demo" => Ok(Self::Demo),
            "test" => Ok(Self::Test),
            "production" | "prod" => Ok(Self::Production),
            other => Err(ConfigError::new(
                "SPORTELLO_ENV",
                format!("unknown environment `{other}` (expected demo, test or production)"),
            )),
        }
    }
}

/// A string that must never reach a log line or a debug dump.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A configuration problem, always tied to the key that causes it.
#[derive(Debug, thiserror::Error)]
#[error("configuration key `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(skip, default = "default_env")]
    pub environment: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub tenancy: TenancySettings,
    pub telemetry: TelemetrySettings,
    pub demo: DemoSettings,
    pub instances: InstancesSettings,
    pub storage: StorageSettings,
    pub mail: MailSettings,
    #[serde(default)]
    pub spid: SpidSettings,
    #[serde(default)]
    pub cie: CieSettings,
    #[serde(default)]
    pub staff_sso: StaffSsoSettings,
    #[serde(default)]
    pub segnatura: SegnaturaSettings,
    #[serde(default)]
    pub pagopa: PagopaSettings,
}

fn default_env() -> Environment {
    Environment::Production
}

/// `config/default.toml` as compiled into the binary: the first layer, under any file on disk.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.toml");
/// `config/demo.toml` as compiled into the binary: the demo layer when no file on disk has it.
pub const EMBEDDED_DEMO: &str = include_str!("../../config/demo.toml");

/// Reads the layered configuration for `env` and validates it: the embedded defaults, then
/// `dir/default.toml` and `dir/<env>.toml` when they exist (the demo's embedded settings when
/// `dir` has no `demo.toml`; `test.toml` must be on disk), then the environment variables.
/// `dir` need not exist: the binary alone runs on what it carries.
pub fn load(dir: &Path, env: Environment) -> Result<Settings, ConfigError> {
    let default_file = dir.join("default.toml");
    let env_file = dir.join(format!("{}.toml", env.as_str()));
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(
            EMBEDDED_DEFAULT,
            config::FileFormat::Toml,
        ))
        .add_source(config::File::from(default_file).required(false));
    builder = match env {
        Environment::Demo if !env_file.is_file() => builder.add_source(config::File::from_str(
            EMBEDDED_DEMO,
            config::FileFormat::Toml,
        )),
        // The test settings ship with the sources only; a production file is the operator's
        // own, and environment variables alone may be enough.
        _ => builder.add_source(config::File::from(env_file).required(env == Environment::Test)),
    };
    let raw = builder
        .add_source(
            config::Environment::with_prefix("SPORTELLO")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        )
        .build()
        .map_err(from_config_error)?;
    let mut settings: Settings = raw.try_deserialize().map_err(from_config_error)?;
    settings.environment = env;
    settings.resolve_secret_files()?;
    settings.validate()?;
    Ok(settings)
}

impl Settings {
    /// Puts the demo's files — its SQLite database, attachments and segnatura test keys, given
    /// relative in the demo settings — under `data_dir`, so the demo runs from any directory.
    /// Absolute paths (and a PostgreSQL URL) stay as they are.
    pub fn place_demo_data(&mut self, data_dir: &Path) {
        let under = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                data_dir.join(p)
            }
        };
        if let Some(url) = &self.database.url {
            if let Some(path) = url.expose().strip_prefix("sqlite://") {
                let placed = under(Path::new(path));
                self.database.url = Some(Secret::new(format!("sqlite://{}", placed.display())));
            }
        }
        self.storage.local_dir = under(&self.storage.local_dir);
        if let Some(k) = &self.segnatura.key_dir {
            self.segnatura.key_dir = Some(under(k));
        }
    }
}

/// The `config` crate reports the key in its own words; keep them, under a recognisable key.
fn from_config_error(e: config::ConfigError) -> ConfigError {
    let text = e.to_string();
    let key = text
        .split("for key `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned)
        .unwrap_or_else(|| "config".to_owned());
    ConfigError::new(key, text)
}

fn read_secret_file(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))?;
    Ok(Secret::new(text.trim().to_owned()))
}

impl Settings {
    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = self.session.secret_file.clone() {
            if self.session.secret.is_some() {
                return Err(ConfigError::new(
                    "session.secret_file",
                    "give either session.secret or session.secret_file, not both",
                ));
            }
            self.session.secret = Some(read_secret_file("session.secret_file", &path)?);
        }
        if let Some(path) = self.mail.password_file.clone() {
            if self.mail.password.is_some() {
                return Err(ConfigError::new(
                    "mail.password_file",
                    "give either mail.password or mail.password_file, not both",
                ));
            }
            self.mail.password = Some(read_secret_file("mail.password_file", &path)?);
        }
        if let Some(path) = self.staff_sso.client_secret_file.clone() {
            if self.staff_sso.client_secret.is_some() {
                return Err(ConfigError::new(
                    "staff_sso.client_secret_file",
                    "give either staff_sso.client_secret or staff_sso.client_secret_file, not both",
                ));
            }
            self.staff_sso.client_secret =
                Some(read_secret_file("staff_sso.client_secret_file", &path)?);
        }
        if let Some(path) = self.pagopa.subscription_key_file.clone() {
            if self.pagopa.subscription_key.is_some() {
                return Err(ConfigError::new(
                    "pagopa.subscription_key_file",
                    "give either pagopa.subscription_key or pagopa.subscription_key_file, not both",
                ));
            }
            self.pagopa.subscription_key =
                Some(read_secret_file("pagopa.subscription_key_file", &path)?);
        }
        if let Some(path) = self.database.url_file.clone() {
            if self.database.url.is_some() {
                return Err(ConfigError::new(
                    "database.url_file",
                    "give either database.url or database.url_file, not both",
                ));
            }
            self.database.url = Some(read_secret_file("database.url_file", &path)?);
        }
        Ok(())
    }

    /// Refuses values that are invalid anywhere, and values that are dangerous in production.
    /// Sections are checked in this order and the first problem found is the one reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let env = self.environment;
        let public_url = self.server.public_url.as_str();
        self.server.validate(env)?;
        self.database.validate()?;
        self.session.validate(env)?;
        self.auth.validate(env)?;
        self.tenancy.validate()?;
        self.telemetry.validate()?;
        self.instances.validate()?;
        self.storage.validate()?;
        self.spid.validate(public_url, env)?;
        self.cie.validate(public_url, env)?;
        self.staff_sso.validate(env)?;
        self.pagopa.validate(env)?;
        self.mail.validate(env)
    }

    /// The socket address to bind.
    pub fn bind_address(&self) -> String {
        format!("{}:{}", self.server.host, self.server.port)
    }
}
