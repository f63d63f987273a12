//! FOIA and access to records in the back office (D.Lgs. 33/2013 art. 5 and 5-bis, L. 241/1990
//! art. 22; issue #13 §3), for the instances of a service whose procedure kind is `foia`:
//!
//! - **counter-interested parties** (controinteressati, art. 5 c. 5): the operator notifies
//!   them (one outgoing registration each, an e-mail when an address is given); the 30-day
//!   term is suspended until every one answered (staff records each answer or opposition, an
//!   incoming registration) or 10 days passed (the housekeeping step [`resume_expired`]);
//! - the **decision** is `work::decide` with the FOIA rules of [`check_decision`]: refusal,
//!   partial grant and deferral cite one limit of art. 5-bis ([`FoiaLimit`], a closed list);
//! - **riesame** (art. 5 c. 7): a citizen refused (totally or partly), deferred or not answered
//!   in time asks the transparency officer (RPCT, `[ente] transparency_officer`), who decides
//!   within 20 days;
//! - the public **registro degli accessi** (ANAC Linee guida 1309/2016 §9, circolare FOIA
//!   2/2017): [`public_register`], without personal data — the subject line is the neutral
//!   default or the one staff wrote ([`set_public_subject`]), never the citizen's text, and the
//!   motivation published is the art. 5-bis limit, never the operator's free text.
//!
//! The kind of request (semplice / generalizzato / documentale) is read from the instance data
//! at `/tipo_accesso`; without it the request is `generalizzato` (the demo form's only kind).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::work::{
    self, canonical, event, parties, queued, required_text, Act, ActRef, Expected, MailLink,
    Numbered, Parties, StaffCtx,
};
use super::BackofficeError;
use crate::catalog::EnteRef;
use crate::db::schema::{
    citizens, enti, foia_counterparties as fc, foia_counterparty_notices as fcn,
    foia_requests as fr, foia_reviews as rv, instances as inst, integration_requests as ir,
    protocol_registrations as pr, services, staff_users,
};
use crate::db::{write_tx, DbConn};
use crate::domain::terms::{self, Suspension, TermRule, TermUnit, WorkCalendar};
use crate::domain::{calendar, Actor, FieldError, InstanceStatus, Outcome, Transition};
use crate::instances::{iso, Event, InstanceRow};
use crate::procedures::ProcedureKind;
use crate::protocol::external::Link;
use crate::protocol::{self, Direction};

/// Days the counter-interested parties have to answer (art. 5 c. 5).
pub const COUNTERPARTY_DAYS: i64 = 10;
/// Days the transparency officer has to decide a review (art. 5 c. 7).
pub const REVIEW_DAYS: i32 = 20;

/// The limits of art. 5-bis D.Lgs. 33/2013 a refusal, partial grant or deferral may rest on:
/// the public interests of c. 1, the private interests of c. 2, the exclusions of c. 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum FoiaLimit {
    /// c. 1 lett. a: la sicurezza pubblica e l'ordine pubblico.
    #[serde(rename = "c1_a")]
    C1A,
    /// c. 1 lett. b: la sicurezza nazionale.
    #[serde(rename = "c1_b")]
    C1B,
    /// c. 1 lett. c: la difesa e le questioni militari.
    #[serde(rename = "c1_c")]
    C1C,
    /// c. 1 lett. d: le relazioni internazionali.
    #[serde(rename = "c1_d")]
    C1D,
    /// c. 1 lett. e: la politica e la stabilità finanziaria ed economica dello Stato.
    #[serde(rename = "c1_e")]
    C1E,
    /// c. 1 lett. f: la conduzione di indagini sui reati e il loro perseguimento.
    #[serde(rename = "c1_f")]
    C1F,
    /// c. 1 lett. g: il regolare svolgimento di attività ispettive.
    #[serde(rename = "c1_g")]
    C1G,
    /// c. 2 lett. a: la protezione dei dati personali.
    #[serde(rename = "c2_a")]
    C2A,
    /// c. 2 lett. b: la libertà e la segretezza della corrispondenza.
    #[serde(rename = "c2_b")]
    C2B,
    /// c. 2 lett. c: gli interessi economici e commerciali (proprietà intellettuale, diritto
    /// d'autore, segreti commerciali).
    #[serde(rename = "c2_c")]
    C2C,
    /// c. 3: segreto di Stato e altri divieti di accesso o divulgazione previsti dalla legge.
    #[serde(rename = "c3")]
    C3,
}

impl FoiaLimit {
    pub const ALL: [Self; 11] = [
        Self::C1A,
        Self::C1B,
        Self::C1C,
        Self::C1D,
        Self::C1E,
        Self::C1F,
        Self::C1G,
        Self::C2A,
        Self::C2B,
        Self::C2C,
        Self::C3,
    ];

    /// As stored and on the wire (`c2_a`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::C1A => "c1_a",
            Self::C1B => "c1_b",
            Self::C1C => "c1_c",
            Self::C1D => "c1_d",
            Self::C1E => "c1_e",
            Self::C1F => "c1_f",
            Self::C1G => "c1_g",
            Self::C2A => "c2_a",
            Self::C2B => "c2_b",
            Self::C2C => "c2_c",
            Self::C3 => "c3",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// The citation and the interest protected, as the register publishes it.
    pub fn label(self) -> &'static str {
        match self {
            Self::C1A => "Art. 5-bis c. 1 lett. a D.Lgs. 33/2013 – sicurezza pubblica e ordine pubblico",
            Self::C1B => "Art. 5-bis c. 1 lett. b D.Lgs. 33/2013 – sicurezza nazionale",
            Self::C1C => "Art. 5-bis c. 1 lett. c D.Lgs. 33/2013 – difesa e questioni militari",
            Self::C1D => "Art. 5-bis c. 1 lett. d D.Lgs. 33/2013 – relazioni internazionali",
            Self::C1E => {
                "Art. 5-bis c. 1 lett. e D.Lgs. 33/2013 – politica e stabilità finanziaria ed economica dello Stato"
            }
            Self::C1F => {
                "Art. 5-bis c. 1 lett. f D.Lgs. 33/2013 – conduzione di indagini sui reati e loro perseguimento"
            }
            Self::C1G => "Art. 5-bis c. 1 lett. g D.Lgs. 33/2013 – regolare svolgimento di attività ispettive",
            Self::C2A => "Art. 5-bis c. 2 lett. a D.Lgs. 33/2013 – protezione dei dati personali",
            Self::C2B => {
                "Art. 5-bis c. 2 lett. b D.Lgs. 33/2013 – libertà e segretezza della corrispondenza"
            }
            Self::C2C => {
                "Art. 5-bis c. 2 lett. c D.Lgs. 33/2013 – interessi economici e commerciali di persone fisiche o giuridiche"
            }
            Self::C3 => {
                "Art. 5-bis c. 3 D.Lgs. 33/2013 – esclusione (segreto di Stato o altro divieto di legge)"
            }
        }
    }
}

/// The kind of access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FoiaKind {
    /// Accesso civico semplice (art. 5 c. 1): documents the ente had to publish.
    Semplice,
    /// Accesso civico generalizzato (art. 5 c. 2).
    Generalizzato,
    /// Accesso documentale (L. 241/1990 art. 22).
    Documentale,
}

impl FoiaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Semplice => "semplice",
            Self::Generalizzato => "generalizzato",
            Self::Documentale => "documentale",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Semplice => "accesso civico semplice",
            Self::Generalizzato => "accesso civico generalizzato",
            Self::Documentale => "accesso documentale",
        }
    }

    /// The kind an instance's data names at `/tipo_accesso` (default: generalizzato).
    pub fn of_data(data: &Value) -> Self {
        match data.pointer("/tipo_accesso").and_then(Value::as_str) {
            Some("semplice") => Self::Semplice,
            Some("documentale") => Self::Documentale,
            _ => Self::Generalizzato,
        }
    }
}

