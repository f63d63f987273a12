//! Typed settings: `config/default.toml` < `config/<SPORTELLO_ENV>.toml` < `SPORTELLO__…`
//! environment variables (`SPORTELLO__SERVER__PORT=8081` sets `server.port`).
//!
//! Secrets may be given inline or read from a file (`session.secret_file`,
//! `database.url_file`), so they can come from a secret store mounted as files. Every
//! refusal names the key that is wrong: an operator reads the one-line error and knows what to
//! change. See `config/production.example.toml` for every key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::ente_code::EnteCode;

/// The secrets shipped in this repository's demo and test configuration. They are public, so
/// a production deployment that uses one of them is refused.
const PUBLIC_SECRETS: &[&str] = &[
    "demo-only-secret-not-for-production-use-0123456789abcdef0123456789",
    "test-only-secret-not-for-production-use-0123456789abcdef0123456789",
];

/// Minimum length of `session.secret`: it is the input of the key derivation for the cookie
/// encryption key, and must carry at least 256 bits of entropy.
pub const MIN_SECRET_LEN: usize = 32;

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
}

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

fn default_spid_level() -> i32 {
    2
}
fn default_spid_request_ttl() -> u64 {
    900
}
fn default_spid_clock_skew() -> u64 {
    60
}
fn default_after_login() -> String {
    "/api/v1/me".to_owned()
}
fn default_after_logout() -> String {
    "/".to_owned()
}

/// The settings every login method shares (`<section>.default_level`, `request_ttl_secs`,
/// `clock_skew_secs`, and the local paths the browser is sent to), checked one way.
fn check_login_settings(
    section: &str,
    default_level: Option<i32>,
    request_ttl_secs: u64,
    clock_skew_secs: Option<u64>,
    paths: &[(&str, &String)],
) -> Result<(), ConfigError> {
    let key = |name: &str| format!("{section}.{name}");
    if default_level.is_some_and(|l| !(1..=3).contains(&l)) {
        return Err(ConfigError::new(key("default_level"), "must be 1, 2 or 3"));
    }
    if !(60..=3600).contains(&request_ttl_secs) {
        return Err(ConfigError::new(
            key("request_ttl_secs"),
            "must be between 60 and 3600",
        ));
    }
    if clock_skew_secs.is_some_and(|s| s > 300) {
        return Err(ConfigError::new(
            key("clock_skew_secs"),
            "must be at most 300",
        ));
    }
    for (name, path) in paths {
        if !is_local_path(path) {
            return Err(ConfigError::new(
                key(name),
                "must be a local path such as /area-personale",
            ));
        }
    }
    Ok(())
}

/// A local path the browser may be sent to: starts with one `/`, no scheme or host, no
/// backslash or control character (so `next` cannot become an open redirect).
pub fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(|c| c.is_control() || c.is_whitespace())
        && p.len() <= 2000
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstancesSettings {
    /// A draft not touched for this many days is deleted with its attachments.
    pub draft_ttl_days: u32,
    /// Largest attachment, in bytes.
    pub max_file_bytes: u64,
    /// Largest total of an instance's attachments, in bytes.
    pub max_total_bytes: u64,
    /// Most attachments on one instance.
    pub max_files: u32,
    /// Attachment types accepted, decided by content: pdf, xml, txt, jpeg, png, tiff, eml,
    /// odf, ooxml.
    pub allowed_types: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Where attachments live: "local" (a directory) for now.
    pub backend: String,
    pub local_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Deliver through an SMTP server.
    Smtp,
    /// Write the message to the log instead of sending it (demo only).
    Log,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WorkerMode {
    /// The outbox worker runs inside `serve`.
    InProcess,
    /// `serve` does not send; run `sportello worker` (one or more).
    External,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. `Comune di Esempio <noreply@comune.example.it>`.
    pub from: String,
    pub timeout_secs: u64,
    /// Attempts before a message is set aside as dead (visible to administrators).
    pub max_attempts: u32,
    /// First retry delay; doubles at each attempt, capped at one hour.
    pub retry_base_secs: u64,
    pub worker: WorkerMode,
    /// How often an idle worker looks for due messages.
    pub poll_interval_ms: u64,
}

fn default_env() -> Environment {
    Environment::Production
}

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
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// fsync on every commit: nothing acknowledged is lost, even on power failure.
    Full,
    /// fsync at checkpoints only: faster, may lose the last commits on power failure.
    Normal,
}

impl SqliteSynchronous {
    pub fn as_pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://data/sportello.db` or `postgres://user:password@host/db`.
    pub url: Option<Secret>,
    /// A file whose content is the URL (for a URL that carries a password).
    pub url_file: Option<PathBuf>,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub sqlite_synchronous: SqliteSynchronous,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    /// The database location; `url_file` has already been folded into `url` by [`load`].
    pub fn location(&self) -> Result<DbLocation, ConfigError> {
        let url = self
            .url
            .as_ref()
            .ok_or_else(|| ConfigError::new("database.url", "is missing"))?;
        DbLocation::parse(url.expose()).map_err(|m| ConfigError::new("database.url", m))
    }
}

