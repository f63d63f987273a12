//! Submission: one transaction that turns a draft into an immutable, registered, routed
//! instance with its notifications queued. Either all of it is stored or none of it.
//!
//! 1. validate the whole form (outside the transaction: CPU work, no locks held);
//! 2. claim the draft (`status` draft → submitted, guarded by the `updated_at` read in 1, so
//!    a concurrent edit or a concurrent submission of the same draft cannot slip in);
//! 3. freeze the primary document: RFC 8785 canonical JSON of the data with service, form
//!    version, applicant, timestamp and attachment digests; store it with its SHA-256;
//! 4. route it (first matching rule, else the default office);
//! 5. register it in the routed office's AOO protocol register (gap-free number) — or, when
//!    the AOO's register is an external protocol system, queue the registration request
//!    (`protocol::external`): the number, the receipt and the office notice follow its answer;
//! 6. queue the receipt to the citizen and the notice to the office in the outbox;
//! 7. write the history.
//!
//! Submitting again (double click, a retry with the same `Idempotency-Key`) returns the
//! stored result and registers nothing.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::view::{
    OfficeRef, ProtocolRef, Receipt, ReceiptFile, SubmissionResult, SubmissionSummary,
};
use super::{
    attachments, iso, iso_rome, load_own, record_events, submission_summary, CitizenCtx, Event,
    InstanceError, InstanceRow, Links,
};
use crate::catalog::forms::FormCache;
use crate::catalog::routing::Routing;
use crate::citizens;
use crate::db::schema::{
    aoo, attachments as att, citizens as citizens_t, enti, instances as inst, offices, services,
};
use crate::db::{now, write_tx, DbConn};
use crate::domain::calendar;
use crate::domain::terms::{self, TermRule, TermUnit, WorkCalendar};
use crate::domain::{Actor, Facts, InstanceStatus, Transition};
use crate::notify::{enqueue_emails, EmailPayload};
use crate::protocol::{self, external, NewRegistration};
use crate::text::sha256_hex;

/// The answer to a submission, the same every time it is asked for.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub body: SubmissionResult,
    /// False when this call found the instance already submitted.
    pub created: bool,
}

struct ServiceInfo {
    slug: String,
    title: String,
    office_id: i64,
    legal_term_days: i32,
    legal_term_unit: TermUnit,
    min_auth_level: i32,
    routing: Routing,
}

/// slug, title, office, legal term days and unit, login level, routing.
type ServiceColumns = (String, String, i64, i32, String, i32, String);

/// The citizen's instance with the service it belongs to, in one read (same rules as
/// [`load_own`]: another citizen's, another ente's or an expired draft are not found).
fn load_with_service(
    conn: &mut DbConn,
    ctx: CitizenCtx,
    id: &str,
) -> Result<(InstanceRow, ServiceInfo), InstanceError> {
    let (row, (slug, title, office_id, legal_term_days, unit, min_auth_level, routing)): (
        InstanceRow,
        ServiceColumns,
    ) = inst::table
        .inner_join(services::table)
        .filter(inst::id.eq(id))
        .filter(inst::ente_id.eq(ctx.ente_id))
        .filter(inst::citizen_id.eq(ctx.citizen_id))
        .select((
            InstanceRow::as_select(),
            (
                services::slug,
                services::title,
                services::office_id,
                services::legal_term_days,
                services::legal_term_unit,
                services::min_auth_level,
                services::routing,
            ),
        ))
        .first(conn)
        .optional()?
        .ok_or(InstanceError::NotFound)?;
    if row.status.is_expired(row.expires_at, now()) {
        return Err(InstanceError::NotFound);
    }
    Ok((
        row,
        ServiceInfo {
            slug,
            title,
            office_id,
            legal_term_days,
            // The database allows only the two units (CHECK constraint).
            legal_term_unit: TermUnit::parse(&unit).unwrap_or(TermUnit::CalendarDays),
            min_auth_level,
            routing: serde_json::from_str(&routing).unwrap_or_default(),
        },
    ))
}

