//! Transactional outbox and mailer.
//!
//! A side effect (an e-mail today, calls to other systems later) is a row written in the same
//! transaction as the change that causes it, with a `dedupe_key` that makes enqueueing
//! idempotent. Workers claim due rows with a lease, deliver them, and mark them sent; a failed
//! delivery is retried with exponential backoff and, after `mail.max_attempts`, set aside as
//! `dead` for an administrator to see and retry.
//!
//! Delivery is at-least-once at the SMTP boundary: if the process dies after the server
//! accepted a message and before the row is marked sent (a window of one local database
//! write), the message is sent again after the lease. Each message carries a stable
//! `Message-ID` derived from its row, so a duplicate is recognisable by receivers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

use crate::config::{MailSettings, MailTransport, SmtpTls};
use crate::db::schema::outbox;
use crate::db::{claim_outbox, now, ClaimedMessage, Db, DbConn};

pub const KIND_EMAIL: &str = "email";

/// An e-mail waiting in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmailPayload {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Files sent with it (a booking's iCalendar file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<MailAttachment>,
}

/// A text file attached to an e-mail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MailAttachment {
    pub filename: String,
    /// Its MIME type, e.g. `text/calendar; method=REQUEST; charset=UTF-8`.
    pub content_type: String,
    pub content: String,
}

/// Queues e-mails, each under a `dedupe_key`: enqueueing the same key twice queues it once.
/// One statement whatever the number of messages. Call it inside the transaction of the
/// change the messages report.
pub fn enqueue_emails(
    conn: &mut DbConn,
    ente_id: i64,
    emails: &[(String, EmailPayload)],
) -> anyhow::Result<usize> {
    if emails.is_empty() {
        return Ok(0);
    }
    let ts = now();
    let mut sql = String::from(
        "INSERT INTO outbox (ente_id, kind, dedupe_key, payload, status, attempts, \
         next_attempt_at, created_at) VALUES ",
    );
    for i in 0..emails.len() {
        let b = i * 3;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "($1, $2, ${}, ${}, 'pending', 0, ${}, ${})",
            b + 3,
            b + 4,
            b + 5,
            b + 5
        ));
    }
    sql.push_str(" ON CONFLICT (dedupe_key) DO NOTHING");
    let mut q = diesel::sql_query(sql)
        .into_boxed::<<DbConn as diesel::Connection>::Backend>()
        .bind::<BigInt, _>(ente_id)
        .bind::<Text, _>(KIND_EMAIL);
    for (key, email) in emails {
        q = q
            .bind::<Text, _>(key.clone())
            .bind::<Text, _>(serde_json::to_string(email)?)
            .bind::<Timestamp, _>(ts);
    }
    Ok(q.execute(conn)?)
}

/// Queues one e-mail (see [`enqueue_emails`]).
pub fn enqueue_email(
    conn: &mut DbConn,
    ente_id: i64,
    dedupe_key: &str,
    email: &EmailPayload,
) -> anyhow::Result<bool> {
    Ok(enqueue_emails(conn, ente_id, &[(dedupe_key.to_owned(), email.clone())])? == 1)
}