/// A parsed database location: the scheme decides the backend, never a guess.
#[derive(Clone)]
pub enum DbLocation {
    Sqlite(PathBuf),
    Postgres(Secret),
}

impl DbLocation {
    /// Accepts `sqlite://relative/or/absolute/path.db` (also `sqlite:path`) and
    /// `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(Secret::new(url.to_owned())));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path.contains(":memory:") || path.starts_with("file:") {
                return Err(
                    "SQLite needs a file path, for example sqlite://data/sportello.db".into(),
                );
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err("the URL must start with sqlite:// or postgres://".into())
    }
}

impl std::fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            Self::Postgres(_) => f.write_str("postgres://[redacted]"),
        }
    }
}

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `POST /auth/dev/login`: log in as anyone with no identity provider. Demo and tests only.
    pub dev_login: bool,
}

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
    /// A `tracing` filter such as `info` or `sportello=debug,actix_web=info`.
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// The directory `serve --demo` loads the demo ente and catalog from.
    pub bundle_dir: PathBuf,
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
}

/// Reads the layered configuration for `env` from `dir` and validates it.
pub fn load(dir: &Path, env: Environment) -> Result<Settings, ConfigError> {
    let default_file = dir.join("default.toml");
    if !default_file.is_file() {
        return Err(ConfigError::new(
            "config_dir",
            format!("{} not found", default_file.display()),
        ));
    }
    let env_file = dir.join(format!("{}.toml", env.as_str()));
    let raw = config::Config::builder()
        .add_source(config::File::from(default_file))
        // demo and test ship with the code; a production file is the operator's own, and
        // environment variables alone may be enough.
        .add_source(config::File::from(env_file).required(env != Environment::Production))
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
    pub fn validate(&self) -> Result<(), ConfigError> {
        let production = self.environment == Environment::Production;

        if self.server.host.trim().is_empty() {
            return Err(ConfigError::new("server.host", "is empty"));
        }
        let public = self.server.public_url.as_str();
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
        if self.server.body_timeout_secs == 0 || self.server.body_min_bytes_per_sec == 0 {
            return Err(ConfigError::new(
                "server.body_timeout_secs",
                "body_timeout_secs and body_min_bytes_per_sec must be above 0",
            ));
        }
        if self.server.max_json_bytes < 1024 || self.server.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "server.max_json_bytes",
                "body limits must be at least 1024 bytes",
            ));
        }

        self.database.location()?;
        if self.database.pool_size == 0 {
            return Err(ConfigError::new("database.pool_size", "must be at least 1"));
        }

        let secret = self.session.secret()?;
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
        if production && !self.session.cookie_secure {
            return Err(ConfigError::new(
                "session.cookie_secure",
                "must be true in production (cookies only over HTTPS)",
            ));
        }
        let name = &self.session.cookie_name;
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
        if self.session.idle_timeout_minutes == 0 {
            return Err(ConfigError::new(
                "session.idle_timeout_minutes",
                "must be at least 1",
            ));
        }
        if self.session.absolute_timeout_minutes < self.session.idle_timeout_minutes {
            return Err(ConfigError::new(
                "session.absolute_timeout_minutes",
                "must not be shorter than session.idle_timeout_minutes",
            ));
        }

        if production && self.auth.dev_login {
            return Err(ConfigError::new(
                "auth.dev_login",
                "the development login lets anyone log in as anyone: it cannot be enabled in production",
            ));
        }

        if let Some(code) = &self.tenancy.default_ente {
            EnteCode::parse(code)
                .map_err(|e| ConfigError::new("tenancy.default_ente", e.to_string()))?;
        }
        for (host, code) in &self.tenancy.hosts {
            EnteCode::parse(code).map_err(|e| {
                ConfigError::new(format!("tenancy.hosts.\"{host}\""), e.to_string())
            })?;
        }
        if self.tenancy.default_ente.is_none() && self.tenancy.hosts.is_empty() {
            return Err(ConfigError::new(
                "tenancy.default_ente",
                "set the ente to serve (or map host names in tenancy.hosts)",
            ));
        }

        tracing_subscriber::EnvFilter::try_new(&self.telemetry.filter)
            .map_err(|e| ConfigError::new("telemetry.filter", e.to_string()))?;

        let i = &self.instances;
        if i.draft_ttl_days == 0 {
            return Err(ConfigError::new(
                "instances.draft_ttl_days",
                "must be at least 1",
            ));
        }
        if i.max_file_bytes == 0 || i.max_total_bytes < i.max_file_bytes {
            return Err(ConfigError::new(
                "instances.max_total_bytes",
                "must be at least instances.max_file_bytes (and both above 0)",
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(ConfigError::new("server.max_body_bytes", "is too small"));
        }
        for t in &i.allowed_types {
            if crate::storage::sniff::FileKind::parse(t).is_none() {
                return Err(ConfigError::new(
                    "instances.allowed_types",
                    format!("unknown type `{t}` (known: pdf, xml, txt, jpeg, png, tiff, eml, odf, ooxml)"),
                ));
            }
        }
        if self.storage.backend != "local" {
            return Err(ConfigError::new(
                "storage.backend",
                "only \"local\" is available",
            ));
        }

        if self.spid.enabled {
            self.spid.check_metadata(&self.server.public_url)?;
            if production
                && !self
                    .spid
                    .entity_id_or(&self.server.public_url)
                    .starts_with("https://")
            {
                return Err(ConfigError::new(
                    "spid.entity_id",
                    "must use https:// in production",
                ));
            }
            for (key, v) in [
                ("spid.key_file", &self.spid.key_file),
                ("spid.cert_file", &self.spid.cert_file),
                ("spid.idp_metadata_dir", &self.spid.idp_metadata_dir),
            ] {
                if v.is_none() {
                    return Err(ConfigError::new(
                        key,
                        "is required when spid.enabled = true",
                    ));
                }
            }
            let sp = &self.spid;
            check_login_settings(
                "spid",
                Some(sp.default_level),
                sp.request_ttl_secs,
                Some(sp.clock_skew_secs),
                &[
                    ("after_login_path", &sp.after_login_path),
                    ("after_logout_path", &sp.after_logout_path),
                ],
            )?;
        }

        if self.cie.enabled {
            let c = &self.cie;
            let url_ok =
                |v: &str| v.starts_with("https://") || (!production && v.starts_with("http://"));
            let entity = c
                .entity_id
                .clone()
                .unwrap_or_else(|| self.server.public_url.clone());
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
            if c.keys_dir.is_none() {
                return Err(ConfigError::new(
                    "cie.keys_dir",
                    "is required when cie.enabled = true",
                ));
            }
            for (key, v) in [
                ("cie.organization_name", &c.organization_name),
                ("cie.homepage_uri", &c.homepage_uri),
            ] {
                if v.as_deref().map(str::trim).unwrap_or_default().is_empty() {
                    return Err(ConfigError::new(key, "is required when cie.enabled = true"));
                }
            }
            if c.contacts.is_empty() {
                return Err(ConfigError::new(
                    "cie.contacts",
                    "give at least one contact e-mail",
                ));
            }
            if c.trust_anchors.is_empty() {
                return Err(ConfigError::new(
                    "cie.trust_anchors",
                    "give at least one Trust Anchor",
                ));
            }
            if c.authority_hints.is_empty() {
                return Err(ConfigError::new(
                    "cie.authority_hints",
                    "give at least one superior",
                ));
            }
            if c.providers.is_empty() {
                return Err(ConfigError::new(
                    "cie.providers",
                    "give at least one OpenID Provider",
                ));
            }
            for p in c
                .providers
                .iter()
                .chain(&c.authority_hints)
                .chain(c.trust_anchors.iter().map(|t| &t.entity_id))
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
                Some(c.default_level),
                c.request_ttl_secs,
                Some(c.clock_skew_secs),
                &[
                    ("after_login_path", &c.after_login_path),
                    ("after_logout_path", &c.after_logout_path),
                ],
            )?;
            if !(600..=31_536_000).contains(&c.entity_configuration_lifetime_secs) {
                return Err(ConfigError::new(
                    "cie.entity_configuration_lifetime_secs",
                    "must be between 600 and 31536000",
                ));
            }
        }
        if self.staff_sso.enabled {
            let s = &self.staff_sso;
            let issuer = s.issuer.as_deref().unwrap_or_default();
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
            if s.client_id.as_deref().unwrap_or_default().is_empty() {
                return Err(ConfigError::new(
                    "staff_sso.client_id",
                    "is required when staff_sso.enabled = true",
                ));
            }
            if s.client_secret.is_none() {
                return Err(ConfigError::new(
                    "staff_sso.client_secret",
                    "is required (or staff_sso.client_secret_file) when staff_sso.enabled = true",
                ));
            }
            if !["email", "preferred_username"].contains(&s.match_claim.as_str()) {
                return Err(ConfigError::new(
                    "staff_sso.match_claim",
                    "must be \"email\" or \"preferred_username\"",
                ));
            }
            check_login_settings(
                "staff_sso",
                None,
                s.request_ttl_secs,
                None,
                &[("after_login_path", &s.after_login_path)],
            )?;
        }

        let m = &self.mail;
        if m.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "mail.from",
                "must be an address such as `Comune di Esempio <noreply@comune.example.it>`",
            ));
        }
        if production && m.transport == MailTransport::Log {
            return Err(ConfigError::new(
                "mail.transport",
                "\"log\" does not deliver mail to citizens: use \"smtp\" in production",
            ));
        }
        if m.transport == MailTransport::Smtp && m.smtp_host.trim().is_empty() {
            return Err(ConfigError::new("mail.smtp_host", "is empty"));
        }
        if m.username.is_some() != m.password.is_some() {
            return Err(ConfigError::new(
                "mail.password",
                "give both mail.username and mail.password (or neither)",
            ));
        }
        if m.max_attempts == 0 {
            return Err(ConfigError::new("mail.max_attempts", "must be at least 1"));
        }
        Ok(())
    }

    /// The socket address to bind.
    pub fn bind_address(&self) -> String {
        format!("{}:{}", self.server.host, self.server.port)
    }
}
