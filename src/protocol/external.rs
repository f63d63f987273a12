//! External protocol systems (issue #12 §5): an AOO whose register is kept by another system
//! (the comune's existing protocol software) rather than by Sportello.
//!
//! The submission commits as with the built-in register, but instead of a number it writes a
//! `protocol_requests` row and an outbox job (kind [`KIND_PROTOCOL_REQUEST`], dedupe key
//! `protocol-request:<idempotency key>`) in the same transaction. The outbox worker delivers
//! the request through the AOO's adapter (one [`ExternalRegister`] per kind of system); when
//! the number comes back, [`record`] writes it as a registration marked with the system, links
//! the instance and queues the receipt and the office notice — once: the request row is the
//! key, and a second answer for it (a retry, an answer read twice) is a no-op.
//!
//! The idempotency key the external system sees is `<instance id>:submission`: a retry after
//! a crash (the system registered, Sportello did not commit the answer) sends the same key and
//! a conforming system answers the same number.
//!
//! A permanent failure (the system refused the request) leaves the request `failed` and the
//! outbox job `dead`, which administrators see in the outbox list and put back with its retry.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::{aoo, instances, protocol_requests as preq};
use crate::db::{now, write_tx, DbConn};
use crate::domain::protocol_number::ProtocolNumber;
use crate::instances::submit::Notices;
use crate::instances::{iso_rome, record_events, Event};
use crate::notify::{enqueue_emails, enqueue_job, SendError};
use crate::protocol::{self, NewRegistration};
use crate::storage::BlobStore;

/// What the citizen and the office see until the external system answers.
pub const PENDING_TEXT: &str = "in attesa di protocollazione";

/// The outbox job that delivers a registration request.
pub const KIND_PROTOCOL_REQUEST: &str = "protocol-request";

/// How an AOO's external system is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adapter {
    /// The JSON contract of `docs/protocol-rest.openapi.yaml`.
    Rest,
    /// AOO-to-AOO interoperability by e-mail/PEC (AgID guidelines, Allegato 6).
    Pec,
}

impl Adapter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Pec => "pec",
        }
    }
}

/// An AOO's external system and its parameters, as the bundle gives them (`[aoo.external]`)
/// and `aoo.external` stores them (JSON). Secrets are files named here, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "adapter", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExternalConfig {
    Rest {
        /// The service's base URL; requests go to `<base_url>/registrations`.
        base_url: String,
        /// A file holding the bearer token (trailing white space ignored).
        token_file: Option<PathBuf>,
        /// Seconds to wait for an answer.
        #[serde(default = "default_timeout")]
        timeout_secs: u64,
    },
    Pec {
        /// The protocol system's mailbox (its PEC address for interoperability).
        protocol_address: String,
        /// Sportello's sending address (the AOO's PEC mailbox Sportello writes from).
        from_address: String,
        imap_host: String,
        imap_port: u16,
        /// How the IMAP connection is protected: `tls` (implicit TLS, port 993: what PEC
        /// providers offer; the default), `starttls` (port 143 upgraded), or `plain` (only
        /// for a mailbox on the same machine or behind a TLS-terminating tunnel).
        #[serde(default)]
        imap_security: ImapSecurity,
        /// A PEM file of certificate authorities to trust besides the system's (a private
        /// mail server's); the server's name is always checked against its certificate.
        #[serde(default)]
        imap_ca_file: Option<PathBuf>,
        imap_user: String,
        imap_password_file: PathBuf,
        #[serde(default = "default_mailbox")]
        imap_mailbox: String,
    },
}

/// See `ExternalConfig::Pec::imap_security`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapSecurity {
    #[default]
    Tls,
    Starttls,
    Plain,
}

fn default_timeout() -> u64 {
    30
}

fn default_mailbox() -> String {
    "INBOX".to_owned()
}

impl ExternalConfig {
    pub fn adapter(&self) -> Adapter {
        match self {
            Self::Rest { .. } => Adapter::Rest,
            Self::Pec { .. } => Adapter::Pec,
        }
    }

    /// Plausibility checks at bundle load (the files are read when used).
    pub fn check(&self) -> anyhow::Result<()> {
        match self {
            Self::Rest { base_url, .. } => {
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    anyhow::bail!("external.base_url must be an http(s) URL");
                }
            }
            Self::Pec {
                protocol_address,
                from_address,
                imap_host,
                imap_security,
                ..
            } => {
                let local = ["127.0.0.1", "::1", "localhost"].contains(&imap_host.as_str());
                if *imap_security == ImapSecurity::Plain && !local {
                    anyhow::bail!(
                        "external.imap_security = \"plain\" would send the mailbox's password in \
                         clear to {imap_host}: use \"tls\" or \"starttls\" (plain is for a \
                         mailbox on this machine)"
                    );
                }
                for (name, a) in [
                    ("protocol_address", protocol_address),
                    ("from_address", from_address),
                ] {
                    crate::domain::email::Email::parse(a)
                        .map_err(|e| anyhow::anyhow!("external.{name}: {e}"))?;
                }
            }
        }
        Ok(())
    }
}