/// Registers a FOIA act (a notice to or an answer of a counter-interested party, a request
/// for review or its decision) in the register of the instance's AOO: numbered now by the
/// built-in one, or requested from the ente's external system (`work::register`), the row
/// `of` names getting its entry either way. The act's frozen JSON text is its document.
#[expect(
    clippy::too_many_arguments,
    reason = "the fields of one register entry"
)]
fn register(
    conn: &mut DbConn,
    row: &InstanceRow,
    aoo_id: i64,
    now: NaiveDateTime,
    direction: Direction,
    sender: String,
    recipient: Option<String>,
    subject: String,
    (document, digest): (String, String),
    of: ActRef,
) -> Result<Numbered, BackofficeError> {
    work::register(
        conn,
        row,
        aoo_id,
        now,
        Act {
            of,
            direction,
            sender,
            recipient,
            subject,
            digest: &digest,
            files: &[],
            document: Some(document),
            primary_document: None,
        },
    )
}

fn bad(pointer: &str, message: &str) -> BackofficeError {
    BackofficeError::Invalid(vec![FieldError::new(pointer, message)])
}

fn is_foia_service(conn: &mut DbConn, service_id: i64) -> QueryResult<bool> {
    let kind: Option<String> = services::table
        .find(service_id)
        .select(services::procedure_kind)
        .first(conn)?;
    Ok(kind.as_deref() == Some(ProcedureKind::Foia.as_str()))
}

/// What the state machine needs to know about FOIA: whether the instance's service follows
/// the FOIA procedure, and whether its counter-interested parties were notified already.
pub fn procedure_facts(conn: &mut DbConn, instance_id: &str) -> QueryResult<(bool, bool)> {
    let kind: Option<Option<String>> = inst::table
        .inner_join(services::table)
        .filter(inst::id.eq(instance_id))
        .select(services::procedure_kind)
        .first(conn)
        .optional()?;
    let foia = kind.flatten().as_deref() == Some(ProcedureKind::Foia.as_str());
    if !foia {
        return Ok((false, false));
    }
    let notified: i64 = fcn::table
        .filter(fcn::instance_id.eq(instance_id))
        .count()
        .get_result(conn)?;
    Ok((true, notified > 0))
}

/// The suspension for the counter-interested parties, once it has ended (the term runs again
/// from `resumed_on`). None while it lasts or when there was none.
pub fn counterparty_suspensions(
    conn: &mut DbConn,
    instance_id: &str,
) -> QueryResult<Vec<Suspension>> {
    let rows: Vec<(NaiveDate, Option<NaiveDate>)> = fcn::table
        .filter(fcn::instance_id.eq(instance_id))
        .filter(fcn::resumed_on.is_not_null())
        .select((fcn::suspended_from, fcn::resumed_on))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(from, until)| Suspension { from, until })
        .collect())
}

/// The request for integration's suspension once it ended (answered, or expired: the term
/// runs again the day after the last day to answer).
fn integration_suspension(conn: &mut DbConn, instance_id: &str) -> QueryResult<Vec<Suspension>> {
    let row: Option<(
        NaiveDate,
        NaiveDate,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    )> = ir::table
        .find(instance_id)
        .select((
            ir::suspended_from,
            ir::answer_by,
            ir::answered_at,
            ir::expired_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((from, _, Some(answered), _)) => vec![Suspension {
            from,
            until: Some(calendar::rome_date(answered)),
        }],
        Some((from, answer_by, None, Some(_))) => vec![Suspension {
            from,
            until: Some(answer_by + Duration::days(1)),
        }],
        _ => Vec::new(),
    })
}

// --- The decision ------------------------------------------------------------------------

/// The FOIA rules of a decision, checked inside `work::decide`: on a FOIA service a refusal,
/// partial grant or deferral cites its art. 5-bis limit and a full grant cites none; on any
/// other service neither `differita` nor a limit exists.
pub fn check_decision(
    conn: &mut DbConn,
    row: &InstanceRow,
    outcome: Outcome,
    limit: Option<FoiaLimit>,
) -> Result<(), BackofficeError> {
    if !is_foia_service(conn, row.service_id)? {
        if outcome == Outcome::Differita {
            return Err(bad(
                "/outcome",
                "Il differimento è previsto solo per le richieste di accesso (FOIA).",
            ));
        }
        if limit.is_some() {
            return Err(bad(
                "/foia_limit",
                "I limiti dell'art. 5-bis si citano solo nelle richieste di accesso (FOIA).",
            ));
        }
        return Ok(());
    }
    check_limit(outcome, limit)
}

fn check_limit(outcome: Outcome, limit: Option<FoiaLimit>) -> Result<(), BackofficeError> {
    match (outcome, limit) {
        (Outcome::Accolta, Some(_)) => Err(bad(
            "/foia_limit",
            "Un accoglimento totale non cita limiti dell'art. 5-bis: togliere il limite o \
             scegliere l'accoglimento parziale.",
        )),
        (Outcome::Accolta, None) | (_, Some(_)) => Ok(()),
        (_, None) => Err(bad(
            "/foia_limit",
            "Il rifiuto, l'accoglimento parziale e il differimento devono indicare il limite \
             dell'art. 5-bis D.Lgs. 33/2013 su cui si fondano.",
        )),
    }
}