fn result_body(
    conn: &mut DbConn,
    links: &dyn Links,
    row: &InstanceRow,
) -> Result<SubmissionResult, InstanceError> {
    Ok(SubmissionResult {
        id: row.id.clone(),
        status: row.status,
        receipt_url: links.receipt(&row.id),
        summary: submission_summary(conn, row)?,
    })
}

/// Submits the citizen's draft. `public_url` is used for links in the e-mails; `today` (the
/// app's clock) is the day the procedure's rules check dates against.
#[expect(
    clippy::too_many_arguments,
    reason = "the draft, who submits it, and the app's parts it needs"
)]
pub fn submit(
    conn: &mut DbConn,
    forms: &FormCache,
    links: &dyn Links,
    ctx: CitizenCtx,
    id: &str,
    idempotency_key: Option<&str>,
    public_url: &str,
    today: NaiveDate,
) -> Result<Submitted, InstanceError> {
    // 1. Read and validate without holding the write lock.
    let (row, service) = load_with_service(conn, ctx, id)?;
    if let Some(key) = idempotency_key {
        let other: Option<String> = inst::table
            .filter(inst::citizen_id.eq(ctx.citizen_id))
            .filter(inst::submit_key.eq(key))
            .filter(inst::id.ne(id))
            .select(inst::id)
            .first(conn)
            .optional()?;
        if other.is_some() {
            return Err(InstanceError::KeyReused);
        }
    }
    if !row
        .status
        .allows(Transition::Submit, Actor::Citizen, Facts::default())
    {
        return Ok(Submitted {
            body: result_body(conn, links, &row)?,
            created: false,
        });
    }
    if ctx.level.get() < service.min_auth_level {
        return Err(InstanceError::LevelTooLow {
            required: service.min_auth_level,
            current: ctx.level.get(),
        });
    }
    let data = row.data_value();
    let form = forms.get(conn, row.form_id)?;
    let errors: Vec<_> = crate::procedures::with_rules(
        conn,
        &row,
        today,
        &data,
        form.findings(&data),
        crate::procedures::Scope::All,
    )?
    .into_iter()
    .map(|f| f.error)
    .collect();
    if !errors.is_empty() {
        return Err(InstanceError::Validation(errors));
    }

    // Everything that needs no lock is read and computed first; the transaction then holds
    // the counter lock only for the registration and the writes that carry its number.
    let ts = now();
    let prepared = prepare(
        conn,
        ctx,
        &row,
        &data,
        &service,
        form.version,
        ts,
        links,
        public_url,
    )?;

    let outcome = write_tx(conn, |conn| {
        // 2. Claim the draft as read (a concurrent edit or submission makes this miss).
        let claimed = diesel::update(
            inst::table
                .find(id)
                .filter(inst::status.eq(InstanceStatus::Draft.as_str()))
                .filter(inst::updated_at.eq(row.updated_at)),
        )
        .set((
            inst::status.eq(row
                .status
                .apply(Transition::Submit, Actor::Citizen, Facts::default())
                .map_err(anyhow::Error::from)?
                .as_str()),
            inst::submitted_at.eq(ts),
            inst::updated_at.eq(ts),
            inst::expires_at.eq(None::<NaiveDateTime>),
            inst::submit_key.eq(idempotency_key),
            // 3–4. Frozen document, routed office, due date.
            inst::document.eq(&prepared.canonical),
            inst::document_digest.eq(&prepared.digest),
            inst::office_id.eq(prepared.decision.office_id),
            inst::due_date.eq(prepared.due),
        ))
        .execute(conn)?;
        if claimed == 0 {
            return Ok(None);
        }
        let office = Some(OfficeRef {
            code: prepared.office_code.clone(),
            name: prepared.office_name.clone(),
        });
        let submitted = (
            "citizen",
            Event::Submitted {
                document_digest: prepared.digest.clone(),
            },
        );
        let routed = (
            "system",
            Event::Routed {
                office: prepared.office_code.clone(),
                rule: prepared.decision.rule,
                reason: prepared.decision.reason.clone(),
            },
        );
        if let Some(adapter) = prepared.external {
            // 5'. An external register: the request for a number is queued with the
            // submission; the receipt waits for the number (protocol::external::record).
            external::enqueue(
                conn,
                adapter,
                &external::RequestPayload {
                    registration: prepared.registration.clone(),
                    notices: Some(prepared.notices.clone()),
                    follow_up: None,
                },
                ts,
            )?;
            record_events(
                conn,
                &row.id,
                ts,
                &[
                    submitted,
                    (
                        "system",
                        Event::RegistrationRequested {
                            system: adapter.as_str().to_owned(),
                            message: None,
                            act: None,
                        },
                    ),
                    routed,
                ],
            )?;
            return Ok(Some(SubmissionResult {
                id: row.id.clone(),
                status: InstanceStatus::Submitted,
                receipt_url: links.receipt(&row.id),
                summary: SubmissionSummary {
                    protocol: None,
                    protocol_pending: Some(external::PENDING_TEXT.to_owned()),
                    office,
                    submitted_at: Some(iso(ts)),
                    document_digest: Some(prepared.digest.clone()),
                    due_date: Some(prepared.due),
                },
            }));
        }
        // 5. Registration (takes the counter lock) …
        let registration = protocol::register(conn, &prepared.registration)?;
        // 6–7. … then only what carries its number, and commit.
        let number = registration.number.to_string();
        let emails = prepared
            .notices
            .emails(&number, protocol::local_time(&registration));
        enqueue_emails(conn, ctx.ente_id, &emails)?;
        record_events(
            conn,
            &row.id,
            ts,
            &[
                submitted,
                (
                    "system",
                    Event::Registered {
                        protocol_number: number,
                        year: registration.year,
                        registered_at: iso_rome(ts),
                    },
                ),
                routed,
                ("system", Notices::queued_event(&emails)),
            ],
        )?;
        Ok::<_, InstanceError>(Some(SubmissionResult {
            id: row.id.clone(),
            status: InstanceStatus::Submitted,
            receipt_url: links.receipt(&row.id),
            summary: SubmissionSummary {
                protocol: Some(ProtocolRef {
                    number: registration.number,
                    year: registration.year,
                    registered_at: iso_rome(ts),
                }),
                protocol_pending: None,
                office,
                submitted_at: Some(iso(ts)),
                document_digest: Some(prepared.digest.clone()),
                due_date: Some(prepared.due),
            },
        }))
    })?;
    match outcome {
        Some(body) => {
            let protocol = body.summary.protocol.as_ref().map(|p| p.number.to_string());
            tracing::info!(instance = %id, protocol = protocol.as_deref().unwrap_or_default(), office = %prepared.office_code, "instance submitted");
            Ok(Submitted {
                body,
                created: true,
            })
        }
        None => {
            // Someone else got there first: either the same submission (answer with its
            // result) or an edit (ask to retry).
            let again = load_own(conn, ctx, id)?;
            if again.status.is_draft() {
                return Err(InstanceError::Concurrent);
            }
            Ok(Submitted {
                body: result_body(conn, links, &again)?,
                created: false,
            })
        }
    }
}

