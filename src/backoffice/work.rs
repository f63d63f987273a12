//! The office's work on an instance, as L. 241/1990 frames it: take, assign, hand over,
//! notes, messages, the request for integration, the decision, the closure — and the
//! citizen's side of it: the answer to the integration and the withdrawal.
//!
//! Every action is one write transaction that (1) checks who acts and on what (another
//! office's or ente's instance is not found), (2) compares the version the caller saw (the
//! `ETag` it sends back as `If-Match`) and claims the next one with a compare-and-set, so two
//! operators acting at once never both succeed on stale data, (3) asks the state machine
//! ([`crate::domain::instance_status`]) whether the transition is allowed, (4) writes the
//! change, its protocol registration when it is a formal act, its e-mails (outbox) and its
//! history entry — all or nothing.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};

use super::BackofficeError;
use crate::db::schema::{
    citizens, enti, instance_documents as docs, instance_messages as msg, instance_notes as notes,
    instances as inst, integration_requests as ir, offices, services, staff_roles, staff_users,
};
use crate::db::{write_tx, DbConn};
use crate::domain::instance_status::{Actor, Facts, NotAllowed};
use crate::domain::terms::{self, Suspension, TermRule, TermUnit, WorkCalendar};
use crate::domain::{calendar, FieldError, InstanceStatus, Outcome, Transition};
use crate::instances::{iso_rome, record_event, Event, InstanceRow};
use crate::notify::{enqueue_emails, EmailPayload};
use crate::protocol::{self, external, Direction, NewRegistration, Registration};
use crate::text::sha256_hex;

/// A staff member as the back office needs them: who, and which offices they work in.
#[derive(Debug, Clone)]
pub struct StaffCtx {
    pub ente_id: i64,
    pub staff_user_id: i64,
    pub username: String,
    /// Administrators act as operators of every office of their ente.
    pub admin: bool,
    /// The offices they are an operator of.
    pub office_ids: Vec<i64>,
}

impl StaffCtx {
    /// The history's actor for this staff member.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.username)
    }

    pub fn works_in(&self, office_id: Option<i64>) -> bool {
        self.admin || office_id.is_some_and(|o| self.office_ids.contains(&o))
    }
}

/// Loads the staff member's roles (an inactive or unknown one is not found).
pub fn staff_ctx(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
) -> Result<StaffCtx, BackofficeError> {
    let username: String = staff_users::table
        .find(staff_user_id)
        .filter(staff_users::ente_id.eq(ente_id))
        .filter(staff_users::active.eq(true))
        .select(staff_users::username)
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    let roles: Vec<(String, Option<i64>)> = staff_roles::table
        .filter(staff_roles::staff_user_id.eq(staff_user_id))
        .select((staff_roles::role, staff_roles::office_id))
        .load(conn)?;
    Ok(StaffCtx {
        ente_id,
        staff_user_id,
        username,
        admin: roles.iter().any(|(r, _)| r == "admin"),
        office_ids: roles
            .iter()
            .filter(|(r, _)| r == "operator")
            .filter_map(|(_, o)| *o)
            .collect(),
    })
}

/// The version a caller says it saw (`If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected(pub i64);

/// A submitted instance the staff member may work on; anything else is not found.
pub fn load_for_staff(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
) -> Result<InstanceRow, BackofficeError> {
    let row: InstanceRow = inst::table
        .find(id)
        .filter(inst::ente_id.eq(ctx.ente_id))
        .select(InstanceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    if row.status.is_draft() || !ctx.works_in(row.office_id) {
        return Err(BackofficeError::NotFound);
    }
    Ok(row)
}

/// What the state machine needs to know besides the state.
pub fn facts(conn: &mut DbConn, instance_id: &str) -> QueryResult<Facts> {
    let requested: i64 = ir::table
        .filter(ir::instance_id.eq(instance_id))
        .count()
        .get_result(conn)?;
    let (foia, counterparties_notified) = super::foia::procedure_facts(conn, instance_id)?;
    Ok(Facts {
        integration_requested: requested > 0,
        foia,
        counterparties_notified,
    })
}

/// Claims the next version of the instance if it still is the one read (`from`): the
/// compare-and-set that makes concurrent actions on stale data fail.
fn claim(
    conn: &mut DbConn,
    row: &InstanceRow,
    to: InstanceStatus,
    now: NaiveDateTime,
) -> Result<i64, BackofficeError> {
    let n = diesel::update(
        inst::table
            .find(&row.id)
            .filter(inst::version.eq(row.version)),
    )
    .set((
        inst::version.eq(row.version + 1),
        inst::status.eq(to.as_str()),
        inst::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        let current: i64 = inst::table
            .find(&row.id)
            .select(inst::version)
            .first(conn)?;
        return Err(BackofficeError::Stale { current });
    }
    Ok(row.version + 1)
}

fn check(
    row: &InstanceRow,
    transition: Transition,
    actor: Actor,
    facts: Facts,
) -> Result<InstanceStatus, BackofficeError> {
    row.status
        .apply(transition, actor, facts)
        .map_err(|e| BackofficeError::NotAllowed(Box::new(e)))
}

/// The common frame of a staff action: access, `If-Match`, state machine, claim; then
/// `body` writes what the action writes, in the same transaction.
pub(crate) fn staff_act<T>(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    transition: Transition,
    now: NaiveDateTime,
    body: impl FnOnce(&mut DbConn, &InstanceRow, InstanceStatus) -> Result<T, BackofficeError>,
) -> Result<T, BackofficeError> {
    write_tx(conn, |conn| {
        let row = load_for_staff(conn, ctx, id)?;
        if row.version != expected.0 {
            return Err(BackofficeError::Stale {
                current: row.version,
            });
        }
        let f = facts(conn, id)?;
        let to = check(&row, transition, Actor::Operator, f)?;
        claim(conn, &row, to, now)?;
        let out = body(conn, &row, to)?;
        tracing::info!(instance = id, action = transition.as_str(), from = %row.status, to = %to, staff = %ctx.username, "back-office action");
        Ok(out)
    })
}

fn invalid(pointer: &str, message: &str) -> BackofficeError {
    BackofficeError::Invalid(vec![FieldError::new(pointer, message)])
}

pub(crate) fn required_text(
    pointer: &str,
    text: &str,
    max: usize,
) -> Result<String, BackofficeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid(pointer, "Il testo è obbligatorio."));
    }
    if t.chars().count() > max {
        return Err(invalid(
            pointer,
            &format!("Il testo supera i {max} caratteri ammessi."),
        ));
    }
    Ok(t.to_owned())
}

