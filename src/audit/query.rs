//! Reading an ente's audit log: filtered, in `seq` order, a page at a time (cursor: the last
//! `seq` read), as JSON Lines or CSV.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Action, Stored};
use crate::db::schema::audit_log as al;
use crate::db::DbConn;
use crate::domain::FieldError;

/// The filters of `GET /api/v1/admin/audit`.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// From this day (Italian date), included.
    pub from: Option<NaiveDate>,
    /// To this day (Italian date), included.
    pub to: Option<NaiveDate>,
    /// `citizen`, `staff`, `token`, `system`, or one of them with its id: `staff:operatore.anagrafe`.
    pub actor: Option<String>,
    /// One action, e.g. `instance_read` (docs/audit.md lists them).
    pub action: Option<String>,
    /// The `seq` after which to go on (the previous page's `X-Next-Cursor`).
    pub cursor: Option<i64>,
    /// Entries per page, 1–1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `jsonl` or `csv`; wins over `Accept`.
    pub format: Option<String>,
}

/// One entry as the API and the exports write it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditRecord {
    pub seq: i64,
    pub id: i64,
    /// RFC 3339 UTC with microseconds (as hashed).
    #[schema(format = DateTime)]
    pub at: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    /// Canonical JSON text.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<Stored> for AuditRecord {
    fn from(e: Stored) -> Self {
        AuditRecord {
            seq: e.seq,
            id: e.id,
            at: e
                .at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            action: e.action,
            object_kind: e.object_kind,
            object_id: e.object_id,
            client_ip: e.client_ip,
            request_id: e.request_id,
            details: e.details,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A page and where the next one starts.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    pub next_cursor: Option<i64>,
}

fn invalid(pointer: &str, message: &str) -> Vec<FieldError> {
    vec![FieldError::new(pointer, message)]
}

/// One page of the ente's log.
pub fn page(
    conn: &mut DbConn,
    ente_id: i64,
    f: &AuditFilter,
) -> Result<Result<AuditPage, Vec<FieldError>>, diesel::result::Error> {
    let limit = f.limit.unwrap_or(500).clamp(1, 1000);
    let mut q = al::table
        .filter(al::ente_id.eq(ente_id))
        .select(Stored::as_select())
        .into_boxed();
    if let Some(c) = f.cursor {
        q = q.filter(al::seq.gt(c));
    }
    if let (Some(from), Some(to)) = (f.from, f.to) {
        if from > to {
            return Ok(Err(invalid(
                "/from",
                "La data iniziale è successiva a quella finale.",
            )));
        }
    }
    if let Some(d) = f.from {
        q = q.filter(al::at.ge(crate::domain::calendar::rome_day_start_utc(d)));
    }
    if let Some(d) = f.to {
        q = q.filter(al::at.lt(crate::domain::calendar::rome_day_start_utc(
            d + chrono::Duration::days(1),
        )));
    }
    if let Some(a) = f.actor.as_deref() {
        let (kind, id) = match a.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (a, None),
        };
        if !["citizen", "staff", "token", "system"].contains(&kind) {
            return Ok(Err(invalid(
                "/actor",
                "Indicare citizen, staff, token o system, eventualmente seguito da : e l'identificativo.",
            )));
        }
        q = q.filter(al::actor_kind.eq(kind.to_owned()));
        if let Some(id) = id {
            q = q.filter(al::actor_id.eq(id.to_owned()));
        }
    }
    if let Some(a) = f.action.as_deref() {
        if Action::parse(a).is_none() {
            return Ok(Err(invalid(
                "/action",
                "Azione sconosciuta (docs/audit.md le elenca).",
            )));
        }
        q = q.filter(al::action.eq(a.to_owned()));
    }
    let rows: Vec<Stored> = q.order(al::seq.asc()).limit(limit + 1).load(conn)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<AuditRecord> = rows
        .into_iter()
        .take(limit as usize)
        .map(AuditRecord::from)
        .collect();
    let next_cursor = if more {
        items.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(Ok(AuditPage { items, next_cursor }))
}

/// JSON Lines: one entry per line.
pub fn to_jsonl(items: &[AuditRecord]) -> String {
    let mut out = String::new();
    for r in items {
        out.push_str(&serde_json::to_string(r).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// CSV with a header row (RFC 4180).
pub fn to_csv(items: &[AuditRecord]) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "seq",
        "id",
        "at",
        "actor_kind",
        "actor_id",
        "action",
        "object_kind",
        "object_id",
        "client_ip",
        "request_id",
        "details",
        "prev_hash",
        "hash",
    ])?;
    for r in items {
        w.write_record([
            r.seq.to_string(),
            r.id.to_string(),
            r.at.clone(),
            r.actor_kind.clone(),
            r.actor_id.clone(),
            r.action.clone(),
            r.object_kind.clone(),
            r.object_id.clone(),
            r.client_ip.clone().unwrap_or_default(),
            r.request_id.clone().unwrap_or_default(),
            r.details.clone(),
            r.prev_hash.clone(),
            r.hash.clone(),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// The logins and logouts of a citizen since a moment (their own data export).
pub fn citizen_logins(
    conn: &mut DbConn,
    ente_id: i64,
    citizen_id: i64,
    since: NaiveDateTime,
) -> QueryResult<Vec<AuditRecord>> {
    Ok(al::table
        .filter(al::ente_id.eq(ente_id))
        .filter(al::actor_kind.eq("citizen"))
        .filter(al::actor_id.eq(citizen_id.to_string()))
        .filter(al::action.eq_any([Action::LoginSucceeded.as_str(), Action::Logout.as_str()]))
        .filter(al::at.ge(since))
        .order(al::seq.asc())
        .select(Stored::as_select())
        .load(conn)?
        .into_iter()
        .map(AuditRecord::from)
        .collect())
}