/// Queues one job of another kind (e.g. `protocol-request`) under its `dedupe_key`: queueing
/// the same key twice queues it once. Inside the transaction of the change that causes it.
pub fn enqueue_job(
    conn: &mut DbConn,
    ente_id: i64,
    kind: &str,
    dedupe_key: &str,
    payload: &str,
) -> anyhow::Result<bool> {
    let ts = now();
    let n = diesel::sql_query(
        "INSERT INTO outbox (ente_id, kind, dedupe_key, payload, status, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind::<BigInt, _>(ente_id)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(dedupe_key)
    .bind::<Text, _>(payload)
    .bind::<Timestamp, _>(ts)
    .execute(conn)?;
    Ok(n == 1)
}

/// Sends e-mails through SMTP (or, in the demo, to the log).
pub struct Mailer {
    transport: Option<SmtpTransport>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why a delivery failed: worth retrying, or never going to work.
#[derive(Debug)]
pub enum SendError {
    Temporary(String),
    Permanent(String),
}

impl Mailer {
    pub fn new(s: &MailSettings) -> anyhow::Result<Self> {
        let from: Mailbox = s.from.parse().context("mail.from")?;
        let domain = from.email.domain().to_owned();
        let transport = match s.transport {
            MailTransport::Log => None,
            MailTransport::Smtp => {
                let mut b = match s.tls {
                    SmtpTls::None => SmtpTransport::builder_dangerous(&s.smtp_host),
                    SmtpTls::Starttls => SmtpTransport::starttls_relay(&s.smtp_host)?,
                    SmtpTls::Tls => SmtpTransport::relay(&s.smtp_host)?,
                }
                .port(s.smtp_port)
                .timeout(Some(Duration::from_secs(s.timeout_secs)));
                if let (Some(u), Some(p)) = (&s.username, &s.password) {
                    b = b.credentials(Credentials::new(u.clone(), p.expose().to_owned()));
                }
                Some(b.build())
            }
        };
        Ok(Self {
            transport,
            from,
            domain,
        })
    }

    /// The stable Message-ID of an outbox row.
    pub fn message_id(&self, outbox_id: i64) -> String {
        format!("<sportello.outbox.{outbox_id}@{}>", self.domain)
    }

    /// Sends a message built elsewhere (the PEC adapter's Allegato 6 messages) through the
    /// same SMTP relay. With the log transport nothing leaves: that is an error here, since
    /// the message is a request that must reach its system.
    pub fn send_message(&self, message: &Message) -> Result<(), SendError> {
        match &self.transport {
            None => Err(SendError::Temporary(
                "mail.transport is `log`: a protocol request cannot be delivered".to_owned(),
            )),
            Some(t) => t.send(message).map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Temporary(e.to_string())
                }
            }),
        }
    }

    pub fn send(&self, outbox_id: i64, p: &EmailPayload) -> Result<(), SendError> {
        let to: Mailbox =
            p.to.parse()
                .map_err(|e| SendError::Permanent(format!("invalid recipient: {e}")))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(p.subject.clone())
            .message_id(Some(self.message_id(outbox_id)));
        let message = if p.attachments.is_empty() {
            builder.header(ContentType::TEXT_PLAIN).body(p.body.clone())
        } else {
            use lettre::message::{Attachment, MultiPart, SinglePart};
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(p.body.clone()));
            for a in &p.attachments {
                let mime = ContentType::parse(&a.content_type)
                    .map_err(|e| SendError::Permanent(format!("content type: {e}")))?;
                parts = parts
                    .singlepart(Attachment::new(a.filename.clone()).body(a.content.clone(), mime));
            }
            builder.multipart(parts)
        }
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        match &self.transport {
            None => {
                tracing::info!(outbox_id, to = %p.to, subject = %p.subject, body = %p.body, "e-mail (log transport, not sent)");
                Ok(())
            }
            Some(t) => t.send(&message).map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Temporary(e.to_string())
                }
            }),
        }
    }
}

/// Claims and delivers outbox messages.
#[derive(Debug)]
pub struct Worker {
    db: Db,
    mailer: Mailer,
    id: String,
    max_attempts: i32,
    retry_base_secs: i64,
    poll: Duration,
    lease_secs: i64,
    /// `segnatura.key_dir`: the AOOs' signing pairs, for the segnatura of PEC messages.
    segnatura_keys: Option<std::path::PathBuf>,
    attachments: Option<std::sync::Arc<dyn crate::storage::BlobStore>>,
    /// `[pagopa]`: the GPD, for the debt positions of fees.
    pagopa: Option<crate::config::PagopaSettings>,
}

const BATCH: i64 = 20;
/// How often the PEC mailboxes of external protocol systems are read.
const ANSWER_POLL: Duration = Duration::from_secs(15);

impl Worker {
    pub fn new(db: Db, s: &MailSettings) -> anyhow::Result<Self> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        Ok(Self {
            db,
            mailer: Mailer::new(s)?,
            id: format!(
                "{}-{}-{}",
                host.trim(),
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            max_attempts: i32::try_from(s.max_attempts).unwrap_or(i32::MAX),
            retry_base_secs: i64::try_from(s.retry_base_secs).unwrap_or(60),
            poll: Duration::from_millis(s.poll_interval_ms.max(10)),
            lease_secs: i64::try_from(s.lease_secs.max(1)).unwrap_or(300),
            segnatura_keys: None,
            attachments: None,
            pagopa: None,
        })
    }