/// Who the applicant is, for the register and the e-mails.
pub(crate) struct Applicant {
    /// "Nome Cognome (CF)" or the codice fiscale.
    pub(crate) register_name: String,
    /// "Nome Cognome" or the codice fiscale.
    pub(crate) display: String,
    pub(crate) email: Option<String>,
}

fn applicant(conn: &mut DbConn, row: &InstanceRow) -> QueryResult<Applicant> {
    let (cf, given, family, email): (String, Option<String>, Option<String>, Option<String>) =
        citizens::table
            .find(row.citizen_id)
            .select((
                citizens::codice_fiscale,
                citizens::given_name,
                citizens::family_name,
                citizens::email,
            ))
            .first(conn)?;
    let name = match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        _ => None,
    };
    let data = row.data_value();
    Ok(Applicant {
        register_name: match &name {
            Some(n) => format!("{n} ({cf})"),
            None => cf.clone(),
        },
        display: name.unwrap_or(cf),
        email: data
            .pointer("/contatti/email")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(email),
    })
}

pub(crate) struct OfficeInfo {
    pub(crate) code: String,
    pub(crate) name: String,
    pub(crate) aoo_id: i64,
    pub(crate) email: Option<String>,
}

fn office(conn: &mut DbConn, office_id: Option<i64>) -> Result<OfficeInfo, BackofficeError> {
    let office_id = office_id.ok_or_else(|| {
        BackofficeError::Other(anyhow::anyhow!("a submitted instance without an office"))
    })?;
    let (code, name, aoo_id, email) = offices::table
        .find(office_id)
        .select((
            offices::code,
            offices::name,
            offices::aoo_id,
            offices::email,
        ))
        .first(conn)?;
    Ok(OfficeInfo {
        code,
        name,
        aoo_id,
        email,
    })
}

fn service_title(conn: &mut DbConn, row: &InstanceRow) -> QueryResult<String> {
    services::table
        .find(row.service_id)
        .select(services::title)
        .first(conn)
}

/// Who an instance's formal acts name: the applicant, the office (and its AOO), the service.
pub(crate) struct Parties {
    pub(crate) who: Applicant,
    pub(crate) off: OfficeInfo,
    pub(crate) title: String,
}

pub(crate) fn parties(conn: &mut DbConn, row: &InstanceRow) -> Result<Parties, BackofficeError> {
    Ok(Parties {
        who: applicant(conn, row)?,
        off: office(conn, row.office_id)?,
        title: service_title(conn, row)?,
    })
}

pub(crate) fn canonical(doc: &Value) -> Result<(String, String), BackofficeError> {
    let text = serde_json_canonicalizer::to_string(doc).map_err(anyhow::Error::from)?;
    let digest = sha256_hex(text.as_bytes());
    Ok((text, digest))
}

/// The register entry of a later act of the instance (a request for integration, its
/// answer, the decision, a withdrawal): the message that carries it and what is registered.
pub(crate) struct Act<'a> {
    pub(crate) of: ActRef,
    pub(crate) direction: Direction,
    pub(crate) sender: String,
    pub(crate) recipient: Option<String>,
    pub(crate) subject: String,
    /// SHA-256 of the primary document.
    pub(crate) digest: &'a str,
    /// File name and SHA-256 of each document bound to the message.
    pub(crate) files: &'a [(String, String)],
    /// The act's frozen JSON text when it is the primary document.
    pub(crate) document: Option<String>,
    /// The uploaded document that is the primary one instead (the decision's reply PDF).
    pub(crate) primary_document: Option<String>,
}

/// What a registered act is, and where its entry's id goes.
#[derive(Debug, Clone)]
pub(crate) enum ActRef {
    /// An `instance_messages` row (the message names its entry).
    Message(i64),
    /// Another act (a FOIA act): its name in the idempotency key (`<instance>:<name>`) and
    /// in the history, and the row that names its entry.
    Named { name: String, link: external::Link },
}