/// The adapter of an AOO (None for the built-in register) from its stored columns.
pub fn adapter_of(register: &str, external: Option<&str>) -> anyhow::Result<Option<Adapter>> {
    match (register, external) {
        ("builtin", _) => Ok(None),
        ("external", Some(json)) => Ok(Some(
            serde_json::from_str::<ExternalConfig>(json)
                .context("aoo.external")?
                .adapter(),
        )),
        (other, _) => anyhow::bail!("aoo.register `{other}` without its external system"),
    }
}

/// What a request carries: the registration to write once numbered, and what follows the
/// number — the submission's receipt and office notice, or a later act's e-mails.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestPayload {
    pub registration: NewRegistration,
    /// The submission's receipt and office notice (a submission's request).
    #[serde(default)]
    pub notices: Option<Notices>,
    /// A later registration of the instance (a request for integration, its answer, the
    /// decision, a withdrawal): the message it registers and its e-mails.
    #[serde(default)]
    pub follow_up: Option<FollowUp>,
}

/// A later registration of an instance whose AOO has an external register: the act is done
/// at once (the message is written, the term suspended, the decision taken), its number comes
/// when the system answers, and the e-mails that quote the number wait for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowUp {
    /// The `instance_messages` row the registration belongs to (an act carried by a message).
    #[serde(default)]
    pub message_id: Option<i64>,
    /// Any other act of the instance: its name in the idempotency key (`<instance>:<act>`,
    /// for example `foia-counterparty:2`) and in the history's `act_registered`.
    #[serde(default)]
    pub act: Option<String>,
    /// The row that names the registration once numbered (a FOIA act's), or the booking a
    /// booking's registration is for.
    #[serde(default)]
    pub link: Option<Link>,
    /// The primary document when it is the act's frozen JSON (RFC 8785) text.
    pub document: Option<String>,
    /// The primary document when it is an uploaded file (`instance_documents` id: the
    /// decision's reply PDF, whose SHA-256 is the registered digest).
    pub primary_document: Option<String>,
    /// The texts that stand for the number and the Italian date in `emails` until they are
    /// known (random, so no citizen's or operator's text can contain them).
    pub placeholders: Placeholders,
    /// Outbox key and e-mail of each message to send once numbered.
    pub emails: Vec<(String, crate::notify::EmailPayload)>,
}

/// See [`FollowUp::link`]: where a registration's id is written once it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "row", rename_all = "snake_case")]
pub enum Link {
    /// `foia_counterparties.registration_id`: the notice to one counter-interested party.
    FoiaCounterparty { id: i64 },
    /// `foia_counterparties.answer_registration_id`: that party's answer.
    FoiaCounterpartyAnswer { id: i64 },
    /// `foia_reviews.registration_id`: the citizen's request for review.
    FoiaReview { instance_id: String },
    /// `foia_reviews.decision_registration_id`: the transparency officer's decision.
    FoiaReviewDecision { instance_id: String },
    /// `bookings.registration_id`: a booking's registration.
    Booking { id: String },
}

impl Link {
    /// Writes the registration's id into the row (inside the caller's transaction).
    pub fn set(&self, conn: &mut DbConn, registration_id: i64) -> QueryResult<()> {
        use crate::db::schema::{foia_counterparties as fc, foia_reviews as rv};
        match self {
            Self::FoiaCounterparty { id } => diesel::update(fc::table.find(id))
                .set(fc::registration_id.eq(registration_id))
                .execute(conn)?,
            Self::FoiaCounterpartyAnswer { id } => diesel::update(fc::table.find(id))
                .set(fc::answer_registration_id.eq(registration_id))
                .execute(conn)?,
            Self::FoiaReview { instance_id } => diesel::update(rv::table.find(instance_id))
                .set(rv::registration_id.eq(registration_id))
                .execute(conn)?,
            Self::FoiaReviewDecision { instance_id } => diesel::update(rv::table.find(instance_id))
                .set(rv::decision_registration_id.eq(registration_id))
                .execute(conn)?,
            Self::Booking { id } => {
                use crate::db::schema::bookings;
                diesel::update(bookings::table.find(id))
                    .set(bookings::registration_id.eq(registration_id))
                    .execute(conn)?
            }
        };
        Ok(())
    }
}

/// See [`FollowUp::placeholders`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placeholders {
    pub number: String,
    pub date: String,
}

