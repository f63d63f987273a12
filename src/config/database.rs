//! `[database]`: which database, how many connections, SQLite's durability.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Secret};

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
    /// The database location; `url_file` has already been folded into `url` by
    /// [`load`](super::load).
    pub fn location(&self) -> Result<DbLocation, ConfigError> {
        let url = self
            .url
            .as_ref()
            .ok_or_else(|| ConfigError::new("database.url", "is missing"))?;
        DbLocation::parse(url.expose()).map_err(|m| ConfigError::new("database.url", m))
    }

    /// Refuses a missing or unknown `database.url` and an empty pool.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.location()?;
        if self.pool_size == 0 {
            return Err(ConfigError::new("database.pool_size", "must be at least 1"));
        }
        Ok(())
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