/// How an act was registered.
pub(crate) enum Numbered {
    /// By the built-in register, in this transaction.
    Now(Registration),
    /// Requested from the AOO's external register (`protocol::external`): the number comes
    /// when the system answers, and the e-mails quoting it wait until then.
    Pending {
        request_id: i64,
        system: &'static str,
        placeholders: external::Placeholders,
    },
}

impl Numbered {
    pub(crate) fn number(&self) -> Option<String> {
        match self {
            Self::Now(r) => Some(r.number.to_string()),
            Self::Pending { .. } => None,
        }
    }

    pub(crate) fn year(&self) -> Option<i32> {
        match self {
            Self::Now(r) => Some(r.year),
            Self::Pending { .. } => None,
        }
    }

    /// The number as an e-mail quotes it (a placeholder filled in when it is known).
    pub(crate) fn number_text(&self) -> String {
        match self {
            Self::Now(r) => r.number.to_string(),
            Self::Pending { placeholders, .. } => placeholders.number.clone(),
        }
    }

    /// The Italian date of registration (`dd/mm/yyyy`) as an e-mail quotes it.
    pub(crate) fn date_text(&self) -> String {
        match self {
            Self::Now(r) => protocol::local_time(r).format("%d/%m/%Y").to_string(),
            Self::Pending { placeholders, .. } => placeholders.date.clone(),
        }
    }

    /// The act's e-mail (none without an address): queued now with the built-in register,
    /// kept with the request until the number comes with an external one (whose pending
    /// request the history then shows).
    #[expect(clippy::too_many_arguments, reason = "the parts of one e-mail")]
    pub(crate) fn mail(
        &self,
        conn: &mut DbConn,
        row: &InstanceRow,
        of: &ActRef,
        now: NaiveDateTime,
        key: String,
        to: Option<&str>,
        subject: String,
        body: String,
    ) -> Result<(), BackofficeError> {
        let mut keys = Vec::new();
        self.hold_or_queue(conn, row.ente_id, &mut keys, key, to, subject, body)?;
        if !keys.is_empty() {
            queued(conn, &row.id, now, keys)?;
        }
        self.requested(conn, row, of, now)
    }

    /// Queues an e-mail of the act now (its outbox key added to `keys`) with the built-in
    /// register, or keeps it with the request until the number comes with an external one.
    #[expect(clippy::too_many_arguments, reason = "the parts of one e-mail")]
    pub(crate) fn hold_or_queue(
        &self,
        conn: &mut DbConn,
        ente_id: i64,
        keys: &mut Vec<String>,
        key: String,
        to: Option<&str>,
        subject: String,
        body: String,
    ) -> Result<(), BackofficeError> {
        match self {
            Self::Now(_) => keys.extend(mail(conn, ente_id, key, to, subject, body)?),
            Self::Pending { request_id, .. } => {
                if let Some(to) = to {
                    external::add_email(
                        conn,
                        *request_id,
                        key,
                        EmailPayload {
                            to: to.to_owned(),
                            subject,
                            body,
                            attachments: Vec::new(),
                        },
                    )?;
                }
            }
        }
        Ok(())
    }

    /// With an external register, the history shows the pending request (nothing with the
    /// built-in one: the act's own event carries the number).
    pub(crate) fn requested(
        &self,
        conn: &mut DbConn,
        row: &InstanceRow,
        of: &ActRef,
        now: NaiveDateTime,
    ) -> Result<(), BackofficeError> {
        if let Self::Pending { system, .. } = self {
            let (message, act) = match of {
                ActRef::Message(m) => (Some(*m), None),
                ActRef::Named { name, .. } => (None, Some(name.clone())),
            };
            event(
                conn,
                &row.id,
                now,
                "system",
                Event::RegistrationRequested {
                    system: (*system).to_owned(),
                    message,
                    act,
                },
            )?;
        }
        Ok(())
    }
}

/// Registers a later act of the instance in the AOO's register: numbered now by the built-in
/// one (the message linked to its entry), or requested from the external system in the same
/// transaction (idempotency key `<instance>:message:<id>`; `external::record` links it).
pub(crate) fn register(
    conn: &mut DbConn,
    row: &InstanceRow,
    aoo_id: i64,
    now: NaiveDateTime,
    act: Act<'_>,
) -> Result<Numbered, BackofficeError> {
    let new = NewRegistration {
        ente_id: row.ente_id,
        aoo_id,
        at: now,
        direction: act.direction,
        sender: act.sender,
        recipient: act.recipient,
        subject: act.subject,
        document_digest: act.digest.to_owned(),
        attachments: act.files.iter().map(|(f, _)| (f.clone(), None)).collect(),
        instance_id: Some(row.id.clone()),
        primary: false,
    };
    let Some(adapter) = external::adapter_of_aoo(conn, aoo_id)? else {
        let reg = protocol::register(conn, &new)?;
        match &act.of {
            ActRef::Message(m) => {
                diesel::update(msg::table.find(m))
                    .set(msg::registration_id.eq(reg.id))
                    .execute(conn)?;
            }
            ActRef::Named { link, .. } => link.set(conn, reg.id)?,
        }
        return Ok(Numbered::Now(reg));
    };
    let placeholders = external::Placeholders::new();
    let (message_id, name, link) = match act.of {
        ActRef::Message(m) => (Some(m), None, None),
        ActRef::Named { name, link } => (None, Some(name), Some(link)),
    };
    let request_id = external::enqueue(
        conn,
        adapter,
        &external::RequestPayload {
            registration: new,
            notices: None,
            follow_up: Some(external::FollowUp {
                message_id,
                act: name,
                link,
                document: act.document,
                primary_document: act.primary_document,
                placeholders: placeholders.clone(),
                emails: Vec::new(),
            }),
        },
        now,
    )?;
    Ok(Numbered::Pending {
        request_id,
        system: adapter.as_str(),
        placeholders,
    })
}