impl Placeholders {
    pub fn new() -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        Self {
            number: format!("[n. {tag}]"),
            date: format!("[data {tag}]"),
        }
    }

    /// The e-mails with the number and the date (`dd/mm/yyyy`) in place.
    pub fn fill(
        &self,
        emails: &[(String, crate::notify::EmailPayload)],
        number: &str,
        date: &str,
    ) -> Vec<(String, crate::notify::EmailPayload)> {
        let put = |t: &str| t.replace(&self.number, number).replace(&self.date, date);
        emails
            .iter()
            .map(|(k, e)| {
                (
                    k.clone(),
                    crate::notify::EmailPayload {
                        to: e.to.clone(),
                        subject: put(&e.subject),
                        body: put(&e.body),
                        attachments: e.attachments.clone(),
                    },
                )
            })
            .collect()
    }
}

impl Default for Placeholders {
    fn default() -> Self {
        Self::new()
    }
}

/// The outbox job's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobPayload {
    pub request_id: i64,
}

/// The idempotency key of an instance's submission.
pub fn submission_key(instance_id: &str) -> String {
    format!("{instance_id}:submission")
}

/// The idempotency key of a later registration of an instance: the message it registers.
pub fn message_key(instance_id: &str, message_id: i64) -> String {
    format!("{instance_id}:message:{message_id}")
}

/// The idempotency key of a booking's registration.
pub fn booking_key(booking_id: &str) -> String {
    format!("booking:{booking_id}")
}

/// Whose request it is (the instance, or the booking) and its idempotency key.
fn owner_and_key(
    payload: &RequestPayload,
) -> anyhow::Result<(Option<String>, Option<String>, String)> {
    let instance = payload.registration.instance_id.clone();
    let follow = payload.follow_up.as_ref();
    if let Some(Link::Booking { id }) = follow.and_then(|f| f.link.as_ref()) {
        return Ok((None, Some(id.clone()), booking_key(id)));
    }
    let instance =
        instance.context("a registration request belongs to an instance or a booking")?;
    let key = match follow {
        None => submission_key(&instance),
        Some(FollowUp {
            message_id: Some(m),
            ..
        }) => message_key(&instance, *m),
        Some(FollowUp { act: Some(a), .. }) => format!("{instance}:{a}"),
        Some(_) => anyhow::bail!("a later registration names neither its message nor its act"),
    };
    Ok((Some(instance), None, key))
}

/// The adapter of an AOO by id (None for the built-in register).
pub fn adapter_of_aoo(conn: &mut DbConn, aoo_id: i64) -> anyhow::Result<Option<Adapter>> {
    let (register, external): (String, Option<String>) = aoo::table
        .find(aoo_id)
        .select((aoo::register, aoo::external))
        .first(conn)?;
    adapter_of(&register, external.as_deref())
}

/// Queues a registration request (inside the transaction of the act it registers): the
/// submission's (key [`submission_key`]) or a later one's ([`message_key`]).
pub fn enqueue(
    conn: &mut DbConn,
    adapter: Adapter,
    payload: &RequestPayload,
    ts: NaiveDateTime,
) -> anyhow::Result<i64> {
    let r = &payload.registration;
    let (instance_id, booking_id, key) = owner_and_key(payload)?;
    let id: i64 = diesel::insert_into(preq::table)
        .values((
            preq::ente_id.eq(r.ente_id),
            preq::aoo_id.eq(r.aoo_id),
            preq::instance_id.eq(&instance_id),
            preq::booking_id.eq(&booking_id),
            preq::idempotency_key.eq(&key),
            preq::adapter.eq(adapter.as_str()),
            preq::payload.eq(serde_json::to_string(payload)?),
            preq::status.eq("pending"),
            preq::created_at.eq(ts),
            preq::updated_at.eq(ts),
        ))
        .returning(preq::id)
        .get_result(conn)?;
    enqueue_job(
        conn,
        r.ente_id,
        KIND_PROTOCOL_REQUEST,
        &format!("{KIND_PROTOCOL_REQUEST}:{key}"),
        &serde_json::to_string(&JobPayload { request_id: id })?,
    )?;
    Ok(id)
}

/// A request as an adapter delivers it.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: i64,
    pub idempotency_key: String,
    pub aoo_code: String,
    /// The ente and AOO as the segnatura names them.
    pub administration: super::segnatura::Administration,
    /// The applicant as the segnatura names them.
    pub person: super::segnatura::Person,
    /// The instance whose act it registers (None for a booking's registration).
    pub instance_id: Option<String>,
    /// The booking it registers (None for an instance's act).
    pub booking_id: Option<String>,
    pub payload: RequestPayload,
    /// The primary document, whose SHA-256 is registered.
    pub primary: PrimaryDoc,
    /// The attachments registered with it (the instance's for a submission, the message's
    /// documents for a later act), in the order they were added.
    pub attachments: Vec<RequestAttachment>,
}

/// The primary document of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryDoc {
    /// A frozen JSON document (RFC 8785): the submission's, or a later act's.
    Json { filename: String, text: String },
    /// An uploaded file (the decision's reply PDF).
    Stored(RequestAttachment),
}

