//! What an instance has become after its submission, as read by both sides: the messages
//! between office and citizen, the request for integration and its answer, the decision, the
//! documents outside the submission, the protocol registrations, and the terms.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{iso, iso_rome, InstanceRow, Links};
use crate::db::schema::{
    instance_documents as docs, instance_messages as msg, integration_requests as ir,
    protocol_registrations as pr, staff_users,
};
use crate::db::DbConn;
use crate::domain::calendar;
use crate::domain::protocol_number::ProtocolNumber;
use crate::domain::Outcome;
use crate::protocol::Direction;

/// A protocol registration of the instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistrationView {
    #[schema(value_type = String, example = "0000042")]
    pub number: ProtocolNumber,
    pub year: i32,
    #[schema(format = DateTime)]
    pub registered_at: String,
    pub direction: Direction,
    pub subject: String,
    /// The sender of an incoming entry.
    pub sender: String,
    /// The recipient of an outgoing entry.
    pub recipient: Option<String>,
    pub document_digest: String,
    pub annulled: bool,
}

/// A document of the instance outside its submission.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentInfo {
    pub id: String,
    pub filename: String,
    pub mime: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// `office` or `citizen`.
    pub uploaded_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Sent with a message (else uploaded and waiting to be sent).
    pub sent: bool,
    pub download_url: String,
}

/// A message between the office and the citizen.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// `office` or `citizen`.
    pub sender: String,
    /// The staff member who wrote it (office view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `message`, `integration_request`, `integration_answer`, `decision`, `withdrawal`.
    pub kind: String,
    pub text: String,
    /// Data of an integration answer, or the request's details.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub protocol: Option<RegistrationRef>,
    /// True while the AOO's external protocol system has not numbered this message's act
    /// ("in attesa di protocollazione"); `protocol` is set when it has.
    pub registration_pending: bool,
    pub documents: Vec<DocumentInfo>,
}

/// Number and year of a registration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistrationRef {
    #[schema(value_type = String, example = "0000042")]
    pub number: ProtocolNumber,
    pub year: i32,
}

/// The request for integration and its answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationView {
    #[schema(format = DateTime)]
    pub requested_at: String,
    pub days: i32,
    /// The term is suspended from this day.
    pub suspended_from: NaiveDate,
    /// The last day to answer.
    pub answer_by: NaiveDate,
    pub text: String,
    /// The data asked for.
    pub fields: Vec<String>,
    #[schema(format = DateTime)]
    pub answered_at: Option<String>,
    /// SHA-256 of the frozen answer.
    pub answer_digest: Option<String>,
    /// No answer came in time.
    pub expired: bool,
}

/// The decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecisionView {
    pub outcome: Outcome,
    #[schema(format = DateTime)]
    pub decided_at: String,
    pub motivation: String,
    pub protocol: Option<RegistrationRef>,
    /// The reply document, if the office attached one.
    pub reply: Option<DocumentInfo>,
}

/// The legal term of the procedure, as it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TermsView {
    pub legal_term_days: i32,
    /// The last day (none while the term is suspended and before a resumption).
    pub due_date: Option<NaiveDate>,
    pub days_suspended: i32,
    /// Calendar days from today to the due date (negative when overdue); only while the term
    /// runs.
    pub days_left: Option<i64>,
    pub suspended: bool,
    /// Due within 3 days.
    pub due_soon: bool,
    pub overdue: bool,
}

fn reg_ref(conn: &mut DbConn, id: Option<i64>) -> QueryResult<Option<RegistrationRef>> {
    let Some(id) = id else { return Ok(None) };
    let r: Option<(i32, i64)> = pr::table
        .find(id)
        .select((pr::year, pr::number))
        .first(conn)
        .optional()?;
    Ok(r.and_then(|(year, n)| {
        ProtocolNumber::new(n)
            .ok()
            .map(|number| RegistrationRef { number, year })
    }))
}

type DocRow = (
    String,
    String,
    String,
    i64,
    String,
    String,
    NaiveDateTime,
    Option<i64>,
);