/// What a submission writes, computed before its transaction.
struct Prepared {
    canonical: String,
    digest: String,
    decision: crate::catalog::routing::RouteDecision,
    office_code: String,
    office_name: String,
    due: chrono::NaiveDate,
    registration: NewRegistration,
    notices: Notices,
    /// The AOO's register is an external system reached through this adapter.
    external: Option<external::Adapter>,
}

/// What the receipt to the citizen and the notice to the office say besides the number: kept
/// with an external registration request until the number comes back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notices {
    pub citizen_email: Option<String>,
    pub office_email: Option<String>,
    pub applicant: String,
    /// As in the register: name and codice fiscale.
    pub sender: String,
    pub service_title: String,
    pub ente_name: String,
    pub office_name: String,
    pub due: chrono::NaiveDate,
    pub digest: String,
    pub attachments: usize,
    pub instance_id: String,
    pub link: String,
}

impl Notices {
    /// The receipt to the citizen and the notice to the office, now that the number is known
    /// (`local`: the Italian date-time of the registration).
    pub fn emails(&self, number: &str, local: NaiveDateTime) -> Vec<(String, EmailPayload)> {
        let registered_at = local.format("%d/%m/%Y %H:%M");
        let due = self.due.format("%d/%m/%Y");
        let mut out = Vec::new();
        if let Some(to) = &self.citizen_email {
            out.push((
                format!("receipt:{}", self.instance_id),
                EmailPayload {
                    to: to.clone(),
                    subject: format!(
                        "Ricevuta di presentazione – {} – Prot. n. {number} del {}",
                        self.service_title,
                        local.format("%d/%m/%Y")
                    ),
                    body: format!(
                        "Gentile {who},\n\n\
                         la sua istanza «{title}» è stata ricevuta e registrata al protocollo.\n\n\
                         Ricevuta di presentazione\n\
                         - Ente: {ente}\n\
                         - Servizio: {title}\n\
                         - Protocollo n. {number} del {registered_at}\n\
                         - Ufficio competente: {office}\n\
                         - Termine per la conclusione: {due}\n\
                         - Impronta SHA-256 del documento: {digest}\n\
                         - Allegati: {n}\n\n\
                         Può seguire la pratica nella sua area personale: {link}\n\n\
                         Questo messaggio è generato automaticamente: non rispondere.\n",
                        who = self.applicant,
                        title = self.service_title,
                        ente = self.ente_name,
                        office = self.office_name,
                        digest = self.digest,
                        n = self.attachments,
                        link = self.link,
                    ),
                    attachments: Vec::new(),
                },
            ));
        }
        if let Some(to) = &self.office_email {
            out.push((
                format!("office-notice:{}", self.instance_id),
                EmailPayload {
                    to: to.clone(),
                    subject: format!("Nuova istanza – {} – Prot. n. {number}", self.service_title),
                    body: format!(
                        "È stata presentata online una nuova istanza assegnata a {office}.\n\n\
                         - Servizio: {title}\n\
                         - Richiedente: {applicant}\n\
                         - Protocollo n. {number} del {registered_at}\n\
                         - Da concludere entro: {due}\n\
                         - Identificativo pratica: {id}\n",
                        office = self.office_name,
                        title = self.service_title,
                        applicant = self.sender,
                        id = self.instance_id,
                    ),
                    attachments: Vec::new(),
                },
            ));
        }
        out
    }