impl PrimaryDoc {
    pub fn filename(&self) -> &str {
        match self {
            Self::Json { filename, .. } => filename,
            Self::Stored(a) => &a.filename,
        }
    }

    pub fn mime(&self) -> &str {
        match self {
            Self::Json { .. } => "application/json",
            Self::Stored(a) => &a.mime,
        }
    }

    /// Its bytes (a stored file read and checked against its digest).
    pub fn bytes(&self, store: Option<&dyn BlobStore>) -> Result<Vec<u8>, SendError> {
        match self {
            Self::Json { text, .. } => Ok(text.clone().into_bytes()),
            Self::Stored(a) => a.read(store.ok_or_else(|| {
                SendError::Permanent(
                    "no attachment store: the primary document is an uploaded file".to_owned(),
                )
            })?),
        }
    }
}

/// An attachment of the instance a request registers.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct RequestAttachment {
    pub filename: String,
    pub mime: String,
    /// SHA-256 (hex) recorded when it was uploaded.
    pub sha256: String,
    /// Where its bytes are in the attachment store.
    pub storage_key: String,
}

impl RequestAttachment {
    /// Its bytes from the store, checked against the recorded digest: a missing or altered
    /// file is a permanent failure (an administrator must look at it), never sent.
    pub fn read(&self, store: &dyn BlobStore) -> Result<Vec<u8>, SendError> {
        let bytes = store
            .get(&self.storage_key)
            .map_err(|e| SendError::Permanent(format!("attachment `{}`: {e}", self.filename)))?;
        if crate::text::sha256_hex(&bytes) != self.sha256 {
            return Err(SendError::Permanent(format!(
                "attachment `{}`: its content no longer matches the recorded SHA-256",
                self.filename
            )));
        }
        Ok(bytes)
    }
}

/// The number an external system gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExternalNumber {
    pub number: ProtocolNumber,
    pub year: i32,
    /// UTC.
    pub registered_at: NaiveDateTime,
}

/// What delivering a request gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The system answered with the number (REST).
    Registered(ExternalNumber),
    /// Sent; the answer comes later (PEC: a `ConfermaRicezione` read back by IMAP), matched
    /// by this Message-ID.
    Pending { message_id: String },
}

/// One kind of external protocol system. Delivering the same request again (same
/// idempotency key) must not register twice on a conforming system.
pub trait ExternalRegister {
    fn deliver(&self, req: &Request) -> Result<Delivered, SendError>;
}