fn doc_info(links: &dyn Links, instance_id: &str, r: DocRow) -> DocumentInfo {
    let (id, filename, mime, size_bytes, sha256, uploaded_by, created_at, message_id) = r;
    DocumentInfo {
        download_url: links.document(instance_id, &id),
        id,
        filename,
        mime,
        size_bytes,
        sha256,
        uploaded_by,
        created_at: iso(created_at),
        sent: message_id.is_some(),
    }
}

fn documents_rows(
    conn: &mut DbConn,
    instance_id: &str,
    for_citizen: bool,
) -> QueryResult<Vec<DocRow>> {
    let mut q = docs::table
        .filter(docs::instance_id.eq(instance_id))
        .into_boxed();
    if for_citizen {
        q = q.filter(
            docs::message_id
                .is_not_null()
                .or(docs::uploaded_by.eq("citizen")),
        );
    }
    q.order((docs::created_at, docs::id))
        .select((
            docs::id,
            docs::filename,
            docs::mime,
            docs::size_bytes,
            docs::sha256,
            docs::uploaded_by,
            docs::created_at,
            docs::message_id,
        ))
        .load::<DocRow>(conn)
}

/// Documents of the instance; for the citizen, those sent plus their own uploads.
pub fn documents(
    conn: &mut DbConn,
    links: &dyn Links,
    instance_id: &str,
    for_citizen: bool,
) -> QueryResult<Vec<DocumentInfo>> {
    Ok(documents_rows(conn, instance_id, for_citizen)?
        .into_iter()
        .map(|r| doc_info(links, instance_id, r))
        .collect())
}

/// The messages of the instance, oldest first (authors shown to the office only).
pub fn messages(
    conn: &mut DbConn,
    links: &dyn Links,
    instance_id: &str,
    for_citizen: bool,
) -> QueryResult<Vec<MessageView>> {
    type Row = (
        i64,
        NaiveDateTime,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = msg::table
        .left_join(staff_users::table.on(msg::staff_user_id.eq(staff_users::id.nullable())))
        .filter(msg::instance_id.eq(instance_id))
        .order(msg::id)
        .select((
            msg::id,
            msg::at,
            msg::sender,
            staff_users::full_name.nullable(),
            msg::kind,
            msg::body,
            msg::data,
            msg::registration_id,
        ))
        .load(conn)?;
    // Each message's documents: one read of the instance's documents, grouped by message.
    let mut by_message: Vec<(i64, DocumentInfo)> = documents_rows(conn, instance_id, for_citizen)?
        .into_iter()
        .filter_map(|r| r.7.map(|m| (m, doc_info(links, instance_id, r))))
        .collect();
    // The acts an external register has not numbered yet (their requests' keys name them).
    let prefix = format!("{instance_id}:message:");
    let pending: Vec<i64> = crate::db::schema::protocol_requests::table
        .filter(crate::db::schema::protocol_requests::instance_id.eq(instance_id))
        .filter(crate::db::schema::protocol_requests::registration_id.is_null())
        .select(crate::db::schema::protocol_requests::idempotency_key)
        .load::<String>(conn)?
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix)?.parse().ok())
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for (id, at, sender, author, kind, body, data, reg) in rows {
        let (mine, rest): (Vec<_>, Vec<_>) = by_message.into_iter().partition(|(m, _)| *m == id);
        by_message = rest;
        let documents = mine.into_iter().map(|(_, d)| d).collect();
        out.push(MessageView {
            id,
            at: iso(at),
            sender,
            author: if for_citizen { None } else { author },
            kind,
            text: body,
            data: data.and_then(|d| serde_json::from_str(&d).ok()),
            protocol: reg_ref(conn, reg)?,
            registration_pending: reg.is_none() && pending.contains(&id),
            documents,
        });
    }
    Ok(out)
}