#[expect(clippy::too_many_arguments, reason = "the columns of one message")]
pub(crate) fn insert_message(
    conn: &mut DbConn,
    row: &InstanceRow,
    now: NaiveDateTime,
    sender: &str,
    staff_user_id: Option<i64>,
    kind: &str,
    body: &str,
    data: Option<String>,
    registration_id: Option<i64>,
) -> QueryResult<i64> {
    diesel::insert_into(msg::table)
        .values((
            msg::instance_id.eq(&row.id),
            msg::ente_id.eq(row.ente_id),
            msg::at.eq(now),
            msg::sender.eq(sender),
            msg::staff_user_id.eq(staff_user_id),
            msg::kind.eq(kind),
            msg::body.eq(body),
            msg::data.eq(data),
            msg::registration_id.eq(registration_id),
        ))
        .returning(msg::id)
        .get_result(conn)
}

/// Binds uploaded documents to the message that sends them: each must be this instance's,
/// uploaded by `by` and not sent yet. Returns file name and SHA-256 of each, in order.
fn bind_documents(
    conn: &mut DbConn,
    row: &InstanceRow,
    by: &str,
    ids: &[String],
    message_id: i64,
    pointer: &str,
) -> Result<Vec<(String, String)>, BackofficeError> {
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let found: Option<(String, String)> = docs::table
            .find(id)
            .filter(docs::instance_id.eq(&row.id))
            .filter(docs::uploaded_by.eq(by))
            .filter(docs::message_id.is_null())
            .select((docs::filename, docs::sha256))
            .first(conn)
            .optional()?;
        let Some(f) = found else {
            return Err(invalid(
                &format!("{pointer}/{i}"),
                "Documento non trovato o già inviato: caricarlo di nuovo.",
            ));
        };
        diesel::update(docs::table.find(id))
            .set(docs::message_id.eq(message_id))
            .execute(conn)?;
        out.push(f);
    }
    Ok(out)
}

pub(crate) fn mail(
    conn: &mut DbConn,
    ente_id: i64,
    key: String,
    to: Option<&str>,
    subject: String,
    body: String,
) -> Result<Vec<String>, BackofficeError> {
    let Some(to) = to else {
        return Ok(Vec::new());
    };
    enqueue_emails(
        conn,
        ente_id,
        &[(
            key.clone(),
            EmailPayload {
                to: to.to_owned(),
                subject,
                body,
                attachments: Vec::new(),
            },
        )],
    )?;
    Ok(vec![key])
}

pub(crate) fn event(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    actor: &str,
    e: Event,
) -> QueryResult<()> {
    record_event(conn, id, now, actor, &e)
}

pub(crate) fn queued(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
    keys: Vec<String>,
) -> QueryResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let messages = keys
        .iter()
        .map(|k| k.split(':').next().unwrap_or_default().to_owned())
        .collect();
    event(
        conn,
        id,
        now,
        "system",
        Event::NotificationsQueued { messages },
    )
}

pub(crate) fn footer(link: &str) -> String {
    format!(
        "Può seguire la pratica nella sua area personale: {link}\n\n\
         Questo messaggio è generato automaticamente: non rispondere.\n"
    )
}

/// Where the e-mails link to (the citizen's view of the instance).
pub struct MailLink<'a>(pub &'a str);

/// Take: the instance is assigned to the one who takes it.
pub fn take(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::Take,
        now,
        |conn, row, _| {
            diesel::update(inst::table.find(&row.id))
                .set(inst::assignee_id.eq(ctx.staff_user_id))
                .execute(conn)?;
            event(conn, id, now, &ctx.actor(), Event::Taken {})?;
            Ok(())
        },
    )
}

/// Assign to a colleague: an active operator of the instance's office (or an administrator).
pub fn assign(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    username: &str,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::Assign,
        now,
        |conn, row, _| {
            let colleague: Option<i64> = staff_users::table
                .filter(staff_users::ente_id.eq(ctx.ente_id))
                .filter(staff_users::username.eq(username))
                .filter(staff_users::active.eq(true))
                .select(staff_users::id)
                .first(conn)
                .optional()?;
            let eligible = match colleague {
                Some(uid) => staff_ctx(conn, ctx.ente_id, uid)?.works_in(row.office_id),
                None => false,
            };
            let Some(uid) = colleague.filter(|_| eligible) else {
                return Err(invalid(
                    "/username",
                    "Il collega indicato non lavora in questo ufficio.",
                ));
            };
            diesel::update(inst::table.find(&row.id))
                .set(inst::assignee_id.eq(uid))
                .execute(conn)?;
            event(
                conn,
                id,
                now,
                &ctx.actor(),
                Event::Assigned {
                    to: username.to_owned(),
                },
            )?;
            Ok(())
        },
    )
}