/// Loads a request and its AOO's configuration; None when it is already registered.
fn load(conn: &mut DbConn, id: i64) -> anyhow::Result<Option<(Request, ExternalConfig)>> {
    use crate::db::schema::{bookings, citizens, enti};
    type Head = (
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        String,
        Option<String>,
        i64,
    );
    let (key, instance_id, booking_id, payload, status, aoo_code, external, ente_id): Head =
        preq::table
            .inner_join(aoo::table)
            .filter(preq::id.eq(id))
            .select((
                preq::idempotency_key,
                preq::instance_id,
                preq::booking_id,
                preq::payload,
                preq::status,
                aoo::code,
                aoo::external,
                preq::ente_id,
            ))
            .first(conn)?;
    let (ente_code, ipa, ente_name, fiscal_code): (String, Option<String>, String, Option<String>) =
        enti::table
            .find(ente_id)
            .select((enti::code, enti::ipa_code, enti::name, enti::fiscal_code))
            .first(conn)?;
    let (aoo_name, register_code): (String, String) = aoo::table
        .filter(aoo::code.eq(&aoo_code))
        .filter(aoo::ente_id.eq(ente_id))
        .select((aoo::name, aoo::register_code))
        .first(conn)?;
    // The applicant: the instance's citizen, or the booking's.
    let (document, citizen_id): (Option<String>, i64) = match (&instance_id, &booking_id) {
        (Some(i), _) => instances::table
            .find(i)
            .select((instances::document, instances::citizen_id))
            .first(conn)?,
        (None, Some(b)) => (
            None,
            bookings::table
                .find(b)
                .select(bookings::citizen_id)
                .first(conn)?,
        ),
        (None, None) => anyhow::bail!("protocol request {id} belongs to nothing"),
    };
    let (given_name, family_name, codice_fiscale): (Option<String>, Option<String>, String) =
        citizens::table
            .find(citizen_id)
            .select((
                citizens::given_name,
                citizens::family_name,
                citizens::codice_fiscale,
            ))
            .first(conn)?;
    if status == "registered" {
        return Ok(None);
    }
    let payload: RequestPayload =
        serde_json::from_str(&payload).context("protocol request payload")?;
    // The correspondent: the applicant, or the counter-interested party a FOIA act is to or
    // from (known by name only).
    let person = match payload.follow_up.as_ref().and_then(|f| f.link.as_ref()) {
        Some(Link::FoiaCounterparty { id: party } | Link::FoiaCounterpartyAnswer { id: party }) => {
            use crate::db::schema::foia_counterparties as fc;
            super::segnatura::Person::Named(fc::table.find(party).select(fc::name).first(conn)?)
        }
        _ => super::segnatura::Person::Natural {
            given_name: given_name.unwrap_or_default(),
            family_name: family_name.unwrap_or_default(),
            codice_fiscale,
        },
    };
    let config: ExternalConfig = serde_json::from_str(
        external
            .as_deref()
            .context("the AOO has no external system any more")?,
    )
    .context("aoo.external")?;
    let (primary, attachments) = match &payload.follow_up {
        None => {
            use crate::db::schema::attachments as att;
            let instance_id = instance_id
                .as_deref()
                .context("a submission without its instance")?;
            let attachments: Vec<RequestAttachment> = att::table
                .filter(att::instance_id.eq(instance_id))
                .order((att::created_at, att::id))
                .select((att::filename, att::mime, att::sha256, att::storage_key))
                .load(conn)?;
            let primary = PrimaryDoc::Json {
                filename: "istanza.json".to_owned(),
                text: document.unwrap_or_default(),
            };
            (primary, attachments)
        }
        Some(f) => {
            use crate::db::schema::instance_documents as docs;
            // A message's documents; the other acts (FOIA, bookings) register their JSON text.
            let mut rows: Vec<(String, RequestAttachment)> = match (&instance_id, f.message_id) {
                (Some(i), Some(m)) => docs::table
                    .filter(docs::instance_id.eq(i))
                    .filter(docs::message_id.eq(m))
                    .order((docs::created_at, docs::id))
                    .select((
                        docs::id,
                        (docs::filename, docs::mime, docs::sha256, docs::storage_key),
                    ))
                    .load(conn)?,
                _ => Vec::new(),
            };
            let primary = match &f.primary_document {
                Some(id) => {
                    let at = rows
                        .iter()
                        .position(|(d, _)| d == id)
                        .context("the primary document is not among the message's")?;
                    PrimaryDoc::Stored(rows.remove(at).1)
                }
                None => PrimaryDoc::Json {
                    filename: "documento.json".to_owned(),
                    text: f
                        .document
                        .clone()
                        .context("a later registration without its document")?,
                },
            };
            (primary, rows.into_iter().map(|(_, a)| a).collect())
        }
    };
    Ok(Some((
        Request {
            id,
            idempotency_key: key,
            administration: super::segnatura::Administration {
                ipa_code: ipa.unwrap_or(ente_code),
                name: ente_name,
                fiscal_code: fiscal_code
                    .filter(|c| c.len() == 11 && c.bytes().all(|b| b.is_ascii_digit())),
                aoo_code: aoo_code.clone(),
                aoo_name,
                register_code,
            },
            person,
            aoo_code,
            instance_id,
            booking_id,
            payload,
            primary,
            attachments,
        },
        config,
    )))
}

/// Adds an e-mail to a pending later registration's request (sent when the number comes).
pub fn add_email(
    conn: &mut DbConn,
    request_id: i64,
    key: String,
    email: crate::notify::EmailPayload,
) -> anyhow::Result<()> {
    let text: String = preq::table
        .find(request_id)
        .select(preq::payload)
        .first(conn)?;
    let mut payload: RequestPayload = serde_json::from_str(&text)?;
    payload
        .follow_up
        .as_mut()
        .context("only a later registration's request waits with e-mails")?
        .emails
        .push((key, email));
    diesel::update(preq::table.find(request_id))
        .set(preq::payload.eq(serde_json::to_string(&payload)?))
        .execute(conn)?;
    Ok(())
}

/// Delivers one request (the outbox job): called by the outbox worker.
pub fn deliver(
    conn: &mut DbConn,
    mailer: &crate::notify::Mailer,
    segnatura_keys: Option<&std::path::Path>,
    store: Option<&dyn BlobStore>,
    payload: &str,
) -> Result<(), SendError> {
    let job: JobPayload = serde_json::from_str(payload)
        .map_err(|e| SendError::Permanent(format!("unreadable payload: {e}")))?;
    let temporary = |e: anyhow::Error| SendError::Temporary(format!("{e:#}"));
    let Some((req, config)) = load(conn, job.request_id).map_err(temporary)? else {
        return Ok(());
    };
    let outcome = match &config {
        ExternalConfig::Rest { .. } => RestRegister::new(&config, store)
            .map_err(|e| SendError::Permanent(format!("{e:#}")))?
            .deliver(&req),
        ExternalConfig::Pec { .. } => {
            super::pec::PecRegister::new(&config, mailer, segnatura_keys, store)
                .map_err(|e| SendError::Permanent(format!("{e:#}")))?
                .deliver(&req)
        }
    };
    let ts = now();
    match outcome {
        Ok(Delivered::Registered(n)) => {
            record(conn, req.id, config.adapter().as_str(), n).map_err(temporary)?;
            Ok(())
        }
        Ok(Delivered::Pending { message_id }) => {
            diesel::update(
                preq::table
                    .find(req.id)
                    .filter(preq::status.ne("registered")),
            )
            .set((
                preq::status.eq("sent"),
                preq::message_id.eq(&message_id),
                preq::last_error.eq(None::<String>),
                preq::updated_at.eq(ts),
            ))
            .execute(conn)
            .map_err(|e| temporary(e.into()))?;
            Ok(())
        }
        Err(err) => {
            let (status, text) = match &err {
                SendError::Permanent(t) => ("failed", t.clone()),
                SendError::Temporary(t) => ("pending", t.clone()),
            };
            diesel::update(
                preq::table
                    .find(req.id)
                    .filter(preq::status.ne("registered")),
            )
            .set((
                preq::status.eq(status),
                preq::last_error.eq(Some(text)),
                preq::updated_at.eq(ts),
            ))
            .execute(conn)
            .map_err(|e| temporary(e.into()))?;
            Err(err)
        }
    }
}

