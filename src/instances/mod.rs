//! Instances (istanze): drafts a citizen fills step by step, their attachments, the
//! submission pipeline, and the citizen's view of them.
//!
//! Everything here is blocking code on a `&mut DbConn`; handlers run it through `Db::run`.

pub mod attachments;
pub mod procedure;
pub mod submit;
pub mod view;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};

pub use view::{Event, Links};
use view::{
    FormView, InstancePage, InstanceSummary, InstanceView, OfficeRef, ProtocolRef, ServiceRef,
    StepView, SubmissionSummary, TimelineEntry,
};

use crate::auth::AuthLevel;
use crate::catalog::forms::{merge_patch, FormCache};
use crate::db::schema::{
    attachments as att, form_definitions as fd, instance_events as ev, instances as inst, offices,
    protocol_registrations as pr, services,
};
use crate::db::{now, write_tx, DbConn, DbError};
use crate::domain::calendar;
use crate::domain::protocol_number::ProtocolNumber;
use crate::domain::FieldError;
use crate::domain::{Actor, Facts, InstanceStatus, Transition};

/// Who is acting on an instance: always a citizen of one ente, with their login level.
#[derive(Debug, Clone, Copy)]
pub struct CitizenCtx {
    pub ente_id: i64,
    pub citizen_id: i64,
    pub level: AuthLevel,
}

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("instance not found")]
    NotFound,
    #[error("service not available online")]
    ServiceUnavailable,
    #[error("the instance was already submitted")]
    NotADraft,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("login level {current} below the {required} the service requires")]
    LevelTooLow { required: i32, current: i32 },
    #[error("attachment too large: {0}")]
    TooLarge(String),
    #[error("attachment type refused: {0}")]
    TypeRefused(String),
    #[error("attachment refused: {0}")]
    AttachmentRefused(String),
    #[error("Idempotency-Key already used for another instance")]
    KeyReused,
    #[error("the draft changed while it was being submitted")]
    Concurrent,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for InstanceError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl From<crate::storage::StorageError> for InstanceError {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Other(e.into())
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = inst)]
pub struct InstanceRow {
    pub id: String,
    pub ente_id: i64,
    pub service_id: i64,
    pub form_id: i64,
    pub citizen_id: i64,
    #[diesel(deserialize_as = String)]
    pub status: InstanceStatus,
    pub data: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub submitted_at: Option<NaiveDateTime>,
    pub office_id: Option<i64>,
    pub document: Option<String>,
    pub document_digest: Option<String>,
    pub registration_id: Option<i64>,
    pub due_date: Option<NaiveDate>,
    pub submit_key: Option<String>,
    /// Bumped by every change after submission: the staff's `ETag`.
    pub version: i64,
    pub assignee_id: Option<i64>,
    pub outcome: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub suspended_days: i32,
    pub integration_expired: bool,
    pub rated: bool,
}

impl InstanceRow {
    pub fn data_value(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|_| json!({}))
    }

    /// Whether the citizen may do `transition` now; [`InstanceError::NotADraft`] if not.
    pub fn check(&self, transition: Transition) -> Result<InstanceStatus, InstanceError> {
        self.status
            .apply(transition, Actor::Citizen, Facts::default())
            .map_err(|_| InstanceError::NotADraft)
    }
}

/// The citizen's own, live instance: another citizen's id, another ente's, or an expired
/// draft are all "not found" (404, never 403: existence is not disclosed).
pub fn load_own(
    conn: &mut DbConn,
    ctx: CitizenCtx,
    id: &str,
) -> Result<InstanceRow, InstanceError> {
    let row: InstanceRow = inst::table
        .find(id)
        .filter(inst::ente_id.eq(ctx.ente_id))
        .filter(inst::citizen_id.eq(ctx.citizen_id))
        .select(InstanceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(InstanceError::NotFound)?;
    if row.status.is_expired(row.expires_at, now()) {
        return Err(InstanceError::NotFound);
    }
    Ok(row)
}

/// Records one entry of an instance's history.
pub fn record_event(
    conn: &mut DbConn,
    instance_id: &str,
    at: NaiveDateTime,
    actor: &str,
    event: &Event,
) -> QueryResult<()> {
    record_events(conn, instance_id, at, &[(actor, event.clone())])
}

/// Records several history entries of one instance in one statement (diesel's batch insert
/// does not exist for the two-backend connection, hence the SQL text).
pub fn record_events(
    conn: &mut DbConn,
    instance_id: &str,
    at: NaiveDateTime,
    events: &[(&str, Event)],
) -> QueryResult<()> {
    use diesel::sql_types::{Text, Timestamp};
    if events.is_empty() {
        return Ok(());
    }
    let mut sql =
        String::from("INSERT INTO instance_events (instance_id, at, kind, actor, details) VALUES ");
    for i in 0..events.len() {
        let b = i * 3;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("($1, $2, ${}, ${}, ${})", b + 3, b + 4, b + 5));
    }
    let mut q = diesel::sql_query(sql)
        .into_boxed::<<DbConn as diesel::Connection>::Backend>()
        .bind::<Text, _>(instance_id.to_owned())
        .bind::<Timestamp, _>(at);
    for (actor, event) in events {
        q = q
            .bind::<Text, _>(event.kind().to_owned())
            .bind::<Text, _>(actor.to_string())
            .bind::<Text, _>(event.details_json());
    }
    q.execute(conn)?;
    // The audit log: one entry for the history entries written together, in the same
    // transaction, by the first entry's actor.
    crate::audit::instance_event(
        conn,
        instance_id,
        events[0].0,
        events.iter().map(|(_, e)| e.kind()).collect(),
    )
}