    /// The history entry for the queued messages.
    pub fn queued_event(emails: &[(String, EmailPayload)]) -> Event {
        Event::NotificationsQueued {
            messages: emails
                .iter()
                .map(|(k, _)| {
                    if k.starts_with("receipt:") {
                        "receipt"
                    } else {
                        "office_notice"
                    }
                    .to_owned()
                })
                .collect(),
        }
    }
}

/// Reads and computes everything a submission writes: the frozen document (RFC 8785) and its
/// digest, the route, the registration's content, the recipients.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is one already-loaded piece of the submission"
)]
fn prepare(
    conn: &mut DbConn,
    ctx: CitizenCtx,
    row: &InstanceRow,
    data: &Value,
    service: &ServiceInfo,
    version: i32,
    ts: NaiveDateTime,
    links: &dyn Links,
    public_url: &str,
) -> Result<Prepared, InstanceError> {
    let (citizen, (ente_code, ente_name, patron_day)): (
        citizens::Citizen,
        (String, String, Option<String>),
    ) = citizens_t::table
        .inner_join(enti::table)
        .filter(citizens_t::id.eq(ctx.citizen_id))
        .filter(citizens_t::ente_id.eq(ctx.ente_id))
        .select((
            citizens::Citizen::as_select(),
            (enti::code, enti::name, enti::patron_day),
        ))
        .first(conn)
        .optional()?
        .ok_or(InstanceError::NotFound)?;
    let files = attachments::list(conn, links, &row.id)?;
    let full_name = match (&citizen.given_name, &citizen.family_name) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        _ => None,
    };
    let document = json!({
        "type": "istanza",
        "id": row.id,
        "ente": { "code": ente_code, "name": ente_name },
        "service": { "slug": service.slug, "title": service.title },
        "form_version": version,
        "applicant": {
            "codice_fiscale": citizen.codice_fiscale,
            "given_name": citizen.given_name,
            "family_name": citizen.family_name,
        },
        "submitted_at": ts.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": data,
        "attachments": files.iter().map(|a| json!({
            "filename": a.filename, "description": a.description, "mime": a.mime,
            "size_bytes": a.size_bytes, "sha256": a.sha256,
        })).collect::<Vec<_>>(),
    });
    let canonical = serde_json_canonicalizer::to_string(&document).map_err(anyhow::Error::from)?;
    let digest = sha256_hex(canonical.as_bytes());
    let decision = service.routing.route(data, service.office_id);
    let (office_code, office_name, office_email, aoo_id, register, external_config): (
        String,
        String,
        Option<String>,
        i64,
        String,
        Option<String>,
    ) = offices::table
        .inner_join(aoo::table)
        .filter(offices::id.eq(decision.office_id))
        .select((
            offices::code,
            offices::name,
            offices::email,
            offices::aoo_id,
            aoo::register,
            aoo::external,
        ))
        .first(conn)?;
    let external = external::adapter_of(&register, external_config.as_deref())?;
    let sender = match &full_name {
        Some(n) => format!("{n} ({})", citizen.codice_fiscale),
        None => citizen.codice_fiscale.clone(),
    };
    // No suspension yet: the date is always known.
    let due = terms::due_date(
        calendar::rome_date(ts),
        TermRule {
            days: service.legal_term_days,
            unit: service.legal_term_unit,
        },
        &[],
        &WorkCalendar::for_ente(patron_day.as_deref()),
    )
    .ok_or_else(|| anyhow::anyhow!("no due date for a term without suspensions"))?;
    Ok(Prepared {
        registration: NewRegistration {
            ente_id: ctx.ente_id,
            aoo_id,
            at: ts,
            direction: protocol::Direction::In,
            sender: sender.clone(),
            recipient: None,
            subject: format!("{} – istanza presentata online", service.title),
            document_digest: digest.clone(),
            attachments: files
                .iter()
                .map(|a| (a.filename.clone(), a.description.clone()))
                .collect(),
            instance_id: Some(row.id.clone()),
            primary: true,
        },
        canonical,
        digest: digest.clone(),
        decision,
        external,
        notices: Notices {
            citizen_email: data
                .pointer("/contatti/email")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or(citizen.email.clone()),
            office_email,
            applicant: full_name.unwrap_or_else(|| citizen.codice_fiscale.clone()),
            sender,
            service_title: service.title.clone(),
            ente_name,
            office_name: office_name.clone(),
            due,
            digest,
            attachments: files.len(),
            instance_id: row.id.clone(),
            link: format!(
                "{}{}",
                public_url.trim_end_matches('/'),
                links.instance(&row.id)
            ),
        },
        office_code,
        office_name,
        due,
    })
}

/// The receipt of a submitted instance: what the e-mail says, plus the document itself so
/// anyone can recompute the digest.
pub fn receipt(
    conn: &mut DbConn,
    links: &dyn Links,
    ctx: CitizenCtx,
    id: &str,
) -> Result<Receipt, InstanceError> {
    let row = load_own(conn, ctx, id)?;
    if row.status.is_draft() {
        return Err(InstanceError::NotFound);
    }
    let result = result_body(conn, links, &row)?;
    let (title,): (String,) = services::table
        .find(row.service_id)
        .select((services::title,))
        .first(conn)?;
    let files: Vec<(String, String)> = att::table
        .filter(att::instance_id.eq(&row.id))
        .select((att::filename, att::sha256))
        .load(conn)?;
    Ok(Receipt {
        result,
        title: "Ricevuta di presentazione".to_owned(),
        service: title,
        attachments: files
            .into_iter()
            .map(|(filename, sha256)| ReceiptFile { filename, sha256 })
            .collect(),
        document: row.document,
    })
}