/// Marks the request of a dead outbox job `failed` (its attempts ran out on temporary errors):
/// what an administrator sees matches the dead letter they retry.
pub fn gave_up(conn: &mut DbConn, job_payload: &str) -> anyhow::Result<()> {
    let Ok(job) = serde_json::from_str::<JobPayload>(job_payload) else {
        return Ok(());
    };
    diesel::update(
        preq::table
            .find(job.request_id)
            .filter(preq::status.ne("registered")),
    )
    .set((preq::status.eq("failed"), preq::updated_at.eq(now())))
    .execute(conn)?;
    Ok(())
}

/// Records the number an external system gave for a request: the registration (marked with
/// `system`), the instance's link, its history, the receipt and the office notice, the
/// request done — in one transaction, and only once: a second call for the same request
/// (an answer read twice, a retry after a crash) changes nothing and returns false.
pub fn record(
    conn: &mut DbConn,
    request_id: i64,
    system: &str,
    n: ExternalNumber,
) -> anyhow::Result<bool> {
    write_tx(conn, |conn| {
        let ts = now();
        // Takes the row (on PostgreSQL a concurrent recorder waits here, then finds it done).
        let mine = diesel::update(
            preq::table
                .find(request_id)
                .filter(preq::registration_id.is_null()),
        )
        .set(preq::updated_at.eq(ts))
        .execute(conn)?;
        if mine == 0 {
            return Ok(false);
        }
        let (payload, ente_id): (String, i64) = preq::table
            .find(request_id)
            .select((preq::payload, preq::ente_id))
            .first(conn)?;
        let payload: RequestPayload = serde_json::from_str(&payload)?;
        let mut new = payload.registration.clone();
        new.at = n.registered_at;
        let registration = protocol::record_external(conn, &new, system, n.year, n.number)?;
        diesel::update(preq::table.find(request_id))
            .set((
                preq::status.eq("registered"),
                preq::registration_id.eq(registration.id),
                preq::last_error.eq(None::<String>),
            ))
            .execute(conn)?;
        let number = registration.number.to_string();
        let local = protocol::local_time(&registration);
        let (emails, registered) = match (&payload.follow_up, &payload.notices) {
            (Some(f), _) => {
                use crate::db::schema::instance_messages as msg;
                if let Some(m) = f.message_id {
                    diesel::update(msg::table.find(m))
                        .set(msg::registration_id.eq(registration.id))
                        .execute(conn)?;
                }
                if let Some(link) = &f.link {
                    link.set(conn, registration.id)?;
                }
                let emails =
                    f.placeholders
                        .fill(&f.emails, &number, &local.format("%d/%m/%Y").to_string());
                let event = match f.message_id {
                    Some(message) => Event::MessageRegistered {
                        message,
                        protocol_number: number,
                        year: registration.year,
                        registered_at: iso_rome(registration.registered_at),
                    },
                    None => Event::ActRegistered {
                        act: f.act.clone().unwrap_or_default(),
                        protocol_number: number,
                        year: registration.year,
                        registered_at: iso_rome(registration.registered_at),
                    },
                };
                (emails, event)
            }
            (None, notices) => {
                let emails = notices
                    .as_ref()
                    .map(|n| n.emails(&number, local))
                    .unwrap_or_default();
                let event = Event::Registered {
                    protocol_number: number,
                    year: registration.year,
                    registered_at: iso_rome(registration.registered_at),
                };
                (emails, event)
            }
        };
        enqueue_emails(conn, ente_id, &emails)?;
        if let Some(instance) = &new.instance_id {
            let mut events = vec![("system", registered)];
            if !emails.is_empty() {
                events.push(("system", Notices::queued_event(&emails)));
            }
            record_events(conn, instance, ts, &events)?;
        }
        Ok(true)
    })
}

