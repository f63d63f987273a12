//! `[mail]`: how mail to citizens leaves (SMTP or the log) and the outbox worker.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Environment, Secret};

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
    /// How long a claimed message stays with its worker before another may take it (a worker
    /// that died while delivering: its message is delivered again after this).
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
}

fn default_lease_secs() -> u64 {
    300
}

impl MailSettings {
    /// Refuses a sender that is not a mailbox, the log transport in production, SMTP with no
    /// host, half a login and no attempts.
    pub(super) fn validate(&self, env: Environment) -> Result<(), ConfigError> {
        let production = env.is_production();
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "mail.from",
                "must be an address such as `Comune di Esempio <noreply@comune.example.it>`",
            ));
        }
        if production && self.transport == MailTransport::Log {
            return Err(ConfigError::new(
                "mail.transport",
                "\"log\" does not deliver mail to citizens: use \"smtp\" in production",
            ));
        }
        if self.transport == MailTransport::Smtp && self.smtp_host.trim().is_empty() {
            return Err(ConfigError::new("mail.smtp_host", "is empty"));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(ConfigError::new(
                "mail.password",
                "give both mail.username and mail.password (or neither)",
            ));
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::new("mail.max_attempts", "must be at least 1"));
        }
        Ok(())
    }
}