/// Creates the instance's FOIA record if it has none.
fn ensure_record(conn: &mut DbConn, row: &InstanceRow, now: NaiveDateTime) -> QueryResult<()> {
    let exists: i64 = fr::table
        .filter(fr::instance_id.eq(&row.id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(fr::table)
            .values((
                fr::instance_id.eq(&row.id),
                fr::ente_id.eq(row.ente_id),
                fr::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Keeps the limit a FOIA decision cited, for the public register (inside `work::decide`).
pub fn record_decision(
    conn: &mut DbConn,
    row: &InstanceRow,
    limit: Option<FoiaLimit>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    if !is_foia_service(conn, row.service_id)? {
        return Ok(());
    }
    ensure_record(conn, row, now)?;
    diesel::update(fr::table.find(&row.id))
        .set((
            fr::decision_limit.eq(limit.map(FoiaLimit::as_str)),
            fr::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

// --- Counter-interested parties ----------------------------------------------------------

/// One counter-interested party as the operator gives it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterpartyInput {
    /// Name (person or body).
    pub name: String,
    /// Postal address, when the notice goes by registered mail.
    #[serde(default)]
    pub address: Option<String>,
    /// E-mail or PEC address: the notice is also sent there.
    #[serde(default)]
    pub email: Option<String>,
}

/// The notice to the counter-interested parties.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterpartyNotice {
    /// 1–20 parties.
    pub counterparties: Vec<CounterpartyInput>,
    /// What the office tells them besides the standard text (optional).
    #[serde(default)]
    pub text: Option<String>,
}

struct CheckedParty {
    name: String,
    address: Option<String>,
    email: Option<String>,
}

fn check_parties(
    n: &CounterpartyNotice,
) -> Result<(Vec<CheckedParty>, Option<String>), BackofficeError> {
    if n.counterparties.is_empty() || n.counterparties.len() > 20 {
        return Err(bad(
            "/counterparties",
            "Indicare da 1 a 20 controinteressati.",
        ));
    }
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, p) in n.counterparties.iter().enumerate() {
        let name = p.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.push(FieldError::new(
                format!("/counterparties/{i}/name"),
                "Il nome è obbligatorio (al massimo 200 caratteri).",
            ));
        }
        let address = p
            .address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        if address.as_ref().is_some_and(|a| a.chars().count() > 500) {
            errors.push(FieldError::new(
                format!("/counterparties/{i}/address"),
                "L'indirizzo supera i 500 caratteri ammessi.",
            ));
        }
        let email = match p.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(e) => match crate::domain::email::Email::parse(e) {
                Ok(parsed) => Some(parsed.to_string()),
                Err(_) => {
                    errors.push(FieldError::new(
                        format!("/counterparties/{i}/email"),
                        "L'indirizzo e-mail non è valido.",
                    ));
                    None
                }
            },
        };
        out.push(CheckedParty {
            name: name.to_owned(),
            address,
            email,
        });
    }
    let text = n
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    if text.as_ref().is_some_and(|t| t.chars().count() > 10_000) {
        errors.push(FieldError::new(
            "/text",
            "Il testo supera i 10000 caratteri ammessi.",
        ));
    }
    if errors.is_empty() {
        Ok((out, text))
    } else {
        Err(BackofficeError::Invalid(errors))
    }
}

/// Notifies the counter-interested parties (once): one outgoing registration per party, an
/// e-mail to those with an address, a message to the applicant; the term is suspended from
/// today for 10 days or until every party answered.
pub fn notify_counterparties(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    n: &CounterpartyNotice,
    link: MailLink<'_>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let (list, text) = check_parties(n)?;
    let today = calendar::rome_date(now);
    let answer_by = today + Duration::days(COUNTERPARTY_DAYS);
    work::staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::NotifyCounterparties,
        now,
        |conn, row, _| {
            let Parties { who, off, title } = parties(conn, row)?;
            diesel::insert_into(fcn::table)
                .values((
                    fcn::instance_id.eq(&row.id),
                    fcn::ente_id.eq(row.ente_id),
                    fcn::notified_at.eq(now),
                    fcn::notified_by.eq(ctx.staff_user_id),
                    fcn::suspended_from.eq(today),
                    fcn::answer_by.eq(answer_by),
                ))
                .execute(conn)?;
            let protocol_ref = row
                .registration_id
                .and_then(|r| protocol::find(conn, r).ok().flatten())
                .map(|r| {
                    format!(
                        "n. {} del {}",
                        r.number,
                        protocol::local_time(&r).format("%d/%m/%Y")
                    )
                })
                .unwrap_or_default();
            let mut numbers = Vec::new();
            let mut keys = Vec::new();
            let mut requested = Vec::new();
            let mut year = today.year();
            for (i, p) in list.iter().enumerate() {
                let position = i32::try_from(i + 1).unwrap_or(i32::MAX);
                let document = canonical(&json!({
                    "type": "comunicazione_controinteressati",
                    "instance": row.id,
                    "counterparty": { "name": p.name, "address": p.address, "email": p.email },
                    "answer_by": answer_by,
                    "text": text,
                }))?;
                let recipient = match &p.address {
                    Some(a) => format!("{} – {a}", p.name),
                    None => p.name.clone(),
                };
                let party_id: i64 = diesel::insert_into(fc::table)
                    .values((
                        fc::instance_id.eq(&row.id),
                        fc::ente_id.eq(row.ente_id),
                        fc::position.eq(position),
                        fc::name.eq(&p.name),
                        fc::address.eq(&p.address),
                        fc::email.eq(&p.email),
                    ))
                    .returning(fc::id)
                    .get_result(conn)?;
                let of = ActRef::Named {
                    name: format!("foia-counterparty:{position}"),
                    link: Link::FoiaCounterparty { id: party_id },
                };
                let reg = register(
                    conn,
                    row,
                    off.aoo_id,
                    now,
                    Direction::Out,
                    off.name.clone(),
                    Some(recipient),
                    format!(
                        "{title} – comunicazione ai controinteressati (D.Lgs. 33/2013, art. 5 c. 5)"
                    ),
                    document,
                    of.clone(),
                )?;
                numbers.extend(reg.number());
                year = reg.year().unwrap_or(year);
                reg.hold_or_queue(
                    conn,
                    row.ente_id,
                    &mut keys,
                    format!("foia-counterparty:{}:{position}", row.id),
                    p.email.as_deref(),
                    format!(
                        "Comunicazione ai controinteressati – {title} – Prot. n. {} del {}",
                        reg.number_text(),
                        reg.date_text()
                    ),
                    format!(
                        "Gentile {},\n\n{} ha ricevuto una richiesta di accesso (prot. {protocol_ref}) \
                         che riguarda dati o documenti per i quali lei risulta controinteressato \
                         (D.Lgs. 33/2013, art. 5 c. 5).\n\nPuò presentare una motivata opposizione \
                         entro il {} (10 giorni dal ricevimento di questa comunicazione), anche per \
                         via telematica, a {}.\n{}\nQuesto messaggio è generato automaticamente.\n",
                        p.name,
                        off.name,
                        answer_by.format("%d/%m/%Y"),
                        off.email.as_deref().unwrap_or(&off.name),
                        text.as_deref().map(|t| format!("\n{t}\n")).unwrap_or_default(),
                    ),
                )?;
                requested.push((reg, of));
            }
            event(
                conn,
                id,
                now,
                &ctx.actor(),
                Event::CounterpartiesNotified {
                    parties: list.len(),
                    protocol_numbers: numbers,
                    year,
                    answer_by,
                },
            )?;
            for (reg, of) in &requested {
                reg.requested(conn, row, of, now)?;
            }
            keys.extend(work::mail(
                conn,
                row.ente_id,
                format!("foia-counterparties:{}", row.id),
                who.email.as_deref(),
                format!("Richiesta di accesso – {title} – comunicazione ai controinteressati"),
                format!(
                    "Gentile {},\n\nla sua richiesta «{title}» riguarda dati o documenti per i quali \
                     vi sono controinteressati: l'ufficio li ha informati. Il termine per la \
                     risposta è sospeso fino alla loro eventuale opposizione e comunque non oltre \
                     il {} (D.Lgs. 33/2013, art. 5 c. 5).\n\n{}",
                    who.display,
                    answer_by.format("%d/%m/%Y"),
                    work::footer(link.0)
                ),
            )?);
            queued(conn, id, now, keys)?;
            Ok(())
        },
    )
}

/// A counter-interested party's answer as staff records it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterpartyAnswer {
    /// The party opposes the access.
    pub opposed: bool,
    /// What they wrote (a summary, or the text of the opposition).
    pub text: String,
}

/// Records one party's answer (an incoming registration from the party). When it is the last
/// one awaited, the term runs again from today.
pub fn record_counterparty_answer(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    position: i32,
    a: &CounterpartyAnswer,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let text = required_text("/text", &a.text, 10_000)?;
    let today = calendar::rome_date(now);
    work::staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::RecordCounterpartyAnswer,
        now,
        |conn, row, to| {
            let party: Option<(i64, String, Option<NaiveDateTime>)> = fc::table
                .filter(fc::instance_id.eq(&row.id))
                .filter(fc::position.eq(position))
                .select((fc::id, fc::name, fc::answered_at))
                .first(conn)
                .optional()?;
            let Some((party_id, name, answered)) = party else {
                return Err(BackofficeError::NotFound);
            };
            if answered.is_some() {
                return Err(BackofficeError::Conflict(
                    "La risposta di questo controinteressato è già stata registrata.".into(),
                ));
            }
            let Parties { off, title, .. } = parties(conn, row)?;
            let document = canonical(&json!({
                "type": "risposta_controinteressato",
                "instance": row.id,
                "counterparty": name,
                "opposed": a.opposed,
                "text": text,
                "at": now.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            }))?;
            diesel::update(fc::table.find(party_id))
                .set((
                    fc::answered_at.eq(now),
                    fc::opposed.eq(a.opposed),
                    fc::answer_text.eq(&text),
                ))
                .execute(conn)?;
            let of = ActRef::Named {
                name: format!("foia-counterparty-answer:{position}"),
                link: Link::FoiaCounterpartyAnswer { id: party_id },
            };
            let reg = register(
                conn,
                row,
                off.aoo_id,
                now,
                Direction::In,
                name.clone(),
                None,
                if a.opposed {
                    format!("{title} – opposizione del controinteressato")
                } else {
                    format!("{title} – risposta del controinteressato")
                },
                document,
                of.clone(),
            )?;
            event(
                conn,
                id,
                now,
                &ctx.actor(),
                Event::CounterpartyAnswered {
                    position,
                    opposed: a.opposed,
                    protocol_number: reg.number(),
                    year: reg.year(),
                },
            )?;
            reg.requested(conn, row, &of, now)?;
            let waiting: i64 = fc::table
                .filter(fc::instance_id.eq(&row.id))
                .filter(fc::answered_at.is_null())
                .count()
                .get_result(conn)?;
            if to == InstanceStatus::AwaitingCounterparties && waiting == 0 {
                resume(conn, &row.id, today, "answers", now)?;
            }
            Ok(())
        },
    )
}