    /// Where the AOOs' segnatura signing pairs are (`segnatura.key_dir`): the PEC adapter
    /// signs the segnatura of its messages with them.
    pub fn with_segnatura_keys(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.segnatura_keys = dir;
        self
    }

    /// `[pagopa]`: the worker creates the fees' debt positions in the GPD with it.
    pub fn with_pagopa(mut self, s: crate::config::PagopaSettings) -> Self {
        self.pagopa = Some(s);
        self
    }

    /// The attachment store: a registration request to an external protocol system by PEC
    /// carries the instance's attachments.
    pub fn with_attachment_store(
        mut self,
        store: std::sync::Arc<dyn crate::storage::BlobStore>,
    ) -> Self {
        self.attachments = Some(store);
        self
    }

    /// Delay before attempt `attempts + 1`: base × 2^(attempts − 1), at most one hour.
    fn backoff(&self, attempts: i32) -> chrono::Duration {
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(20);
        let secs = self.retry_base_secs.saturating_mul(1_i64 << exp).min(3600);
        chrono::Duration::seconds(secs)
    }

    /// One round: claim due messages and deliver them. Returns how many were handled.
    /// Blocking: run it off the async executor.
    pub fn run_once(&self) -> anyhow::Result<usize> {
        let mut conn = self.db.get()?;
        let ts = now();
        let claimed = claim_outbox(
            &mut conn,
            &self.id,
            ts,
            ts + chrono::Duration::seconds(self.lease_secs),
            BATCH,
        )?;
        let n = claimed.len();
        for m in claimed {
            self.deliver(&mut conn, m)?;
        }
        Ok(n)
    }

    fn deliver(&self, conn: &mut DbConn, m: ClaimedMessage) -> anyhow::Result<()> {
        let result = match m.kind.as_str() {
            KIND_EMAIL => match serde_json::from_str::<EmailPayload>(&m.payload) {
                Ok(p) => self.mailer.send(m.id, &p),
                Err(e) => Err(SendError::Permanent(format!("unreadable payload: {e}"))),
            },
            crate::protocol::external::KIND_PROTOCOL_REQUEST => crate::protocol::external::deliver(
                conn,
                &self.mailer,
                self.segnatura_keys.as_deref(),
                self.attachments.as_deref(),
                &m.payload,
            ),
            crate::payments::KIND_CREATE_POSITION => {
                crate::payments::deliver(conn, self.pagopa.as_ref(), &m.payload)
            }
            other => Err(SendError::Permanent(format!(
                "unknown message kind `{other}`"
            ))),
        };
        let attempts = m.attempts + 1;
        let ts = now();
        let mine = outbox::table
            .filter(outbox::id.eq(m.id))
            .filter(outbox::locked_by.eq(&self.id));
        match result {
            Ok(()) => {
                diesel::update(mine)
                    .set((
                        outbox::status.eq("sent"),
                        outbox::attempts.eq(attempts),
                        outbox::sent_at.eq(ts),
                        outbox::locked_by.eq(None::<String>),
                        outbox::locked_until.eq(None::<NaiveDateTime>),
                        outbox::last_error.eq(None::<String>),
                    ))
                    .execute(conn)?;
                tracing::info!(outbox_id = m.id, attempts, "outbox message delivered");
            }
            Err(err) => {
                let (permanent, text) = match err {
                    SendError::Permanent(t) => (true, t),
                    SendError::Temporary(t) => (false, t),
                };
                let dead = permanent || attempts >= self.max_attempts;
                diesel::update(mine)
                    .set((
                        outbox::status.eq(if dead { "dead" } else { "pending" }),
                        outbox::attempts.eq(attempts),
                        outbox::next_attempt_at.eq(ts + self.backoff(attempts)),
                        outbox::locked_by.eq(None::<String>),
                        outbox::locked_until.eq(None::<NaiveDateTime>),
                        outbox::last_error.eq(Some(text.clone())),
                    ))
                    .execute(conn)?;
                if dead {
                    if m.kind == crate::protocol::external::KIND_PROTOCOL_REQUEST {
                        // Out of attempts: the request is failed too, as after a refusal.
                        crate::protocol::external::gave_up(conn, &m.payload)?;
                    }
                    if m.kind == crate::payments::KIND_CREATE_POSITION {
                        crate::payments::gave_up(conn, &m.payload)?;
                    }
                    tracing::error!(outbox_id = m.id, attempts, error = %text, "outbox message is dead: an administrator must look at it");
                } else {
                    tracing::warn!(outbox_id = m.id, attempts, error = %text, "outbox delivery failed, will retry");
                }
            }
        }
        Ok(())
    }

