//! Office staff's work: the queue of their office (first cut: read). Access is by role:
//! operators of the office, and the ente's administrators; anyone else gets 404, so a queue
//! of another office is not even known to exist.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::db::schema::{
    citizens, instances as inst, offices, protocol_registrations as pr, services,
};
use crate::db::DbConn;
use crate::domain::protocol_number::ProtocolNumber;
use crate::error::ApiError;
use crate::instances::{iso, iso_rome, DRAFT};
use crate::org::{self, Role};

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueFilter {
    pub status: Option<String>,
    pub service: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// The office's id if the staff member may see its queue.
pub fn office_for_staff(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    office_code: &str,
) -> Result<i64, ApiError> {
    let office_id: i64 = offices::table
        .filter(offices::ente_id.eq(ente_id))
        .filter(offices::code.eq(office_code))
        .select(offices::id)
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound)?;
    let grants = org::staff_grants(conn, staff_user_id)?;
    let allowed = grants.iter().any(|g| {
        g.role == Role::Admin
            || (g.role == Role::Operator && g.office.as_deref() == Some(office_code))
    });
    if allowed {
        Ok(office_id)
    } else {
        Err(ApiError::NotFound)
    }
}

type QueueRow = (
    String,
    String,
    Option<NaiveDateTime>,
    Option<NaiveDate>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<i64>,
    Option<NaiveDateTime>,
);

/// Submitted instances routed to the office, oldest first (the order they are worked in).
pub fn queue(conn: &mut DbConn, office_id: i64, f: &QueueFilter) -> Result<Value, ApiError> {
    let page = f.page.unwrap_or(1).max(1);
    let per_page = f.per_page.unwrap_or(25).clamp(1, 100);
    let build = || {
        let mut q = inst::table
            .inner_join(services::table)
            .inner_join(citizens::table)
            .left_join(pr::table)
            .filter(inst::office_id.eq(office_id))
            .filter(inst::status.ne(DRAFT))
            .into_boxed();
        if let Some(s) = &f.status {
            q = q.filter(inst::status.eq(s.clone()));
        }
        if let Some(s) = &f.service {
            q = q.filter(services::slug.eq(s.clone()));
        }
        q
    };
    let total: i64 = build().count().get_result(conn)?;
    let rows: Vec<QueueRow> = build()
        .order((inst::submitted_at.asc(), inst::id.asc()))
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select((
            inst::id,
            inst::status,
            inst::submitted_at,
            inst::due_date,
            services::slug,
            services::title,
            citizens::codice_fiscale,
            citizens::given_name,
            citizens::family_name,
            pr::year.nullable(),
            pr::number.nullable(),
            pr::registered_at.nullable(),
        ))
        .load(conn)?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|(id, status, submitted, due, slug, title, cf, given, family, year, number, reg_at)| {
            json!({
                "id": id,
                "status": status,
                "submitted_at": submitted.map(iso),
                "due_date": due,
                "service": { "slug": slug, "title": title },
                "applicant": { "codice_fiscale": cf, "given_name": given, "family_name": family },
                "protocol": number.and_then(|n| ProtocolNumber::new(n).ok()).map(|n| json!({
                    "number": n, "year": year, "registered_at": reg_at.map(iso_rome),
                })),
            })
        })
        .collect();
    Ok(json!({ "items": items, "page": page, "per_page": per_page, "total": total }))
}
