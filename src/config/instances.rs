//! `[instances]` (drafts and their attachments) and `[storage]` (where attachments live).

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

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
    /// A decided instance is closed automatically this many days after its decision.
    pub auto_close_days: u32,
}

impl InstancesSettings {
    /// Refuses a zero draft lifetime, inconsistent size limits and unknown attachment types.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.draft_ttl_days == 0 {
            return Err(ConfigError::new(
                "instances.draft_ttl_days",
                "must be at least 1",
            ));
        }
        if self.max_file_bytes == 0 || self.max_total_bytes < self.max_file_bytes {
            return Err(ConfigError::new(
                "instances.max_total_bytes",
                "must be at least instances.max_file_bytes (and both above 0)",
            ));
        }
        for t in &self.allowed_types {
            if crate::storage::sniff::FileKind::parse(t).is_none() {
                return Err(ConfigError::new(
                    "instances.allowed_types",
                    format!("unknown type `{t}` (known: pdf, xml, txt, jpeg, png, tiff, eml, odf, ooxml)"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Where attachments live: "local" (a directory) for now.
    pub backend: String,
    pub local_dir: PathBuf,
}

impl StorageSettings {
    /// Refuses a backend that does not exist.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.backend != "local" {
            return Err(ConfigError::new(
                "storage.backend",
                "only \"local\" is available",
            ));
        }
        Ok(())
    }
}

/// The segnatura informatica's signing keys (docs/protocol.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegnaturaSettings {
    /// Directory with each AOO's pair, `<AOO code>.key.pem` and `<AOO code>.crt.pem`
    /// (`sportello protocol make-signing-key` makes a test pair). Unset: no segnatura.
    pub key_dir: Option<PathBuf>,
}