    /// Reads the answers of PEC-connected protocol systems (see `protocol::pec::poll`).
    /// Blocking.
    pub fn poll_answers(&self) -> anyhow::Result<usize> {
        let mut conn = self.db.get()?;
        crate::protocol::pec::poll(&mut conn)
    }

    /// Works until `stop` is set: a round, then a pause when there was nothing to do; every
    /// [`ANSWER_POLL`], the protocol systems' mailboxes too.
    pub async fn run(self: Arc<Self>, stop: Arc<AtomicBool>) {
        tracing::info!(worker = %self.id, "outbox worker started");
        let mut last_answers: Option<std::time::Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            if last_answers.is_none_or(|t| t.elapsed() >= ANSWER_POLL) {
                last_answers = Some(std::time::Instant::now());
                let me = self.clone();
                match tokio::task::spawn_blocking(move || me.poll_answers()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %format!("{e:#}"), "protocol answers not read")
                    }
                    Err(e) => tracing::error!(error = %e, "protocol answer poll panicked"),
                }
            }
            let me = self.clone();
            let round = tokio::task::spawn_blocking(move || me.run_once()).await;
            let handled = match round {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "outbox round failed");
                    0
                }
                Err(e) => {
                    tracing::error!(error = %e, "outbox round panicked");
                    0
                }
            };
            if handled == 0 {
                tokio::time::sleep(self.poll).await;
            }
        }
        tracing::info!(worker = %self.id, "outbox worker stopped");
    }
}

/// One message of the outbox, as administrators see it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxItem {
    pub id: i64,
    /// `email`, or `protocol-request` (a registration request to an external protocol
    /// system; a dead one is a request the system refused or that kept failing).
    pub kind: String,
    /// What makes the message unique (e.g. `receipt:<instance id>`).
    pub dedupe_key: String,
    /// `pending`, `sent` or `dead`.
    pub status: String,
    pub attempts: i32,
    #[schema(format = DateTime)]
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub sent_at: Option<String>,
}

/// The newest outbox messages.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxList {
    pub items: Vec<OutboxItem>,
}

/// Outbox rows for administrators.
pub fn list(
    conn: &mut DbConn,
    ente_id: i64,
    status: Option<&str>,
    limit: i64,
) -> QueryResult<OutboxList> {
    let mut q = outbox::table
        .filter(outbox::ente_id.eq(ente_id))
        .order(outbox::id.desc())
        .limit(limit)
        .select((
            outbox::id,
            outbox::kind,
            outbox::dedupe_key,
            outbox::status,
            outbox::attempts,
            outbox::next_attempt_at,
            outbox::last_error,
            outbox::created_at,
            outbox::sent_at,
        ))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(outbox::status.eq(s.to_owned()));
    }
    type R = (
        i64,
        String,
        String,
        String,
        i32,
        NaiveDateTime,
        Option<String>,
        NaiveDateTime,
        Option<NaiveDateTime>,
    );
    let rows: Vec<R> = q.load(conn)?;
    Ok(OutboxList {
        items: rows
            .into_iter()
            .map(
                |(id, kind, dedupe_key, status, attempts, next, last_error, created, sent)| {
                    OutboxItem {
                        id,
                        kind,
                        dedupe_key,
                        status,
                        attempts,
                        next_attempt_at: crate::instances::iso(next),
                        last_error,
                        created_at: crate::instances::iso(created),
                        sent_at: sent.map(crate::instances::iso),
                    }
                },
            )
            .collect(),
    })
}

/// Puts a dead message back in the queue, to be tried again now.
pub fn retry(conn: &mut DbConn, ente_id: i64, id: i64) -> QueryResult<bool> {
    let n = diesel::sql_query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, \
         locked_by = NULL, locked_until = NULL WHERE id = $2 AND ente_id = $3 AND status = 'dead'",
    )
    .bind::<Timestamp, _>(now())
    .bind::<BigInt, _>(id)
    .bind::<BigInt, _>(ente_id)
    .execute(conn)?;
    Ok(n == 1)
}