/// Marks a request refused by the external system (a `NotificaEccezione`): the request is
/// `failed` and its outbox job `dead` with the reason, for an administrator to retry.
pub fn refuse(conn: &mut DbConn, request_id: i64, reason: &str) -> anyhow::Result<bool> {
    write_tx(conn, |conn| {
        let ts = now();
        let n = diesel::update(
            preq::table
                .find(request_id)
                .filter(preq::registration_id.is_null()),
        )
        .set((
            preq::status.eq("failed"),
            preq::last_error.eq(Some(reason)),
            preq::updated_at.eq(ts),
        ))
        .execute(conn)?;
        if n == 0 {
            return Ok(false);
        }
        let key: String = preq::table
            .find(request_id)
            .select(preq::idempotency_key)
            .first(conn)?;
        use crate::db::schema::outbox;
        diesel::update(
            outbox::table.filter(outbox::dedupe_key.eq(format!("{KIND_PROTOCOL_REQUEST}:{key}"))),
        )
        .set((
            outbox::status.eq("dead"),
            outbox::last_error.eq(Some(format!(
                "rifiutata dal sistema di protocollo: {reason}"
            ))),
            outbox::locked_by.eq(None::<String>),
            outbox::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
        tracing::error!(
            request_id,
            reason,
            "external protocol system refused the request: an administrator must look at it"
        );
        Ok(true)
    })
}

/// The REST adapter: `POST <base_url>/registrations` with the `Idempotency-Key` header (the
/// contract is `docs/protocol-rest.openapi.yaml`).
pub struct RestRegister<'a> {
    url: String,
    token: Option<String>,
    client: reqwest::blocking::Client,
    /// Where an uploaded primary document (the decision's PDF) is read from.
    store: Option<&'a dyn BlobStore>,
}

/// The body of a registration request (REST contract).
#[derive(Debug, Serialize)]
struct RestRequest<'a> {
    idempotency_key: &'a str,
    aoo: &'a str,
    direction: &'static str,
    sender: &'a str,
    /// The addressee of an outgoing document (the applicant).
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    subject: &'a str,
    /// The instance whose act it is (absent for a booking's registration).
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_id: Option<&'a str>,
    /// The booking it registers (absent for an instance's act).
    #[serde(skip_serializing_if = "Option::is_none")]
    booking_id: Option<&'a str>,
    submitted_at: String,
    document: RestDocument<'a>,
    attachments: Vec<RestAttachment<'a>>,
}

#[derive(Debug, Serialize)]
struct RestDocument<'a> {
    filename: &'a str,
    media_type: &'a str,
    sha256: &'a str,
    /// A JSON primary document itself (RFC 8785 text), so the system can store it.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    /// Any other primary document (the decision's PDF), base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_base64: Option<String>,
}

#[derive(Debug, Serialize)]
struct RestAttachment<'a> {
    filename: &'a str,
    media_type: &'a str,
    sha256: &'a str,
    description: Option<&'a str>,
    /// The file itself, base64 (read from the attachment store, checked against `sha256`).
    content_base64: String,
}

/// The answer: the number the system gave.
#[derive(Debug, Deserialize)]
struct RestRegistered {
    number: i64,
    year: i32,
    registered_at: String,
}

impl<'a> RestRegister<'a> {
    pub fn new(config: &ExternalConfig, store: Option<&'a dyn BlobStore>) -> anyhow::Result<Self> {
        let ExternalConfig::Rest {
            base_url,
            token_file,
            timeout_secs,
        } = config
        else {
            anyhow::bail!("not a REST configuration");
        };
        let token = token_file
            .as_ref()
            .map(|f| {
                std::fs::read_to_string(f)
                    .with_context(|| format!("external.token_file {}", f.display()))
                    .map(|t| t.trim_end().to_owned())
            })
            .transpose()?;
        Ok(Self {
            url: format!("{}/registrations", base_url.trim_end_matches('/')),
            token,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(*timeout_secs))
                .build()?,
            store,
        })
    }
}