/// The request for integration of the instance, if any.
pub fn integration(conn: &mut DbConn, instance_id: &str) -> QueryResult<Option<IntegrationView>> {
    type Row = (
        NaiveDateTime,
        i32,
        NaiveDate,
        NaiveDate,
        i64,
        Option<NaiveDateTime>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let row: Option<Row> = ir::table
        .find(instance_id)
        .select((
            ir::requested_at,
            ir::days,
            ir::suspended_from,
            ir::answer_by,
            ir::message_id,
            ir::answered_at,
            ir::answer_digest,
            ir::expired_at,
        ))
        .first(conn)
        .optional()?;
    let Some((requested_at, days, suspended_from, answer_by, message, answered, digest, expired)) =
        row
    else {
        return Ok(None);
    };
    let (text, data): (String, Option<String>) = msg::table
        .find(message)
        .select((msg::body, msg::data))
        .first(conn)?;
    let fields = data
        .and_then(|d| serde_json::from_str::<Value>(&d).ok())
        .and_then(|v| v.get("fields").cloned())
        .and_then(|f| serde_json::from_value(f).ok())
        .unwrap_or_default();
    Ok(Some(IntegrationView {
        requested_at: iso(requested_at),
        days,
        suspended_from,
        answer_by,
        text,
        fields,
        answered_at: answered.map(iso),
        answer_digest: digest,
        expired: expired.is_some(),
    }))
}

/// The decision of the instance, if decided.
pub fn decision(
    conn: &mut DbConn,
    links: &dyn Links,
    row: &InstanceRow,
) -> QueryResult<Option<DecisionView>> {
    let (Some(outcome), Some(decided_at)) = (
        row.outcome.as_deref().and_then(Outcome::parse),
        row.decided_at,
    ) else {
        return Ok(None);
    };
    let m: Option<(i64, String, Option<i64>)> = msg::table
        .filter(msg::instance_id.eq(&row.id))
        .filter(msg::kind.eq("decision"))
        .order(msg::id.desc())
        .select((msg::id, msg::body, msg::registration_id))
        .first(conn)
        .optional()?;
    let (motivation, protocol, reply) = match m {
        Some((mid, body, reg)) => {
            let reply: Option<DocRow> = docs::table
                .filter(docs::message_id.eq(mid))
                .select((
                    docs::id,
                    docs::filename,
                    docs::mime,
                    docs::size_bytes,
                    docs::sha256,
                    docs::uploaded_by,
                    docs::created_at,
                    docs::message_id,
                ))
                .first(conn)
                .optional()?;
            (
                body,
                reg_ref(conn, reg)?,
                reply.map(|r| doc_info(links, &row.id, r)),
            )
        }
        None => (String::new(), None, None),
    };
    Ok(Some(DecisionView {
        outcome,
        decided_at: iso(decided_at),
        motivation,
        protocol,
        reply,
    }))
}

/// Every registration naming the instance, in register order.
pub fn registrations(conn: &mut DbConn, instance_id: &str) -> QueryResult<Vec<RegistrationView>> {
    type Row = (
        i32,
        i64,
        NaiveDateTime,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = pr::table
        .filter(pr::instance_id.eq(instance_id))
        .order(pr::id)
        .select((
            pr::year,
            pr::number,
            pr::registered_at,
            pr::direction,
            pr::subject,
            pr::sender,
            pr::recipient,
            pr::document_digest,
            pr::annulled_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(year, n, at, dir, subject, sender, recipient, digest, annulled)| {
                Some(RegistrationView {
                    number: ProtocolNumber::new(n).ok()?,
                    year,
                    registered_at: iso_rome(at),
                    direction: Direction::parse(&dir)?,
                    subject,
                    sender,
                    recipient,
                    document_digest: digest,
                    annulled: annulled.is_some(),
                })
            },
        )
        .collect())
}

/// The terms of an instance today.
pub fn terms(row: &InstanceRow, legal_term_days: i32, today: NaiveDate) -> TermsView {
    let suspended = row.status.term_suspended();
    let running = row.status.term_runs();
    let days_left = row
        .due_date
        .filter(|_| running)
        .map(|d| (d - today).num_days());
    TermsView {
        legal_term_days,
        due_date: row.due_date,
        days_suspended: row.suspended_days,
        days_left,
        suspended,
        due_soon: days_left.is_some_and(|d| (0..=3).contains(&d)),
        overdue: days_left.is_some_and(|d| d < 0),
    }
}

/// Today in Italy.
pub fn today(now: NaiveDateTime) -> NaiveDate {
    calendar::rome_date(now)
}