/// Hand over to another office of the ente: it leaves this queue, unassigned, and enters
/// theirs.
pub fn hand_over(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    office_code: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let reason = required_text("/reason", reason, 2000)?;
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::HandOver,
        now,
        |conn, row, _| {
            let target: Option<i64> = offices::table
                .filter(offices::ente_id.eq(ctx.ente_id))
                .filter(offices::code.eq(office_code))
                .select(offices::id)
                .first(conn)
                .optional()?;
            let Some(target) = target.filter(|t| Some(*t) != row.office_id) else {
                return Err(invalid(
                    "/office",
                    "Indicare un altro ufficio dell'ente a cui trasmettere la pratica.",
                ));
            };
            let from = office(conn, row.office_id)?;
            diesel::update(inst::table.find(&row.id))
                .set((
                    inst::office_id.eq(target),
                    inst::assignee_id.eq(None::<i64>),
                ))
                .execute(conn)?;
            event(
                conn,
                id,
                now,
                &ctx.actor(),
                Event::HandedOver {
                    from: from.code,
                    to: office_code.to_owned(),
                    reason,
                },
            )?;
            Ok(())
        },
    )
}

/// An internal note: never shown to the citizen.
pub fn note(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    text: &str,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let text = required_text("/text", text, 10_000)?;
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::Note,
        now,
        |conn, row, _| {
            let note: i64 = diesel::insert_into(notes::table)
                .values((
                    notes::instance_id.eq(&row.id),
                    notes::ente_id.eq(row.ente_id),
                    notes::staff_user_id.eq(ctx.staff_user_id),
                    notes::at.eq(now),
                    notes::body.eq(&text),
                ))
                .returning(notes::id)
                .get_result(conn)?;
            event(conn, id, now, &ctx.actor(), Event::NoteAdded { note })?;
            Ok(())
        },
    )
}

/// A message to the citizen, shown in their area and sent by e-mail.
pub fn message(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    text: &str,
    link: MailLink<'_>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let text = required_text("/text", text, 10_000)?;
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::Message,
        now,
        |conn, row, _| {
            let message = insert_message(
                conn,
                row,
                now,
                "office",
                Some(ctx.staff_user_id),
                "message",
                &text,
                None,
                None,
            )?;
            event(conn, id, now, &ctx.actor(), Event::MessageSent { message })?;
            let Parties { who, off, title } = parties(conn, row)?;
            let keys = mail(
            conn,
            row.ente_id,
            format!("message:{message}"),
            who.email.as_deref(),
            format!("Messaggio sulla sua pratica – {title}"),
            format!(
                "Gentile {},\n\n{} le scrive a proposito della sua pratica «{title}»:\n\n{text}\n\n{}",
                who.display,
                off.name,
                footer(link.0)
            ),
        )?;
            queued(conn, id, now, keys)?;
            Ok(())
        },
    )
}

/// What the operator asks for in a request for integration.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationRequest {
    /// What is missing, for the citizen.
    pub text: String,
    /// The days the citizen has to answer, 1–30 (the law's limit).
    pub days: i32,
    /// Optional: the names of the data the answer must contain (shown to the citizen).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Documents uploaded by the office for this request (their ids).
    #[serde(default)]
    pub documents: Vec<String>,
}

/// Request for integration (L. 241/1990 art. 2 c. 7): once, for at most 30 days; the term is
/// suspended from today. An outgoing registration to the applicant.
pub fn request_integration(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    req: &IntegrationRequest,
    link: MailLink<'_>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let text = required_text("/text", &req.text, 10_000)?;
    if !(1..=30).contains(&req.days) {
        return Err(invalid(
            "/days",
            "I giorni per rispondere devono essere da 1 a 30 (L. 241/1990, art. 2 c. 7).",
        ));
    }
    let today = calendar::rome_date(now);
    let answer_by = today + Duration::days(i64::from(req.days));
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::RequestIntegration,
        now,
        |conn, row, _| {
            let message = insert_message(
                conn,
                row,
                now,
                "office",
                Some(ctx.staff_user_id),
                "integration_request",
                &text,
                Some(
                    json!({ "fields": req.fields, "days": req.days, "answer_by": answer_by })
                        .to_string(),
                ),
                None,
            )?;
            let files = bind_documents(conn, row, "office", &req.documents, message, "/documents")?;
            let Parties { who, off, title } = parties(conn, row)?;
            let (document, digest) = canonical(&json!({
                "type": "richiesta_integrazione",
                "instance": row.id,
                "text": text,
                "fields": req.fields,
                "days": req.days,
                "answer_by": answer_by,
                "documents": files.iter().map(|(f, s)| json!({"filename": f, "sha256": s})).collect::<Vec<_>>(),
            }))?;
            let reg = register(
                conn,
                row,
                off.aoo_id,
                now,
                Act {
                    of: ActRef::Message(message),
                    direction: Direction::Out,
                    sender: off.name.clone(),
                    recipient: Some(who.register_name.clone()),
                    subject: format!("{title} – richiesta di integrazione"),
                    digest: &digest,
                    files: &files,
                    document: Some(document),
                    primary_document: None,
                },
            )?;
            diesel::insert_into(ir::table)
                .values((
                    ir::instance_id.eq(&row.id),
                    ir::ente_id.eq(row.ente_id),
                    ir::requested_at.eq(now),
                    ir::requested_by.eq(ctx.staff_user_id),
                    ir::days.eq(req.days),
                    ir::suspended_from.eq(today),
                    ir::answer_by.eq(answer_by),
                    ir::message_id.eq(message),
                ))
                .execute(conn)?;
            event(
                conn,
                id,
                now,
                &ctx.actor(),
                Event::IntegrationRequested {
                    protocol_number: reg.number(),
                    year: reg.year(),
                    days: req.days,
                    answer_by,
                },
            )?;
            let asked = if req.fields.is_empty() {
                String::new()
            } else {
                format!("\nDati richiesti: {}\n", req.fields.join(", "))
            };
            reg.mail(
                conn,
                row,
                &ActRef::Message(message),
                now,
                format!("integration-request:{}", row.id),
                who.email.as_deref(),
                format!(
                    "Richiesta di integrazione – {title} – Prot. n. {} del {}",
                    reg.number_text(),
                    reg.date_text()
                ),
                format!(
                    "Gentile {},\n\n{} chiede di integrare la sua pratica «{title}»:\n\n{text}\n{asked}\n\
                     Può rispondere entro il {} dalla sua area personale. Fino alla risposta il \
                     termine del procedimento è sospeso (L. 241/1990, art. 2 c. 7).\n\n{}",
                    who.display,
                    off.name,
                    answer_by.format("%d/%m/%Y"),
                    footer(link.0)
                ),
            )?;
            Ok(())
        },
    )
}