/// `POST /api/v1/instances`: a new draft of a published service with a form.
pub fn create_draft(
    conn: &mut DbConn,
    ctx: CitizenCtx,
    service_slug: &str,
    ttl_days: u32,
) -> Result<String, InstanceError> {
    write_tx(conn, |conn| {
        let service_id: i64 = services::table
            .filter(services::ente_id.eq(ctx.ente_id))
            .filter(services::slug.eq(service_slug))
            .filter(services::published.eq(true))
            .select(services::id)
            .first(conn)
            .optional()?
            .ok_or(InstanceError::ServiceUnavailable)?;
        let form_id: i64 = fd::table
            .filter(fd::service_id.eq(service_id))
            .order(fd::version.desc())
            .select(fd::id)
            .first(conn)
            .optional()?
            .ok_or(InstanceError::ServiceUnavailable)?;
        let id = uuid::Uuid::new_v4().to_string();
        let ts = now();
        diesel::insert_into(inst::table)
            .values((
                inst::id.eq(&id),
                inst::ente_id.eq(ctx.ente_id),
                inst::service_id.eq(service_id),
                inst::form_id.eq(form_id),
                inst::citizen_id.eq(ctx.citizen_id),
                inst::status.eq(InstanceStatus::Draft.as_str()),
                inst::data.eq("{}"),
                inst::created_at.eq(ts),
                inst::updated_at.eq(ts),
                inst::expires_at.eq(ts + Duration::days(i64::from(ttl_days))),
            ))
            .execute(conn)?;
        record_event(
            conn,
            &id,
            ts,
            "citizen",
            &Event::Created {
                service: service_slug.to_owned(),
            },
        )?;
        tracing::info!(instance = %id, service = service_slug, "draft created");
        Ok(id)
    })
}