/// The term runs again from `resumes` (a day excluded from the suspension): the instance goes
/// back to `in_progress` with its new due date. Inside the caller's transaction; false when
/// the instance is no longer awaiting its counter-interested parties.
fn resume(
    conn: &mut DbConn,
    id: &str,
    resumes: NaiveDate,
    because: &str,
    now: NaiveDateTime,
) -> Result<bool, BackofficeError> {
    let row: InstanceRow = inst::table
        .find(id)
        .select(InstanceRow::as_select())
        .first(conn)?;
    let Ok(to) = row.status.apply(
        Transition::ResumeAfterCounterparties,
        Actor::System,
        crate::domain::Facts::default(),
    ) else {
        return Ok(false);
    };
    let n = diesel::update(fcn::table.find(id).filter(fcn::resumed_on.is_null()))
        .set((
            fcn::resumed_on.eq(resumes),
            fcn::resumed_because.eq(because),
        ))
        .execute(conn)?;
    if n == 0 {
        return Ok(false);
    }
    let mut all = counterparty_suspensions(conn, id)?;
    all.extend(integration_suspension(conn, id)?);
    let due = work::due_with(conn, &row, &all)?;
    let suspended = terms::suspended_days(&all, resumes);
    diesel::update(inst::table.find(id).filter(inst::version.eq(row.version)))
        .set((
            inst::status.eq(to.as_str()),
            inst::due_date.eq(due),
            inst::suspended_days.eq(i32::try_from(suspended).unwrap_or(i32::MAX)),
            inst::updated_at.eq(now),
            inst::version.eq(row.version + 1),
        ))
        .execute(conn)?;
    event(
        conn,
        id,
        now,
        "system",
        Event::CounterpartiesResumed {
            because: because.to_owned(),
            due_date: due,
        },
    )?;
    Ok(true)
}

/// Housekeeping (idempotent): every instance whose counter-interested parties had 10 days and
/// did not all answer has its term running again from the day after the last day.
pub fn resume_expired(conn: &mut DbConn, now: NaiveDateTime) -> anyhow::Result<usize> {
    let today = calendar::rome_date(now);
    let due: Vec<(String, NaiveDate)> = fcn::table
        .inner_join(inst::table)
        .filter(inst::status.eq(InstanceStatus::AwaitingCounterparties.as_str()))
        .filter(fcn::resumed_on.is_null())
        .filter(fcn::answer_by.lt(today))
        .select((fcn::instance_id, fcn::answer_by))
        .load(conn)?;
    let mut done = 0;
    for (id, answer_by) in due {
        let resumed = write_tx(conn, |conn| {
            resume(conn, &id, answer_by + Duration::days(1), "expiry", now)
        })
        .map_err(|e| anyhow::anyhow!("resuming {id}: {e}"))?;
        if resumed {
            done += 1;
        }
    }
    Ok(done)
}

// --- The transparency officer and the review ---------------------------------------------

/// Whether the staff member is the ente's transparency officer (RPCT).
pub fn is_rpct(conn: &mut DbConn, ente_id: i64, staff_user_id: i64) -> QueryResult<bool> {
    let officer: Option<Option<String>> = enti::table
        .find(ente_id)
        .select(enti::transparency_officer)
        .first(conn)
        .optional()?;
    let Some(officer) = officer.flatten() else {
        return Ok(false);
    };
    let n: i64 = staff_users::table
        .filter(staff_users::id.eq(staff_user_id))
        .filter(staff_users::ente_id.eq(ente_id))
        .filter(staff_users::active.eq(true))
        .filter(staff_users::username.eq(officer))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

fn rpct_only() -> BackofficeError {
    BackofficeError::Forbidden(
        "Funzione riservata al responsabile della prevenzione della corruzione e della \
         trasparenza (RPCT) dell'ente."
            .into(),
    )
}

/// Why the citizen may ask for a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewGround {
    Refused,
    PartlyGranted,
    Deferred,
    /// No answer within the term.
    NoAnswer,
}

impl ReviewGround {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::PartlyGranted => "partly_granted",
            Self::Deferred => "deferred",
            Self::NoAnswer => "no_answer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Refused,
            Self::PartlyGranted,
            Self::Deferred,
            Self::NoAnswer,
        ]
        .into_iter()
        .find(|g| g.as_str() == s)
    }

    fn label(self) -> &'static str {
        match self {
            Self::Refused => "diniego",
            Self::PartlyGranted => "accoglimento parziale",
            Self::Deferred => "differimento",
            Self::NoAnswer => "mancata risposta entro il termine",
        }
    }
}

/// The ground of a review on this instance today, or why there is none (in Italian).
fn review_ground(row: &InstanceRow, today: NaiveDate) -> Result<ReviewGround, String> {
    use InstanceStatus as S;
    match row.status {
        S::Decided | S::Closed => match row.outcome.as_deref().and_then(Outcome::parse) {
            Some(Outcome::Respinta) => Ok(ReviewGround::Refused),
            Some(Outcome::ParzialmenteAccolta) => Ok(ReviewGround::PartlyGranted),
            Some(Outcome::Differita) => Ok(ReviewGround::Deferred),
            _ => Err("La richiesta è stata accolta: il riesame non è previsto.".into()),
        },
        S::Submitted | S::InProgress if row.due_date.is_some_and(|d| d < today) => {
            Ok(ReviewGround::NoAnswer)
        }
        S::Submitted | S::InProgress | S::AwaitingIntegration | S::AwaitingCounterparties => Err(
            "Il termine per la risposta non è ancora scaduto: il riesame si può chiedere dopo un \
             diniego, un accoglimento parziale, un differimento o la mancata risposta entro il \
             termine."
                .into(),
        ),
        _ => Err("Il riesame non è previsto per una richiesta in questo stato.".into()),
    }
}

/// The citizen's request for review.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// Why the decision (or the silence) should be reviewed.
    pub reason: String,
}

/// The review's due date: 20 days from the request (a last day that is not a working day
/// moves to the next one).
fn review_due(conn: &mut DbConn, ente_id: i64, today: NaiveDate) -> QueryResult<NaiveDate> {
    let patron: Option<String> = enti::table
        .find(ente_id)
        .select(enti::patron_day)
        .first(conn)?;
    Ok(terms::due_date(
        today,
        TermRule {
            days: REVIEW_DAYS,
            unit: TermUnit::CalendarDays,
        },
        &[],
        &WorkCalendar::for_ente(patron.as_deref()),
    )
    .unwrap_or(today + Duration::days(i64::from(REVIEW_DAYS))))
}

/// The citizen asks the transparency officer for a review (once per request): an incoming
/// registration, an e-mail to the officer; the officer's term is 20 days.
pub fn request_review(
    conn: &mut DbConn,
    ente_id: i64,
    citizen_id: i64,
    id: &str,
    r: &ReviewRequest,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let reason = required_text("/reason", &r.reason, 10_000)?;
    let today = calendar::rome_date(now);
    write_tx(conn, |conn| {
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
        if !is_foia_service(conn, row.service_id)? {
            return Err(BackofficeError::Conflict(
                "Il riesame è previsto solo per le richieste di accesso (FOIA).".into(),
            ));
        }
        let asked: i64 = rv::table
            .filter(rv::instance_id.eq(&row.id))
            .count()
            .get_result(conn)?;
        if asked > 0 {
            return Err(BackofficeError::Conflict(
                "La richiesta di riesame per questa pratica è già stata presentata.".into(),
            ));
        }
        let ground = review_ground(&row, today).map_err(BackofficeError::Conflict)?;
        let due = review_due(conn, ente_id, today)?;
        let Parties { who, off, title } = parties(conn, &row)?;
        let document = canonical(&json!({
            "type": "richiesta_riesame",
            "instance": row.id,
            "ground": ground.as_str(),
            "reason": reason,
            "at": now.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        }))?;
        diesel::insert_into(rv::table)
            .values((
                rv::instance_id.eq(&row.id),
                rv::ente_id.eq(ente_id),
                rv::requested_at.eq(now),
                rv::ground.eq(ground.as_str()),
                rv::reason.eq(&reason),
                rv::due_date.eq(due),
            ))
            .execute(conn)?;
        let of = ActRef::Named {
            name: "foia-review".to_owned(),
            link: Link::FoiaReview {
                instance_id: row.id.clone(),
            },
        };
        let reg = register(
            conn,
            &row,
            off.aoo_id,
            now,
            Direction::In,
            who.register_name.clone(),
            None,
            format!("{title} – richiesta di riesame (D.Lgs. 33/2013, art. 5 c. 7)"),
            document,
            of.clone(),
        )?;
        event(
            conn,
            id,
            now,
            "citizen",
            Event::ReviewRequested {
                protocol_number: reg.number(),
                year: reg.year(),
                due_date: due,
            },
        )?;
        let officer: Option<String> = enti::table
            .inner_join(
                staff_users::table.on(staff_users::ente_id
                    .eq(enti::id)
                    .and(enti::transparency_officer.eq(staff_users::username.nullable()))),
            )
            .filter(enti::id.eq(ente_id))
            .select(staff_users::email)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten();
        let mut keys = Vec::new();
        reg.hold_or_queue(
            conn,
            ente_id,
            &mut keys,
            format!("foia-review:{}", row.id),
            officer.as_deref(),
            format!(
                "Richiesta di riesame – {title} – Prot. n. {}",
                reg.number_text()
            ),
            format!(
                "È stata presentata una richiesta di riesame (D.Lgs. 33/2013, art. 5 c. 7) per la \
                 pratica «{title}» (identificativo {}), dopo {}.\n\n- Protocollo n. {} del {}\n\
                 - Da decidere entro: {}\n",
                row.id,
                ground.label(),
                reg.number_text(),
                reg.date_text(),
                due.format("%d/%m/%Y"),
            ),
        )?;
        queued(conn, id, now, keys)?;
        reg.requested(conn, &row, &of, now)?;
        Ok(())
    })
}

