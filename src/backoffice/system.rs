//! What the ente's other systems read through an API token (`instances:read`): every
//! submitted instance of the ente, in the order they last changed, so that a records system
//! can follow them with a cursor. The instance screen, its attachments and documents are the
//! office's own ([`super::view::staff_view`]) read as an administrator would.

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::work::StaffCtx;
use super::{bad, BackofficeError};
use crate::db::schema::{instances as inst, offices, protocol_registrations as pr, services};
use crate::db::DbConn;
use crate::domain::protocol_number::ProtocolNumber;
use crate::domain::InstanceStatus;
use crate::instances::iso;

impl StaffCtx {
    /// Another system of the ente, reading (never acting) as an administrator would: every
    /// office, no staff member behind it. Only read paths take it.
    pub fn system(ente_id: i64, name: &str) -> Self {
        StaffCtx {
            ente_id,
            staff_user_id: 0,
            username: format!("token:{name}"),
            admin: true,
            office_ids: Vec::new(),
        }
    }
}

/// The filters and page of the list.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SystemFilter {
    /// Only instances in this state.
    pub status: Option<InstanceStatus>,
    /// Only instances of this service (its slug).
    pub service: Option<String>,
    /// Only instances of this office (its code).
    pub office: Option<String>,
    /// Only instances changed at or after this instant (RFC 3339).
    pub changed_since: Option<DateTime<chrono::FixedOffset>>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// Instances per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// An instance as the list shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemItem {
    pub id: String,
    pub status: InstanceStatus,
    /// The service's slug.
    pub service: String,
    /// The competent office's code.
    pub office: Option<String>,
    #[schema(format = DateTime)]
    pub submitted_at: Option<String>,
    /// The last change (to the second).
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub protocol: Option<SystemProtocol>,
    /// Its version (the `ETag` of the instance's screen).
    pub version: i64,
}

/// The incoming registration of an instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemProtocol {
    pub year: i32,
    #[schema(value_type = String, example = "0000042")]
    pub number: ProtocolNumber,
}

/// `GET /api/v1/integration/instances`
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemPage {
    pub items: Vec<SystemItem>,
    /// Pass it as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn cursor_of(at: NaiveDateTime, id: &str) -> String {
    format!("{}_{id}", at.and_utc().timestamp_micros())
}

fn parse_cursor(c: &str) -> Option<(NaiveDateTime, String)> {
    let (micros, id) = c.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
    uuid::Uuid::parse_str(id).ok()?;
    Some((at, id.to_owned()))
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<NaiveDateTime>,
    NaiveDateTime,
    Option<i32>,
    Option<i64>,
    i64,
);

/// The ente's submitted instances (never drafts), oldest change first, one page.
pub fn list(
    conn: &mut DbConn,
    ente_id: i64,
    f: &SystemFilter,
) -> Result<SystemPage, BackofficeError> {
    let limit = f.limit.unwrap_or(50).clamp(1, 200);
    let after = match f.cursor.as_deref() {
        None => None,
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            bad(
                "/cursor",
                "Cursore non valido: usare il valore next_cursor della pagina precedente.",
            )
        })?),
    };
    let mut q = inst::table
        .inner_join(services::table)
        .left_join(offices::table.on(offices::id.nullable().eq(inst::office_id)))
        .left_join(pr::table)
        .filter(inst::ente_id.eq(ente_id))
        .filter(inst::status.ne(InstanceStatus::Draft.as_str()))
        .into_boxed();
    if let Some(s) = f.status {
        q = q.filter(inst::status.eq(s.as_str()));
    }
    if let Some(s) = &f.service {
        q = q.filter(services::slug.eq(s.clone()));
    }
    if let Some(o) = &f.office {
        q = q.filter(offices::code.nullable().eq(o.clone()));
    }
    if let Some(t) = f.changed_since {
        q = q.filter(inst::updated_at.ge(t.naive_utc()));
    }
    if let Some((at, id)) = after {
        q = q.filter(
            inst::updated_at
                .gt(at)
                .or(inst::updated_at.eq(at).and(inst::id.gt(id))),
        );
    }
    let rows: Vec<Row> = q
        .order((inst::updated_at.asc(), inst::id.asc()))
        .limit(limit + 1)
        .select((
            inst::id,
            inst::status,
            services::slug,
            offices::code.nullable(),
            inst::submitted_at,
            inst::updated_at,
            pr::year.nullable(),
            pr::number.nullable(),
            inst::version,
        ))
        .load(conn)?;
    let more = rows.len() as i64 > limit;
    let mut items = Vec::new();
    let mut next_cursor = None;
    for (id, status, service, office, submitted, updated, year, number, version) in
        rows.into_iter().take(limit as usize)
    {
        // The database allows only the known states (CHECK constraint).
        let status = InstanceStatus::try_from(status)
            .map_err(|e| BackofficeError::Other(anyhow::anyhow!("instance {id}: {e}")))?;
        next_cursor = more.then(|| cursor_of(updated, &id));
        items.push(SystemItem {
            id,
            status,
            service,
            office,
            submitted_at: submitted.map(iso),
            updated_at: iso(updated),
            protocol: match (year, number) {
                (Some(year), Some(n)) => ProtocolNumber::new(n)
                    .ok()
                    .map(|number| SystemProtocol { year, number }),
                _ => None,
            },
            version,
        });
    }
    Ok(SystemPage { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
            .unwrap()
            .and_hms_micro_opt(10, 11, 12, 345_678)
            .unwrap();
        let id = "0b6a3f1e-9a8e-4c1f-8f0e-2d8c2f6b9a11";
        assert_eq!(parse_cursor(&cursor_of(at, id)), Some((at, id.to_owned())));
        for bad in [
            "",
            "abc",
            "12_",
            "12_not-a-uuid",
            "x_0b6a3f1e-9a8e-4c1f-8f0e-2d8c2f6b9a11",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