impl ExternalRegister for RestRegister<'_> {
    fn deliver(&self, req: &Request) -> Result<Delivered, SendError> {
        let r = &req.payload.registration;
        let body = RestRequest {
            idempotency_key: &req.idempotency_key,
            aoo: &req.aoo_code,
            direction: r.direction.as_str(),
            sender: &r.sender,
            recipient: r.recipient.as_deref(),
            subject: &r.subject,
            instance_id: req.instance_id.as_deref(),
            booking_id: req.booking_id.as_deref(),
            submitted_at: r.at.and_utc().to_rfc3339(),
            document: match &req.primary {
                PrimaryDoc::Json { filename, text } => RestDocument {
                    filename,
                    media_type: "application/json",
                    sha256: &r.document_digest,
                    content: Some(text),
                    content_base64: None,
                },
                PrimaryDoc::Stored(a) => RestDocument {
                    filename: &a.filename,
                    media_type: &a.mime,
                    sha256: &r.document_digest,
                    content: None,
                    content_base64: Some(openssl::base64::encode_block(
                        &req.primary.bytes(self.store)?,
                    )),
                },
            },
            attachments: req
                .attachments
                .iter()
                .map(|a| {
                    let store = self.store.ok_or_else(|| {
                        SendError::Permanent(
                            "no attachment store: the request must carry the attachments"
                                .to_owned(),
                        )
                    })?;
                    Ok(RestAttachment {
                        filename: &a.filename,
                        media_type: &a.mime,
                        sha256: &a.sha256,
                        description: r.description_of(&a.filename),
                        content_base64: openssl::base64::encode_block(&a.read(store)?),
                    })
                })
                .collect::<Result<_, SendError>>()?,
        };
        let json = serde_json::to_vec(&body)
            .map_err(|e| SendError::Permanent(format!("cannot write the request: {e}")))?;
        let mut call = self
            .client
            .post(&self.url)
            .header("Idempotency-Key", &req.idempotency_key)
            .header("Content-Type", "application/json")
            .body(json);
        if let Some(t) = &self.token {
            call = call.bearer_auth(t);
        }
        let res = call
            .send()
            .map_err(|e| SendError::Temporary(format!("protocol system unreachable: {e}")))?;
        let status = res.status();
        let text = res.text().unwrap_or_default();
        if status.is_success() {
            let got: RestRegistered = serde_json::from_str(&text).map_err(|e| {
                SendError::Temporary(format!("unreadable answer of the protocol system: {e}"))
            })?;
            return parse_number(got.number, got.year, &got.registered_at)
                .map(Delivered::Registered)
                .map_err(|e| SendError::Temporary(format!("{e:#}")));
        }
        let detail: String = text.chars().take(500).collect();
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            Err(SendError::Temporary(format!(
                "protocol system answered {status}: {detail}"
            )))
        } else {
            Err(SendError::Permanent(format!(
                "protocol system refused the request ({status}): {detail}"
            )))
        }
    }
}

/// A number, year and RFC 3339 instant as an external system gives them.
pub fn parse_number(number: i64, year: i32, at: &str) -> anyhow::Result<ExternalNumber> {
    let registered_at = DateTime::parse_from_rfc3339(at)
        .with_context(|| format!("registered_at `{at}`"))?
        .naive_utc();
    Ok(ExternalNumber {
        number: ProtocolNumber::new(number)?,
        year,
        registered_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_read_from_the_bundle_form() {
        let rest: ExternalConfig = serde_json::from_value(serde_json::json!({
            "adapter": "rest", "base_url": "https://protocollo.example/api", "token_file": "/run/t"
        }))
        .unwrap();
        assert_eq!(rest.adapter(), Adapter::Rest);
        rest.check().unwrap();
        let bad: ExternalConfig = serde_json::from_value(serde_json::json!({
            "adapter": "rest", "base_url": "ftp://x"
        }))
        .unwrap();
        assert!(bad.check().is_err());
        assert!(serde_json::from_value::<ExternalConfig>(serde_json::json!({
            "adapter": "rest", "base_url": "https://x", "password": "inline secrets are refused"
        }))
        .is_err());
        assert_eq!(adapter_of("builtin", None).unwrap(), None);
        assert!(adapter_of("external", None).is_err());
    }

    #[test]
    fn a_mailbox_is_read_over_tls_unless_it_is_on_this_machine() {
        let pec = |host: &str, security: Option<&str>| {
            let mut v = serde_json::json!({
                "adapter": "pec", "protocol_address": "protocollo@pec.example.it",
                "from_address": "sportello@pec.example.it", "imap_host": host,
                "imap_port": 993, "imap_user": "u", "imap_password_file": "/run/p"
            });
            if let Some(s) = security {
                v["imap_security"] = serde_json::json!(s);
            }
            serde_json::from_value::<ExternalConfig>(v).unwrap()
        };
        let ExternalConfig::Pec { imap_security, .. } = pec("imap.pec.example.it", None) else {
            panic!()
        };
        assert_eq!(imap_security, ImapSecurity::Tls, "TLS by default");
        pec("imap.pec.example.it", None).check().unwrap();
        pec("imap.pec.example.it", Some("starttls"))
            .check()
            .unwrap();
        let err = pec("imap.pec.example.it", Some("plain"))
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("in clear"), "{err}");
        pec("127.0.0.1", Some("plain")).check().unwrap();
    }

    #[test]
    fn numbers_from_an_external_system() {
        let n = parse_number(42, 2026, "2026-12-03T10:15:00+01:00").unwrap();
        assert_eq!(n.number.to_string(), "0000042");
        assert_eq!(
            n.registered_at,
            chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
                .unwrap()
                .and_hms_opt(9, 15, 0)
                .unwrap()
        );
        assert!(parse_number(0, 2026, "2026-12-03T10:15:00Z").is_err());
        assert!(parse_number(1, 2026, "3 dicembre").is_err());
    }
}