/// The due date once a suspension has ended: the term counted again from the submission
/// with the days of the suspension left out (`domain::terms`, by the service's unit and the
/// ente's working days).
pub fn due_after(
    conn: &mut DbConn,
    row: &InstanceRow,
    suspension: Suspension,
) -> QueryResult<Option<NaiveDate>> {
    // A FOIA instance may also have been suspended for its counter-interested parties.
    let mut all = super::foia::counterparty_suspensions(conn, &row.id)?;
    all.push(suspension);
    due_with(conn, row, &all)
}

/// The due date with these suspensions of the term.
pub(crate) fn due_with(
    conn: &mut DbConn,
    row: &InstanceRow,
    suspensions: &[Suspension],
) -> QueryResult<Option<NaiveDate>> {
    let Some(submitted) = row.submitted_at else {
        return Ok(row.due_date);
    };
    let (days, unit, patron): (i32, String, Option<String>) = services::table
        .inner_join(enti::table.on(enti::id.eq(services::ente_id)))
        .filter(services::id.eq(row.service_id))
        .select((
            services::legal_term_days,
            services::legal_term_unit,
            enti::patron_day,
        ))
        .first(conn)?;
    Ok(terms::due_date(
        calendar::rome_date(submitted),
        TermRule {
            days,
            unit: TermUnit::parse(&unit).unwrap_or(TermUnit::CalendarDays),
        },
        suspensions,
        &WorkCalendar::for_ente(patron.as_deref()),
    ))
}

/// What the operator decides.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub outcome: Outcome,
    /// The motivation, for the citizen.
    pub motivation: String,
    /// The reply document (a PDF uploaded by the office), if any.
    #[serde(default)]
    pub reply_document: Option<String>,
    /// FOIA services only: the art. 5-bis limit a refusal, partial grant or deferral rests on
    /// (required then; `differita` is a FOIA outcome only).
    #[serde(default)]
    pub foia_limit: Option<super::foia::FoiaLimit>,
}

/// The decision: outcome, motivation and optional reply PDF, an outgoing registration to the
/// applicant; the citizen is told by e-mail.
pub fn decide(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    d: &Decision,
    link: MailLink<'_>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let motivation = required_text("/motivation", &d.motivation, 20_000)?;
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::Decide,
        now,
        |conn, row, _| {
            super::foia::check_decision(conn, row, d.outcome, d.foia_limit)?;
            let message = insert_message(
                conn,
                row,
                now,
                "office",
                Some(ctx.staff_user_id),
                "decision",
                &motivation,
                Some(json!({ "outcome": d.outcome }).to_string()),
                None,
            )?;
            let ids: Vec<String> = d.reply_document.iter().cloned().collect();
            if let Some(doc) = &d.reply_document {
                let mime: Option<String> = docs::table
                    .find(doc)
                    .filter(docs::instance_id.eq(&row.id))
                    .select(docs::mime)
                    .first(conn)
                    .optional()?;
                if mime.as_deref().is_some_and(|m| m != "application/pdf") {
                    return Err(invalid(
                        "/reply_document",
                        "Il provvedimento deve essere un documento PDF.",
                    ));
                }
            }
            let files = bind_documents(conn, row, "office", &ids, message, "/reply_document")?;
            let (document, digest) = match files.first() {
                Some((_, sha)) => (None, sha.clone()),
                None => {
                    let (text, digest) = canonical(&json!({
                        "type": "provvedimento",
                        "instance": row.id,
                        "outcome": d.outcome,
                        "motivation": motivation,
                    }))?;
                    (Some(text), digest)
                }
            };
            let Parties { who, off, title } = parties(conn, row)?;
            let reg = register(
                conn,
                row,
                off.aoo_id,
                now,
                Act {
                    of: ActRef::Message(message),
                    direction: Direction::Out,
                    sender: off.name.clone(),
                    recipient: Some(who.register_name.clone()),
                    subject: format!(
                        "{title} – provvedimento finale: istanza {}",
                        d.outcome.label()
                    ),
                    digest: &digest,
                    files: &files,
                    document,
                    primary_document: d.reply_document.clone(),
                },
            )?;
            diesel::update(inst::table.find(&row.id))
                .set((
                    inst::outcome.eq(d.outcome.as_str()),
                    inst::decided_at.eq(now),
                ))
                .execute(conn)?;
            event(
                conn,
                id,
                now,
                &ctx.actor(),
                Event::Decided {
                    outcome: d.outcome,
                    protocol_number: reg.number(),
                    year: reg.year(),
                },
            )?;
            super::foia::record_decision(conn, row, d.foia_limit, now)?;
            let reply = if files.is_empty() {
                String::new()
            } else {
                "\nIl provvedimento è disponibile nella sua area personale.\n".to_owned()
            };
            reg.mail(
            conn,
            row,
            &ActRef::Message(message),
            now,
            format!("decision:{}", row.id),
            who.email.as_deref(),
            format!(
                "Esito della sua pratica – {title} – Prot. n. {} del {}",
                reg.number_text(),
                reg.date_text()
            ),
            format!(
                "Gentile {},\n\nla sua istanza «{title}» è stata {}.\n\nMotivazione:\n{motivation}\n{reply}\n{}",
                who.display,
                d.outcome.label(),
                footer(link.0)
            ),
        )?;
            Ok(())
        },
    )
}