/// The transparency officer's decision on a review.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// `accolta`: access granted after all; `respinta`: the refusal is confirmed.
    pub outcome: Outcome,
    /// Required unless the outcome is `accolta`.
    #[serde(default)]
    pub foia_limit: Option<FoiaLimit>,
    /// The motivation, for the citizen.
    pub motivation: String,
}

/// The officer decides (once): an outgoing registration to the applicant, an e-mail.
pub fn decide_review(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    id: &str,
    d: &ReviewDecision,
    link: MailLink<'_>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    write_tx(conn, |conn| {
        if !is_rpct(conn, ente_id, staff_user_id)? {
            return Err(rpct_only());
        }
        let motivation = required_text("/motivation", &d.motivation, 20_000)?;
        check_limit(d.outcome, d.foia_limit)?;
        let decided: Option<Option<NaiveDateTime>> = rv::table
            .find(id)
            .filter(rv::ente_id.eq(ente_id))
            .select(rv::decided_at)
            .first(conn)
            .optional()?;
        match decided {
            None => return Err(BackofficeError::NotFound),
            Some(Some(_)) => {
                return Err(BackofficeError::Conflict(
                    "Il riesame di questa pratica è già stato deciso.".into(),
                ))
            }
            Some(None) => {}
        }
        let row: InstanceRow = inst::table
            .find(id)
            .select(InstanceRow::as_select())
            .first(conn)?;
        let username: String = staff_users::table
            .find(staff_user_id)
            .select(staff_users::username)
            .first(conn)?;
        let Parties { who, off, title } = parties(conn, &row)?;
        let document = canonical(&json!({
            "type": "decisione_riesame",
            "instance": row.id,
            "outcome": d.outcome,
            "foia_limit": d.foia_limit,
            "motivation": motivation,
        }))?;
        diesel::update(rv::table.find(id))
            .set((
                rv::decided_at.eq(now),
                rv::decided_by.eq(staff_user_id),
                rv::outcome.eq(d.outcome.as_str()),
                rv::decision_limit.eq(d.foia_limit.map(FoiaLimit::as_str)),
                rv::motivation.eq(&motivation),
            ))
            .execute(conn)?;
        let of = ActRef::Named {
            name: "foia-review-decision".to_owned(),
            link: Link::FoiaReviewDecision {
                instance_id: row.id.clone(),
            },
        };
        let reg = register(
            conn,
            &row,
            off.aoo_id,
            now,
            Direction::Out,
            "Responsabile della prevenzione della corruzione e della trasparenza".to_owned(),
            Some(who.register_name.clone()),
            format!("{title} – decisione sulla richiesta di riesame"),
            document,
            of.clone(),
        )?;
        event(
            conn,
            id,
            now,
            &format!("staff:{username}"),
            Event::ReviewDecided {
                outcome: d.outcome,
                protocol_number: reg.number(),
                year: reg.year(),
            },
        )?;
        let verdict = match d.outcome {
            Outcome::Accolta => "accolta: l'accesso è consentito",
            Outcome::ParzialmenteAccolta => "parzialmente accolta",
            Outcome::Respinta => "respinta: il diniego è confermato",
            Outcome::Differita => "respinta: il differimento è confermato",
        };
        let mut keys = Vec::new();
        reg.hold_or_queue(
            conn,
            ente_id,
            &mut keys,
            format!("foia-review-decision:{}", row.id),
            who.email.as_deref(),
            format!(
                "Esito del riesame – {title} – Prot. n. {} del {}",
                reg.number_text(),
                reg.date_text()
            ),
            format!(
                "Gentile {},\n\nla sua richiesta di riesame per la pratica «{title}» è stata \
                 {verdict}.\n\nMotivazione:\n{motivation}\n{}\nContro la decisione può ricorrere \
                 al TAR (art. 116 c.p.a.) o, per gli atti di comuni, al difensore civico \
                 competente.\n\n{}",
                who.display,
                d.foia_limit
                    .map(|l| format!("\nLimite applicato: {}\n", l.label()))
                    .unwrap_or_default(),
                work::footer(link.0)
            ),
        )?;
        // The office that holds the data acts on the outcome (grants the access).
        reg.hold_or_queue(
            conn,
            ente_id,
            &mut keys,
            format!("foia-review-decision-office:{}", row.id),
            off.email.as_deref(),
            format!("Riesame deciso – {title} – Prot. n. {}", reg.number_text()),
            format!(
                "Il responsabile della trasparenza ha deciso la richiesta di riesame della pratica \
                 «{title}» (identificativo {}): {verdict}.\n\n- Protocollo n. {} del {}\n",
                row.id,
                reg.number_text(),
                reg.date_text(),
            ),
        )?;
        queued(conn, id, now, keys)?;
        reg.requested(conn, &row, &of, now)?;
        Ok(())
    })
}

// --- The public subject line --------------------------------------------------------------

/// The subject line staff wants the register to show.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicSubject {
    /// 3–300 characters, without personal data (no names, codici fiscali, e-mail
    /// addresses). `null` goes back to the neutral default.
    pub subject: Option<String>,
}

/// Whether a word looks like a codice fiscale (16 letters and digits in its pattern).
fn looks_like_codice_fiscale(word: &str) -> bool {
    // Positions of the date and the place code: digits, or their omocodia letters.
    const NUMERIC: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
    let w: Vec<char> = word.chars().map(|c| c.to_ascii_uppercase()).collect();
    w.len() == 16
        && w.iter().all(char::is_ascii_alphanumeric)
        && w[..6].iter().all(char::is_ascii_alphabetic)
        && NUMERIC
            .iter()
            .all(|&i| w[i].is_ascii_digit() || "LMNPQRSTUV".contains(w[i]))
        && NUMERIC.iter().any(|&i| w[i].is_ascii_digit())
        && "ABCDEHLMPRST".contains(w[8])
        && w[11].is_ascii_alphabetic()
        && w[15].is_ascii_alphabetic()
}

/// Whether a codice fiscale is anywhere in `text`, glued to other letters or not.
fn contains_codice_fiscale(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|run| run.len() >= 16)
        .any(|run| (0..=run.len() - 16).any(|k| looks_like_codice_fiscale(&run[k..k + 16])))
}