/// `PATCH /api/v1/instances/{id}`: merges a JSON Merge Patch into the draft. Values that
/// are present and wrong are refused (422, nothing saved); missing ones are expected in a
/// draft and only reported in the step states.
pub fn patch_draft(
    conn: &mut DbConn,
    forms: &FormCache,
    ctx: CitizenCtx,
    id: &str,
    patch: &Value,
    ttl_days: u32,
    today: NaiveDate,
) -> Result<(), InstanceError> {
    if !patch.is_object() {
        return Err(InstanceError::Validation(vec![FieldError::new(
            "",
            "I dati devono essere un oggetto JSON.",
        )]));
    }
    write_tx(conn, |conn| {
        let row = load_own(conn, ctx, id)?;
        row.check(Transition::Edit)?;
        let mut data = row.data_value();
        merge_patch(&mut data, patch);
        let form = forms.get(conn, row.form_id)?;
        // The procedure's rules run on the steps the patch touches.
        let touched: Vec<String> = form
            .definition
            .steps
            .iter()
            .filter(|s| s.properties.iter().any(|p| patch.get(p.as_str()).is_some()))
            .flat_map(|s| s.properties.iter().cloned())
            .collect();
        let findings = crate::procedures::with_rules(
            conn,
            &row,
            today,
            &data,
            form.findings(&data),
            crate::procedures::Scope::Properties(&touched),
        )?;
        let wrong: Vec<FieldError> = findings
            .into_iter()
            .filter(|f| !f.missing)
            .map(|f| f.error)
            .collect();
        if !wrong.is_empty() {
            return Err(InstanceError::Validation(wrong));
        }
        let ts = now();
        diesel::update(inst::table.find(id))
            .set((
                inst::data.eq(data.to_string()),
                inst::updated_at.eq(ts),
                inst::expires_at.eq(ts + Duration::days(i64::from(ttl_days))),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The full picture of one instance for its citizen: data, step states, attachments,
/// protocol data, office, timeline.
pub fn view(
    conn: &mut DbConn,
    forms: &FormCache,
    links: &dyn Links,
    ctx: CitizenCtx,
    id: &str,
    today: NaiveDate,
) -> Result<InstanceView, InstanceError> {
    let row = load_own(conn, ctx, id)?;
    let form = forms.get(conn, row.form_id)?;
    let data = row.data_value();
    let findings = crate::procedures::with_rules(
        conn,
        &row,
        today,
        &data,
        form.findings(&data),
        crate::procedures::Scope::All,
    )?;
    let states = form.step_states(&findings);
    let (slug, title, level): (String, String, i32) = services::table
        .find(row.service_id)
        .select((services::slug, services::title, services::min_auth_level))
        .first(conn)?;
    let version: i32 = fd::table
        .find(row.form_id)
        .select(fd::version)
        .first(conn)?;
    let steps = form
        .definition
        .steps
        .iter()
        .zip(states)
        .map(|(step, state)| StepView {
            id: step.id.clone(),
            title: step.title.clone(),
            help: step.help.clone(),
            properties: step.properties.clone(),
            status: state.status,
            errors: state.errors,
        })
        .collect();
    let attachments = attachments::list(conn, links, &row.id)?;
    let submitted = !row.status.is_draft();
    Ok(InstanceView {
        id: row.id.clone(),
        status: row.status,
        service: ServiceRef {
            slug,
            title,
            min_auth_level: Some(level),
        },
        form: FormView {
            version,
            title: form.definition.title.clone(),
            schema: form.definition.schema.clone(),
            steps,
        },
        data,
        complete: findings.is_empty(),
        attachments,
        created_at: iso(row.created_at),
        updated_at: iso(row.updated_at),
        expires_at: row.expires_at.map(iso),
        submission: if submitted {
            Some(submission_summary(conn, &row)?)
        } else {
            None
        },
        timeline: if submitted {
            Some(citizen_timeline(timeline(conn, &row.id)?))
        } else {
            None
        },
        receipt_url: submitted.then(|| links.receipt(&row.id)),
        allowed_actions: row
            .status
            .allowed(
                crate::domain::Actor::Citizen,
                crate::domain::Facts::default(),
            )
            .into_iter()
            .filter(|t| {
                !matches!(
                    t,
                    Transition::Edit | Transition::Discard | Transition::Submit
                )
            })
            .collect(),
        messages: if submitted {
            procedure::messages(conn, links, &row.id, true)?
        } else {
            Vec::new()
        },
        integration: procedure::integration(conn, &row.id)?,
        decision: procedure::decision(conn, links, &row)?,
        rated: row.rated,
        procedure: crate::procedures::view(conn, &row, crate::procedures::Reader::Citizen, today)?,
    })
}

/// Protocol, office, digest and due date of a submitted instance.
pub fn submission_summary(
    conn: &mut DbConn,
    row: &InstanceRow,
) -> Result<SubmissionSummary, InstanceError> {
    let protocol = match row.registration_id {
        Some(reg_id) => {
            let (year, number, at): (i32, i64, NaiveDateTime) = pr::table
                .find(reg_id)
                .select((pr::year, pr::number, pr::registered_at))
                .first(conn)?;
            Some(ProtocolRef {
                number: ProtocolNumber::new(number).map_err(anyhow::Error::from)?,
                year,
                registered_at: iso_rome(at),
            })
        }
        None => None,
    };
    let protocol_pending = if protocol.is_none() && !row.status.is_draft() {
        let pending: i64 = crate::db::schema::protocol_requests::table
            .filter(crate::db::schema::protocol_requests::instance_id.eq(&row.id))
            .filter(crate::db::schema::protocol_requests::registration_id.is_null())
            .count()
            .get_result(conn)?;
        (pending > 0).then(|| crate::protocol::external::PENDING_TEXT.to_owned())
    } else {
        None
    };
    let office = match row.office_id {
        Some(office_id) => {
            let (code, name): (String, String) = offices::table
                .find(office_id)
                .select((offices::code, offices::name))
                .first(conn)?;
            Some(OfficeRef { code, name })
        }
        None => None,
    };
    Ok(SubmissionSummary {
        protocol,
        protocol_pending,
        office,
        submitted_at: row.submitted_at.map(iso),
        document_digest: row.document_digest.clone(),
        due_date: row.due_date,
    })
}

/// The history of an instance, oldest first.
pub fn timeline(conn: &mut DbConn, id: &str) -> Result<Vec<TimelineEntry>, InstanceError> {
    let rows: Vec<(i64, NaiveDateTime, String, String, String)> = ev::table
        .filter(ev::instance_id.eq(id))
        .order(ev::id)
        .select((ev::id, ev::at, ev::kind, ev::actor, ev::details))
        .load(conn)?;
    rows.into_iter()
        .map(|(event_id, at, kind, actor, details)| {
            let event = Event::from_stored(&kind, &details).map_err(|e| {
                anyhow::anyhow!("instance event {event_id} ({kind}) is not readable: {e}")
            })?;
            Ok(TimelineEntry {
                at: iso(at),
                actor,
                event,
            })
        })
        .collect()
}

/// The history as the citizen sees it: no internal entries, and the office's staff named as
/// the office.
pub fn citizen_timeline(entries: Vec<TimelineEntry>) -> Vec<TimelineEntry> {
    entries
        .into_iter()
        .filter(|e| !e.event.is_internal())
        .map(|mut e| {
            if e.actor.starts_with("staff:") {
                e.actor = "office".to_owned();
            }
            e
        })
        .collect()
}

/// `GET /api/v1/me/instances`: the citizen's instances, newest first, with paging.
pub fn list_own(
    conn: &mut DbConn,
    ctx: CitizenCtx,
    page: i64,
    per_page: i64,
) -> Result<InstancePage, InstanceError> {
    let live = inst::ente_id
        .eq(ctx.ente_id)
        .and(inst::citizen_id.eq(ctx.citizen_id))
        .and(
            inst::status
                .ne(InstanceStatus::Draft.as_str())
                .or(inst::expires_at.gt(now())),
        );
    let total: i64 = inst::table.filter(live).count().get_result(conn)?;
    let rows: Vec<(InstanceRow, String, String)> = inst::table
        .inner_join(services::table)
        .filter(live)
        .order((inst::created_at.desc(), inst::id.desc()))
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select((InstanceRow::as_select(), services::slug, services::title))
        .load(conn)?;
    let mut items = Vec::with_capacity(rows.len());
    for (row, slug, title) in rows {
        let submission = if row.status.is_draft() {
            None
        } else {
            Some(submission_summary(conn, &row)?)
        };
        items.push(InstanceSummary {
            id: row.id,
            status: row.status,
            service: ServiceRef {
                slug,
                title,
                min_auth_level: None,
            },
            created_at: iso(row.created_at),
            updated_at: iso(row.updated_at),
            submission,
        });
    }
    Ok(InstancePage {
        items,
        page,
        per_page,
        total,
    })
}

/// `DELETE /api/v1/instances/{id}`: the citizen discards a draft with its attachments.
/// Returns the storage keys of the attachments, for the caller to delete the files.
pub fn discard_draft(
    conn: &mut DbConn,
    ctx: CitizenCtx,
    id: &str,
) -> Result<Vec<String>, InstanceError> {
    write_tx(conn, |conn| {
        let row = load_own(conn, ctx, id)?;
        row.check(Transition::Discard)?;
        let keys: Vec<String> = att::table
            .filter(att::instance_id.eq(id))
            .select(att::storage_key)
            .load(conn)?;
        diesel::delete(att::table.filter(att::instance_id.eq(id))).execute(conn)?;
        diesel::delete(ev::table.filter(ev::instance_id.eq(id))).execute(conn)?;
        diesel::delete(inst::table.find(id)).execute(conn)?;
        tracing::info!(instance = id, "draft discarded by the citizen");
        Ok(keys)
    })
}

/// Deletes drafts past their expiry with their attachments' rows; returns the storage keys
/// of the deleted attachments so the caller can remove the files.
pub fn purge_expired_drafts(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    write_tx(conn, |conn| {
        let ts = now();
        let ids: Vec<String> = inst::table
            .filter(inst::status.eq(InstanceStatus::Draft.as_str()))
            .filter(inst::expires_at.le(ts))
            .select(inst::id)
            .load(conn)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = att::table
            .filter(att::instance_id.eq_any(&ids))
            .select(att::storage_key)
            .load(conn)?;
        diesel::delete(att::table.filter(att::instance_id.eq_any(&ids))).execute(conn)?;
        diesel::delete(ev::table.filter(ev::instance_id.eq_any(&ids))).execute(conn)?;
        diesel::delete(inst::table.filter(inst::id.eq_any(&ids))).execute(conn)?;
        tracing::info!(drafts = ids.len(), "expired drafts deleted");
        Ok(keys)
    })
}

/// UTC timestamp as RFC 3339.
pub fn iso(ts: NaiveDateTime) -> String {
    ts.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Italian local time with its offset, as on a receipt (e.g. `2026-11-23T11:30:00+01:00`).
pub fn iso_rome(utc: NaiveDateTime) -> String {
    let offset = calendar::rome_offset_hours(utc);
    format!(
        "{}+{:02}:00",
        calendar::to_rome(utc).format("%Y-%m-%dT%H:%M:%S"),
        offset
    )
}