/// Closure of a decided instance by the office.
pub fn close(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::Close,
        now,
        |conn, row, _| {
            diesel::update(inst::table.find(&row.id))
                .set(inst::closed_at.eq(now))
                .execute(conn)?;
            event(
                conn,
                id,
                now,
                &ctx.actor(),
                Event::Closed { automatic: false },
            )?;
            Ok(())
        },
    )
}

/// The citizen's own submitted instance (same rule as elsewhere: else not found).
fn load_citizen(
    conn: &mut DbConn,
    ente_id: i64,
    citizen_id: i64,
    id: &str,
) -> Result<InstanceRow, BackofficeError> {
    let row: InstanceRow = inst::table
        .find(id)
        .filter(inst::ente_id.eq(ente_id))
        .filter(inst::citizen_id.eq(citizen_id))
        .select(InstanceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    if row.status.is_draft() {
        return Err(BackofficeError::NotFound);
    }
    Ok(row)
}

/// The citizen's frame: ownership, state machine, claim (no `If-Match`: the citizen acts on
/// their own instance, and the claim still makes a concurrent staff action on the old version
/// fail).
fn citizen_act<T>(
    conn: &mut DbConn,
    ente_id: i64,
    citizen_id: i64,
    id: &str,
    transition: Transition,
    now: NaiveDateTime,
    body: impl FnOnce(&mut DbConn, &InstanceRow) -> Result<T, BackofficeError>,
) -> Result<T, BackofficeError> {
    write_tx(conn, |conn| {
        let row = load_citizen(conn, ente_id, citizen_id, id)?;
        let f = facts(conn, id)?;
        let to = check(&row, transition, Actor::Citizen, f)?;
        claim(conn, &row, to, now)?;
        let out = body(conn, &row)?;
        tracing::info!(instance = id, action = transition.as_str(), from = %row.status, to = %to, "citizen action");
        Ok(out)
    })
}

/// The citizen's answer to the request for integration.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationAnswer {
    /// Free text.
    #[serde(default)]
    pub text: Option<String>,
    /// The data the office asked for, as a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// Documents the citizen uploaded for this answer (their ids).
    #[serde(default)]
    pub documents: Vec<String>,
}

