//! The guided procedures with their legal rules (issue #13).
//!
//! A form stays data (JSON Schema + steps, `catalog::forms`); a service may name its
//! **procedure kind** (`[procedure] kind = "residenza" | "tari" | "foia"` in its bundle file),
//! and the rules a schema cannot express live in `procedures::<kind>` as plain Rust. The
//! kind's own settings (deadlines, tariffs, lists) are the service's `[procedure.settings]`
//! table, checked by [`ProcedureKind::check_settings`] when the bundle is loaded and stored as
//! JSON in `services.procedure_settings`.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::schema::services;
use crate::db::DbConn;

/// Which procedure's rules a service follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureKind {
    /// Dichiarazione di residenza / cambio di indirizzo (DPR 223/1989, DL 5/2012 art. 5).
    Residenza,
    /// Dichiarazione TARI (L. 147/2013 art. 1 c. 641–668, 684–686).
    Tari,
    /// Accesso civico semplice e generalizzato, accesso documentale (D.Lgs. 33/2013 art. 5,
    /// L. 241/1990 art. 22).
    Foia,
}

impl ProcedureKind {
    pub const ALL: [Self; 3] = [Self::Residenza, Self::Tari, Self::Foia];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Residenza => "residenza",
            Self::Tari => "tari",
            Self::Foia => "foia",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Checks a service's `[procedure.settings]` for this kind when the bundle is loaded.
    pub fn check_settings(self, settings: &Value) -> anyhow::Result<()> {
        if !settings.is_object() {
            anyhow::bail!("procedure.settings must be a table");
        }
        Ok(())
    }
}

/// A service's procedure: its kind and settings (`{}` when the bundle gives none).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceProcedure {
    pub kind: ProcedureKind,
    pub settings: Value,
}

/// The procedure of a service, None when it follows no kind's rules.
pub fn of_service(conn: &mut DbConn, service_id: i64) -> anyhow::Result<Option<ServiceProcedure>> {
    let (kind, settings): (Option<String>, Option<String>) = services::table
        .find(service_id)
        .select((services::procedure_kind, services::procedure_settings))
        .first(conn)?;
    let Some(kind) = kind else {
        return Ok(None);
    };
    let kind = ProcedureKind::parse(&kind)
        .ok_or_else(|| anyhow::anyhow!("services.procedure_kind `{kind}` is unknown"))?;
    let settings = match settings {
        Some(s) => serde_json::from_str(&s)?,
        None => Value::Object(Default::default()),
    };
    Ok(Some(ServiceProcedure { kind, settings }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_and_write_the_same_names() {
        for k in ProcedureKind::ALL {
            assert_eq!(ProcedureKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                Value::String(k.as_str().to_owned())
            );
        }
        assert_eq!(ProcedureKind::parse("anagrafe"), None);
        assert!(ProcedureKind::Tari
            .check_settings(&serde_json::json!([]))
            .is_err());
    }
}