/// The personal data a public subject line must not carry: the applicant's names and codice
/// fiscale, the counter-interested parties' names, any e-mail address or codice fiscale. The
/// message says what was found.
pub fn personal_data_in(subject: &str, names: &[&str], parties: &[&str]) -> Option<&'static str> {
    if subject.contains('@') {
        return Some("un indirizzo e-mail");
    }
    if contains_codice_fiscale(subject) {
        return Some("un codice fiscale");
    }
    let lower = subject.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    let named = |list: &[&str]| {
        list.iter().any(|n| {
            n.to_lowercase()
                .split(|c: char| !c.is_alphanumeric() && c != '\'')
                .any(|part| part.chars().count() >= 3 && words.contains(&part))
        })
    };
    if named(names) {
        return Some("il nome del richiedente");
    }
    if named(parties) {
        return Some("il nome di un controinteressato");
    }
    None
}

/// Who may see and edit an instance's FOIA record: the operators of its office, the ente's
/// administrators, and the transparency officer.
fn load_foia_for_staff(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    id: &str,
) -> Result<(InstanceRow, bool), BackofficeError> {
    let row: InstanceRow = inst::table
        .find(id)
        .filter(inst::ente_id.eq(ente_id))
        .select(InstanceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    if row.status.is_draft() || !is_foia_service(conn, row.service_id)? {
        return Err(BackofficeError::NotFound);
    }
    let rpct = is_rpct(conn, ente_id, staff_user_id)?;
    if !rpct {
        let ctx = work::staff_ctx(conn, ente_id, staff_user_id)?;
        if !ctx.works_in(row.office_id) {
            return Err(BackofficeError::NotFound);
        }
    }
    Ok((row, rpct))
}

/// Sets (or resets with `None`) the subject line of the public register.
pub fn set_public_subject(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    id: &str,
    subject: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let subject = subject.map(str::trim).map(str::to_owned);
    if let Some(s) = &subject {
        let n = s.chars().count();
        if !(3..=300).contains(&n) {
            return Err(bad(
                "/subject",
                "L'oggetto pubblico deve avere da 3 a 300 caratteri.",
            ));
        }
    }
    write_tx(conn, |conn| {
        let (row, _) = load_foia_for_staff(conn, ente_id, staff_user_id, id)?;
        if let Some(s) = &subject {
            let (cf, given, family): (String, Option<String>, Option<String>) = citizens::table
                .find(row.citizen_id)
                .select((
                    citizens::codice_fiscale,
                    citizens::given_name,
                    citizens::family_name,
                ))
                .first(conn)?;
            let names: Vec<&str> = [Some(cf.as_str()), given.as_deref(), family.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            let parties: Vec<String> = fc::table
                .filter(fc::instance_id.eq(&row.id))
                .select(fc::name)
                .load(conn)?;
            let parties: Vec<&str> = parties.iter().map(String::as_str).collect();
            if let Some(what) = personal_data_in(s, &names, &parties) {
                return Err(bad(
                    "/subject",
                    &format!(
                        "L'oggetto pubblico non può contenere dati personali: contiene {what}."
                    ),
                ));
            }
        }
        ensure_record(conn, &row, now)?;
        diesel::update(fr::table.find(&row.id))
            .set((
                fr::public_subject.eq(&subject),
                fr::subject_edited_by.eq(subject.as_ref().map(|_| staff_user_id)),
                fr::subject_edited_at.eq(subject.as_ref().map(|_| now)),
                fr::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

// --- Views ---------------------------------------------------------------------------------

/// A counter-interested party, as the office sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CounterpartyView {
    pub position: i32,
    pub name: String,
    pub address: Option<String>,
    pub email: Option<String>,
    /// The outgoing registration of the notice; absent while the AOO's external register has
    /// not numbered it (the instance shows "in attesa di protocollazione").
    pub protocol_number: Option<String>,
    #[schema(format = DateTime)]
    pub answered_at: Option<String>,
    pub opposed: Option<bool>,
    pub answer_text: Option<String>,
}

/// The suspension for the counter-interested parties.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CounterpartySuspension {
    /// The term is suspended from this day …
    pub suspended_from: NaiveDate,
    /// … until every party answered, or at the latest this day (included).
    pub answer_by: NaiveDate,
    /// The day the term ran again, once it did.
    pub resumed_on: Option<NaiveDate>,
    /// `answers` or `expiry`.
    pub resumed_because: Option<String>,
    /// How many parties were notified, and how many answered.
    pub notified: i64,
    pub answered: i64,
}

/// The review (riesame).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewView {
    pub ground: ReviewGround,
    #[schema(format = DateTime)]
    pub requested_at: String,
    /// The reasons the citizen gave.
    pub reason: String,
    /// The transparency officer decides by this day (20 days).
    pub due_date: NaiveDate,
    /// Days left to the due date while undecided (negative when late).
    pub days_left: Option<i64>,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    pub outcome: Option<Outcome>,
    pub foia_limit: Option<FoiaLimit>,
    pub motivation: Option<String>,
}

/// The FOIA side of one instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FoiaView {
    pub instance_id: String,
    pub kind: FoiaKind,
    pub status: InstanceStatus,
    pub due_date: Option<NaiveDate>,
    pub outcome: Option<Outcome>,
    pub foia_limit: Option<FoiaLimit>,
    pub counterparties: Option<CounterpartySuspension>,
    /// The parties themselves (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterparty_list: Option<Vec<CounterpartyView>>,
    /// The subject line of the public register (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_subject: Option<String>,
    /// Whether staff wrote it (else it is the neutral default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_subject_edited: Option<bool>,
    /// Why a review may be asked now (citizen: when none was asked yet).
    pub review_ground: Option<ReviewGround>,
    pub review: Option<ReviewView>,
}

fn neutral_subject(title: &str, kind: FoiaKind) -> String {
    format!("{title} – {}", kind.label())
}

fn foia_view(
    conn: &mut DbConn,
    row: &InstanceRow,
    staff: bool,
    today: NaiveDate,
) -> Result<FoiaView, BackofficeError> {
    let kind = FoiaKind::of_data(&row.data_value());
    let record: Option<(Option<String>, Option<String>)> = fr::table
        .find(&row.id)
        .select((fr::public_subject, fr::decision_limit))
        .first(conn)
        .optional()?;
    let (subject, limit) = record.unwrap_or_default();
    let notice: Option<(NaiveDate, NaiveDate, Option<NaiveDate>, Option<String>)> = fcn::table
        .find(&row.id)
        .select((
            fcn::suspended_from,
            fcn::answer_by,
            fcn::resumed_on,
            fcn::resumed_because,
        ))
        .first(conn)
        .optional()?;
    type PartyRow = (
        i32,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<NaiveDateTime>,
        Option<bool>,
        Option<String>,
    );
    let party_rows: Vec<PartyRow> = fc::table
        .left_join(pr::table.on(pr::id.nullable().eq(fc::registration_id)))
        .filter(fc::instance_id.eq(&row.id))
        .order(fc::position)
        .select((
            fc::position,
            fc::name,
            fc::address,
            fc::email,
            pr::number.nullable(),
            fc::answered_at,
            fc::opposed,
            fc::answer_text,
        ))
        .load(conn)?;
    let counterparties = notice.map(|(from, by, resumed, because)| CounterpartySuspension {
        suspended_from: from,
        answer_by: by,
        resumed_on: resumed,
        resumed_because: because,
        notified: i64::try_from(party_rows.len()).unwrap_or(i64::MAX),
        answered: i64::try_from(party_rows.iter().filter(|p| p.5.is_some()).count())
            .unwrap_or(i64::MAX),
    });
    let review = review_view(conn, &row.id, today)?;
    let title: String = services::table
        .find(row.service_id)
        .select(services::title)
        .first(conn)?;
    let ground = if review.is_none() {
        review_ground(row, today).ok()
    } else {
        None
    };
    Ok(FoiaView {
        instance_id: row.id.clone(),
        kind,
        status: row.status,
        due_date: row.due_date,
        outcome: row.outcome.as_deref().and_then(Outcome::parse),
        foia_limit: limit.as_deref().and_then(FoiaLimit::parse),
        counterparties,
        counterparty_list: staff.then(|| {
            party_rows
                .into_iter()
                .map(|p| CounterpartyView {
                    position: p.0,
                    name: p.1,
                    address: p.2,
                    email: p.3,
                    protocol_number: p.4.map(|n| {
                        crate::domain::protocol_number::ProtocolNumber::new(n)
                            .map(|n| n.to_string())
                            .unwrap_or_else(|_| n.to_string())
                    }),
                    answered_at: p.5.map(iso),
                    opposed: p.6,
                    answer_text: p.7,
                })
                .collect()
        }),
        public_subject_edited: staff.then_some(subject.is_some()),
        public_subject: staff.then(|| subject.unwrap_or_else(|| neutral_subject(&title, kind))),
        review_ground: ground,
        review,
    })
}

type ReviewRow = (
    String,
    NaiveDateTime,
    String,
    NaiveDate,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn review_view(
    conn: &mut DbConn,
    id: &str,
    today: NaiveDate,
) -> Result<Option<ReviewView>, BackofficeError> {
    let r: Option<ReviewRow> = rv::table
        .find(id)
        .select((
            rv::ground,
            rv::requested_at,
            rv::reason,
            rv::due_date,
            rv::decided_at,
            rv::outcome,
            rv::decision_limit,
            rv::motivation,
        ))
        .first(conn)
        .optional()?;
    let Some((ground, requested_at, reason, due, decided_at, outcome, limit, motivation)) = r
    else {
        return Ok(None);
    };
    let ground = ReviewGround::parse(&ground)
        .ok_or_else(|| anyhow::anyhow!("foia_reviews.ground `{ground}` is unknown"))?;
    Ok(Some(ReviewView {
        ground,
        requested_at: iso(requested_at),
        reason,
        due_date: due,
        days_left: decided_at.is_none().then(|| (due - today).num_days()),
        decided_at: decided_at.map(iso),
        outcome: outcome.as_deref().and_then(Outcome::parse),
        foia_limit: limit.as_deref().and_then(FoiaLimit::parse),
        motivation,
    }))
}

/// The FOIA side of an instance for staff of its office, an administrator or the RPCT.
pub fn staff_foia_view(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    id: &str,
    today: NaiveDate,
) -> Result<FoiaView, BackofficeError> {
    let (row, _) = load_foia_for_staff(conn, ente_id, staff_user_id, id)?;
    foia_view(conn, &row, true, today)
}

/// The FOIA side of the citizen's own request (no counter-interested party named).
pub fn citizen_foia_view(
    conn: &mut DbConn,
    ente_id: i64,
    citizen_id: i64,
    id: &str,
    today: NaiveDate,
) -> Result<FoiaView, BackofficeError> {
    let row: InstanceRow = inst::table
        .find(id)
        .filter(inst::ente_id.eq(ente_id))
        .filter(inst::citizen_id.eq(citizen_id))
        .select(InstanceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    if row.status.is_draft() || !is_foia_service(conn, row.service_id)? {
        return Err(BackofficeError::NotFound);
    }
    foia_view(conn, &row, false, today)
}

/// One review in the transparency officer's list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewItem {
    pub instance_id: String,
    pub service_title: String,
    pub review: ReviewView,
}

/// The reviews of the ente, undecided first (by due date), for the transparency officer.
pub fn reviews_for_rpct(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    today: NaiveDate,
) -> Result<Vec<ReviewItem>, BackofficeError> {
    if !is_rpct(conn, ente_id, staff_user_id)? {
        return Err(rpct_only());
    }
    let rows: Vec<(String, String, Option<NaiveDateTime>, NaiveDate)> = rv::table
        .inner_join(inst::table.inner_join(services::table))
        .filter(rv::ente_id.eq(ente_id))
        .select((
            rv::instance_id,
            services::title,
            rv::decided_at,
            rv::due_date,
        ))
        .load(conn)?;
    let mut rows = rows;
    rows.sort_by_key(|r| (r.2.is_some(), r.3, r.0.clone()));
    let mut out = Vec::with_capacity(rows.len());
    for (id, title, _, _) in rows.into_iter().take(500) {
        if let Some(review) = review_view(conn, &id, today)? {
            out.push(ReviewItem {
                instance_id: id,
                service_title: title,
                review,
            });
        }
    }
    Ok(out)
}

// --- The public register -----------------------------------------------------------------

/// Where a request stands, as the register says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegisterStatus {
    /// Not decided yet.
    Pending,
    Decided,
    /// Withdrawn by the applicant.
    Withdrawn,
}

impl RegisterStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Decided => "decided",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// One request in the register degli accessi. No personal data: no applicant, no
/// counter-interested party, no free text of the citizen or of the office.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FoiaRegisterEntry {
    /// The protocol number of the request (`NNNNNNN`), when registered.
    pub protocol_number: Option<String>,
    pub kind: FoiaKind,
    /// The neutral subject line, or the one the office wrote for the register.
    pub subject: String,
    /// Italian date of the request.
    pub requested_on: NaiveDate,
    /// Whether counter-interested parties were notified.
    pub counterparties: bool,
    pub status: RegisterStatus,
    pub outcome: Option<Outcome>,
    /// Italian date of the decision.
    pub decided_on: Option<NaiveDate>,
    /// The short motivation: the art. 5-bis limit cited (none for a full grant).
    pub motivation: Option<String>,
    /// Whether a review (riesame) was requested.
    pub review_requested: bool,
    pub review_outcome: Option<Outcome>,
    pub review_decided_on: Option<NaiveDate>,
}

/// The register of one ente and year.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FoiaRegister {
    pub ente: EnteRef,
    /// Year of the requests (Italian date of submission).
    pub year: i32,
    pub entries: Vec<FoiaRegisterEntry>,
}

type RegisterRow = (
    String,
    String,
    String,
    NaiveDateTime,
    Option<i64>,
    Option<String>,
    Option<NaiveDateTime>,
);

/// Every request of the ente's FOIA services submitted in `year` (annulled ones excluded), in
/// order of submission.
pub fn public_register(
    conn: &mut DbConn,
    ente: EnteRef,
    ente_id: i64,
    year: i32,
) -> Result<FoiaRegister, BackofficeError> {
    let from = crate::domain::calendar::rome_day_start_utc(
        NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(|| bad("/year", "Anno non valido."))?,
    );
    let to = crate::domain::calendar::rome_day_start_utc(
        NaiveDate::from_ymd_opt(year + 1, 1, 1).ok_or_else(|| bad("/year", "Anno non valido."))?,
    );
    let rows: Vec<RegisterRow> = inst::table
        .inner_join(services::table)
        .left_join(pr::table.on(pr::id.nullable().eq(inst::registration_id)))
        .filter(inst::ente_id.eq(ente_id))
        .filter(services::procedure_kind.eq(ProcedureKind::Foia.as_str()))
        .filter(inst::status.ne(InstanceStatus::Draft.as_str()))
        .filter(inst::status.ne(InstanceStatus::Annulled.as_str()))
        .filter(inst::submitted_at.ge(from))
        .filter(inst::submitted_at.lt(to))
        .order((inst::submitted_at.asc(), inst::id.asc()))
        .select((
            inst::id,
            inst::status,
            services::title,
            inst::submitted_at.assume_not_null(),
            pr::number.nullable(),
            inst::outcome,
            inst::decided_at,
        ))
        .load(conn)?;
    let mut entries = Vec::with_capacity(rows.len());
    for (id, status, title, submitted_at, number, outcome, decided_at) in rows {
        let data: String = inst::table.find(&id).select(inst::data).first(conn)?;
        let kind = FoiaKind::of_data(&serde_json::from_str(&data).unwrap_or(Value::Null));
        let record: Option<(Option<String>, Option<String>)> = fr::table
            .find(&id)
            .select((fr::public_subject, fr::decision_limit))
            .first(conn)
            .optional()?;
        let (subject, limit) = record.unwrap_or_default();
        let notified: i64 = fcn::table
            .filter(fcn::instance_id.eq(&id))
            .count()
            .get_result(conn)?;
        let review: Option<(Option<String>, Option<NaiveDateTime>)> = rv::table
            .find(&id)
            .select((rv::outcome, rv::decided_at))
            .first(conn)
            .optional()?;
        let status = match InstanceStatus::parse(&status) {
            Ok(InstanceStatus::Withdrawn) => RegisterStatus::Withdrawn,
            Ok(InstanceStatus::Decided | InstanceStatus::Closed) if outcome.is_some() => {
                RegisterStatus::Decided
            }
            _ => RegisterStatus::Pending,
        };
        let outcome = outcome.as_deref().and_then(Outcome::parse);
        entries.push(FoiaRegisterEntry {
            protocol_number: number
                .and_then(|n| crate::domain::protocol_number::ProtocolNumber::new(n).ok())
                .map(|n| n.to_string()),
            kind,
            subject: subject.unwrap_or_else(|| neutral_subject(&title, kind)),
            requested_on: calendar::rome_date(submitted_at),
            counterparties: notified > 0,
            status,
            outcome,
            decided_on: decided_at.map(calendar::rome_date),
            motivation: match outcome {
                Some(Outcome::Accolta) | None => None,
                Some(_) => limit
                    .as_deref()
                    .and_then(FoiaLimit::parse)
                    .map(|l| l.label().to_owned()),
            },
            review_requested: review.is_some(),
            review_outcome: review
                .as_ref()
                .and_then(|r| r.0.as_deref())
                .and_then(Outcome::parse),
            review_decided_on: review.and_then(|r| r.1).map(calendar::rome_date),
        });
    }
    Ok(FoiaRegister {
        ente,
        year,
        entries,
    })
}

impl FoiaRegister {
    /// The CSV columns, in order (documented in docs/foia.md).
    pub const CSV_HEADER: [&'static str; 12] = [
        "protocol_number",
        "kind",
        "subject",
        "requested_on",
        "counterparties",
        "status",
        "outcome",
        "decided_on",
        "motivation",
        "review_requested",
        "review_outcome",
        "review_decided_on",
    ];

    /// The register as CSV: a header row, one row per request.
    pub fn to_csv(&self) -> anyhow::Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(Self::CSV_HEADER)?;
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        let outcome = |o: Option<Outcome>| o.map(|o| o.as_str().to_owned()).unwrap_or_default();
        for e in &self.entries {
            w.write_record([
                e.protocol_number.clone().unwrap_or_default(),
                e.kind.as_str().to_owned(),
                e.subject.clone(),
                e.requested_on.to_string(),
                e.counterparties.to_string(),
                e.status.as_str().to_owned(),
                outcome(e.outcome),
                date(e.decided_on),
                e.motivation.clone().unwrap_or_default(),
                e.review_requested.to_string(),
                outcome(e.review_outcome),
                date(e.review_decided_on),
            ])?;
        }
        let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("CSV: {e}"))?;
        Ok(String::from_utf8(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_reads_back_and_cites_art_5_bis() {
        for l in FoiaLimit::ALL {
            assert_eq!(FoiaLimit::parse(l.as_str()), Some(l));
            assert_eq!(serde_json::to_value(l).unwrap(), Value::from(l.as_str()));
            assert!(l.label().starts_with("Art. 5-bis c. "), "{l:?}");
        }
        assert_eq!(FoiaLimit::parse("c1_h"), None);
        assert!(serde_json::from_value::<FoiaLimit>(json!("c4")).is_err());
    }

    #[test]
    fn refusal_partial_and_deferral_need_a_limit_a_full_grant_none() {
        for o in [
            Outcome::Respinta,
            Outcome::ParzialmenteAccolta,
            Outcome::Differita,
        ] {
            assert!(
                matches!(check_limit(o, None), Err(BackofficeError::Invalid(e)) if e[0].pointer == "/foia_limit")
            );
            assert!(check_limit(o, Some(FoiaLimit::C2A)).is_ok());
        }
        assert!(check_limit(Outcome::Accolta, None).is_ok());
        assert!(check_limit(Outcome::Accolta, Some(FoiaLimit::C1A)).is_err());
    }

    fn row(
        status: InstanceStatus,
        outcome: Option<Outcome>,
        due: Option<NaiveDate>,
    ) -> InstanceRow {
        let at = NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        InstanceRow {
            id: "i".into(),
            ente_id: 1,
            service_id: 1,
            form_id: 1,
            citizen_id: 1,
            status,
            data: "{}".into(),
            created_at: at,
            updated_at: at,
            expires_at: None,
            submitted_at: Some(at),
            office_id: Some(1),
            document: None,
            document_digest: None,
            registration_id: None,
            due_date: due,
            submit_key: None,
            version: 1,
            assignee_id: None,
            outcome: outcome.map(|o| o.as_str().to_owned()),
            decided_at: outcome.map(|_| at),
            closed_at: None,
            suspended_days: 0,
            integration_expired: false,
            rated: false,
        }
    }

    #[test]
    fn a_review_follows_a_refusal_partial_grant_deferral_or_silence_past_the_term() {
        use InstanceStatus as S;
        let today = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
        let past = Some(NaiveDate::from_ymd_opt(2027, 1, 9).unwrap());
        let future = Some(today);
        for (status, outcome, expected) in [
            (S::Decided, Outcome::Respinta, ReviewGround::Refused),
            (S::Closed, Outcome::Respinta, ReviewGround::Refused),
            (
                S::Decided,
                Outcome::ParzialmenteAccolta,
                ReviewGround::PartlyGranted,
            ),
            (S::Decided, Outcome::Differita, ReviewGround::Deferred),
        ] {
            assert_eq!(
                review_ground(&row(status, Some(outcome), past), today),
                Ok(expected)
            );
        }
        assert!(review_ground(&row(S::Decided, Some(Outcome::Accolta), past), today).is_err());
        assert_eq!(
            review_ground(&row(S::InProgress, None, past), today),
            Ok(ReviewGround::NoAnswer)
        );
        assert_eq!(
            review_ground(&row(S::Submitted, None, past), today),
            Ok(ReviewGround::NoAnswer)
        );
        // The due date itself is still within the term; a suspended term has not run out.
        assert!(review_ground(&row(S::InProgress, None, future), today).is_err());
        assert!(review_ground(&row(S::AwaitingCounterparties, None, past), today).is_err());
        assert!(review_ground(&row(S::AwaitingIntegration, None, past), today).is_err());
        assert!(review_ground(&row(S::Withdrawn, None, past), today).is_err());
    }

    #[test]
    fn the_kind_comes_from_the_data_with_generalizzato_by_default() {
        assert_eq!(FoiaKind::of_data(&json!({})), FoiaKind::Generalizzato);
        assert_eq!(
            FoiaKind::of_data(&json!({"tipo_accesso": "documentale"})),
            FoiaKind::Documentale
        );
        assert_eq!(
            FoiaKind::of_data(&json!({"tipo_accesso": "semplice"})),
            FoiaKind::Semplice
        );
    }

    #[test]
    fn a_public_subject_with_personal_data_is_found() {
        let names = ["RSSMRA85T10A562S", "Mario", "Rossi"];
        let parties = ["Associazione Sportiva Esempio", "Giovanna Verdi"];
        let personal_data_in = |s: &str, n: &[&str]| super::personal_data_in(s, n, &parties);
        assert_eq!(
            personal_data_in("Esposto della sig.ra Verdi", &names),
            Some("il nome di un controinteressato")
        );
        // Glued to other text, or with omocodia letters, it is still a codice fiscale; a long
        // word is not one.
        assert_eq!(
            personal_data_in("Atti cf:BNCLRA80A41H501Dx", &names),
            Some("un codice fiscale")
        );
        assert_eq!(
            personal_data_in("Atti di BNCLRA80A41H5QMD", &names),
            Some("un codice fiscale")
        );
        assert_eq!(
            personal_data_in("Richieste contemporaneamente pervenute", &names),
            None
        );
        assert_eq!(
            personal_data_in("Contributi alle associazioni sportive 2024-2025", &names),
            None
        );
        assert_eq!(
            personal_data_in("Richiesta di mario.rossi@example.org", &names),
            Some("un indirizzo e-mail")
        );
        assert_eq!(
            personal_data_in("Atti di BNCLRA80A41H501D", &names),
            Some("un codice fiscale")
        );
        assert_eq!(
            personal_data_in("Pratica edilizia del sig. Rossi", &names),
            Some("il nome del richiedente")
        );
        // A name inside another word is not the name.
        assert_eq!(personal_data_in("Rossiglione: delibere", &names), None);
    }
}