/// The answer: frozen as its own document with its digest, an incoming registration; the
/// term runs again from today.
pub fn answer_integration(
    conn: &mut DbConn,
    ente_id: i64,
    citizen_id: i64,
    id: &str,
    a: &IntegrationAnswer,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let text = a
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    if text.as_ref().is_some_and(|t| t.chars().count() > 10_000) {
        return Err(invalid(
            "/text",
            "Il testo supera i 10000 caratteri ammessi.",
        ));
    }
    if let Some(d) = &a.data {
        if !d.is_object() {
            return Err(invalid("/data", "I dati devono essere un oggetto JSON."));
        }
    }
    let has_data = a
        .data
        .as_ref()
        .is_some_and(|d| d.as_object().is_some_and(|o| !o.is_empty()));
    if text.is_none() && !has_data && a.documents.is_empty() {
        return Err(invalid(
            "/text",
            "Scrivere la risposta, indicare i dati richiesti o allegare un documento.",
        ));
    }
    let today = calendar::rome_date(now);
    citizen_act(
        conn,
        ente_id,
        citizen_id,
        id,
        Transition::AnswerIntegration,
        now,
        |conn, row| {
            let (request_message, suspended_from): (i64, NaiveDate) = ir::table
                .find(&row.id)
                .select((ir::message_id, ir::suspended_from))
                .first(conn)?;
            let request_reg: Option<i64> = msg::table
                .find(request_message)
                .select(msg::registration_id)
                .first(conn)?;
            let message = insert_message(
                conn,
                row,
                now,
                "citizen",
                None,
                "integration_answer",
                text.as_deref().unwrap_or_default(),
                a.data.as_ref().map(Value::to_string),
                None,
            )?;
            let files = bind_documents(conn, row, "citizen", &a.documents, message, "/documents")?;
            let (document, digest) = canonical(&json!({
                "type": "integrazione",
                "instance": row.id,
                "in_reply_to": request_reg.and_then(|r| protocol::find(conn, r).ok().flatten()).map(|r| json!({"number": r.number.to_string(), "year": r.year})),
                "text": text,
                "data": a.data,
                "attachments": files.iter().map(|(f, s)| json!({"filename": f, "sha256": s})).collect::<Vec<_>>(),
                "answered_at": now.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            }))?;
            let Parties { who, off, title } = parties(conn, row)?;
            let reg = register(
                conn,
                row,
                off.aoo_id,
                now,
                Act {
                    of: ActRef::Message(message),
                    direction: Direction::In,
                    sender: who.register_name.clone(),
                    recipient: None,
                    subject: format!("{title} – integrazione dell'istanza"),
                    digest: &digest,
                    files: &files,
                    document: Some(document.clone()),
                    primary_document: None,
                },
            )?;
            diesel::update(ir::table.find(&row.id))
                .set((
                    ir::answered_at.eq(now),
                    ir::answer_message_id.eq(message),
                    ir::answer_document.eq(&document),
                    ir::answer_digest.eq(&digest),
                ))
                .execute(conn)?;
            let suspended = (today - suspended_from).num_days();
            let due = due_after(
                conn,
                row,
                Suspension {
                    from: suspended_from,
                    until: Some(today),
                },
            )?;
            diesel::update(inst::table.find(&row.id))
                .set((
                    inst::suspended_days.eq(i32::try_from(suspended).unwrap_or(i32::MAX)),
                    inst::due_date.eq(due),
                ))
                .execute(conn)?;
            event(
                conn,
                id,
                now,
                "citizen",
                Event::IntegrationAnswered {
                    protocol_number: reg.number(),
                    year: reg.year(),
                    document_digest: digest.clone(),
                    due_date: due,
                },
            )?;
            reg.mail(
                conn,
                row,
                &ActRef::Message(message),
                now,
                format!("integration-answer:{}", row.id),
                off.email.as_deref(),
                format!(
                    "Integrazione ricevuta – {title} – Prot. n. {}",
                    reg.number_text()
                ),
                format!(
                    "{} ha risposto alla richiesta di integrazione della pratica «{title}» \
                 (identificativo {}).\n\n- Protocollo n. {} del {}\n- Da concludere entro: {}\n",
                    who.register_name,
                    row.id,
                    reg.number_text(),
                    iso_rome(now),
                    due.map(|d| d.format("%d/%m/%Y").to_string())
                        .unwrap_or_default(),
                ),
            )?;
            Ok(())
        },
    )
}

/// The citizen withdraws the instance before a decision (an incoming registration).
pub fn withdraw(
    conn: &mut DbConn,
    ente_id: i64,
    citizen_id: i64,
    id: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if reason.as_ref().is_some_and(|r| r.chars().count() > 2000) {
        return Err(invalid(
            "/reason",
            "Il motivo supera i 2000 caratteri ammessi.",
        ));
    }
    citizen_act(
        conn,
        ente_id,
        citizen_id,
        id,
        Transition::Withdraw,
        now,
        |conn, row| {
            let message = insert_message(
                conn,
                row,
                now,
                "citizen",
                None,
                "withdrawal",
                reason.as_deref().unwrap_or_default(),
                None,
                None,
            )?;
            let (document, digest) = canonical(&json!({
                "type": "ritiro",
                "instance": row.id,
                "reason": reason,
                "at": now.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            }))?;
            let Parties { who, off, title } = parties(conn, row)?;
            let reg = register(
                conn,
                row,
                off.aoo_id,
                now,
                Act {
                    of: ActRef::Message(message),
                    direction: Direction::In,
                    sender: who.register_name.clone(),
                    recipient: None,
                    subject: format!("{title} – ritiro dell'istanza"),
                    digest: &digest,
                    files: &[],
                    document: Some(document),
                    primary_document: None,
                },
            )?;
            event(
                conn,
                id,
                now,
                "citizen",
                Event::Withdrawn {
                    protocol_number: reg.number(),
                    year: reg.year(),
                },
            )?;
            reg.mail(
                conn,
                row,
                &ActRef::Message(message),
                now,
                format!("withdrawal:{}", row.id),
                off.email.as_deref(),
                format!(
                    "Istanza ritirata – {title} – Prot. n. {}",
                    reg.number_text()
                ),
                format!(
                    "{} ha ritirato la pratica «{title}» (identificativo {}).\n{}",
                    who.register_name,
                    row.id,
                    reason
                        .map(|r| format!("\nMotivo: {r}\n"))
                        .unwrap_or_default()
                ),
            )?;
            Ok(())
        },
    )
}

/// Refusal details for the API: the state now and what the actor may do instead.
pub fn refusal_parts(e: &NotAllowed) -> (Option<InstanceStatus>, Vec<Transition>) {
    match e {
        NotAllowed::Actor { .. } => (None, Vec::new()),
        NotAllowed::State { from, allowed, .. } | NotAllowed::OnlyOnce { from, allowed, .. } => {
            (Some(*from), allowed.clone())
        }
    }
}
