//! The tamper-evident audit log: who did what to which object, when, from where — logins
//! (success and failure), logouts, every change of an instance's history, staff reads of
//! instances and their files (access to personal data), annulments, configuration changes,
//! API token use, exports.
//!
//! Each ente has one chain: entry `seq` carries the SHA-256 of the ente's previous entry and
//! its own hash over its canonical form ([`canonical`]), so an entry altered, removed or
//! slipped in afterwards breaks the chain where it happened; `sportello audit verify` walks
//! it ([`verify`]). The database refuses `UPDATE` and `DELETE` on the table (triggers on both
//! backends), and every append takes the ente's head row (`audit_heads`), so concurrent
//! appends never fork the chain.
//!
//! The client's address and the request id come from the request being served: the HTTP
//! edge sets them for the request's task ([`Context::scope`]) and `Db::run` carries them to
//! the blocking thread, where [`record`] reads them. Entries written by the command line and
//! the jobs have neither.

pub mod query;

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::schema::{audit_heads, audit_log as al, enti};
use crate::db::{write_tx, DbConn};

/// Where the request being served comes from (kept by `db`, which carries it to the
/// blocking thread).
pub use crate::db::request::Context;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A citizen, by their id in the ente.
    Citizen(i64),
    /// A staff member, by username.
    Staff(String),
    /// Another system, by its API token's id.
    Token(String),
    /// Sportello itself: a job, the command line, an automatic step.
    System,
}

impl Actor {
    /// The staff member `staff_user_id`, by username.
    pub fn staff(conn: &mut DbConn, staff_user_id: i64) -> QueryResult<Self> {
        use crate::db::schema::staff_users;
        Ok(Self::Staff(
            staff_users::table
                .find(staff_user_id)
                .select(staff_users::username)
                .first(conn)?,
        ))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Citizen(_) => "citizen",
            Self::Staff(_) => "staff",
            Self::Token(_) => "token",
            Self::System => "system",
        }
    }

    pub fn id(&self) -> String {
        match self {
            Self::Citizen(id) => id.to_string(),
            Self::Staff(u) => u.clone(),
            Self::Token(t) => t.clone(),
            Self::System => "sportello".into(),
        }
    }

    /// From an instance history's actor (`citizen`, `staff:<username>`, `token:<name>`,
    /// `office`, `system`); `citizen` is the instance's own.
    pub fn from_history(actor: &str, citizen_id: i64) -> Self {
        if actor == "citizen" {
            Self::Citizen(citizen_id)
        } else if let Some(u) = actor.strip_prefix("staff:") {
            Self::Staff(u.to_owned())
        } else if let Some(t) = actor.strip_prefix("token:") {
            Self::Token(t.to_owned())
        } else if actor == "office" {
            Self::Staff("office".into())
        } else {
            Self::System
        }
    }
}

/// What was done. The strings are stable: filters and exports use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    Logout,
    /// Entries of an instance's history (state changes and what goes with them).
    InstanceEvent,
    /// Staff (or a token) read an instance: access to personal data.
    InstanceRead,
    AttachmentRead,
    DocumentRead,
    RegistrationAnnulled,
    ConfigurationChanged,
    TokenCreated,
    TokenRevoked,
    TokenUsed,
    Export,
    PersonalDataExport,
}

impl Action {
    pub const ALL: [Self; 14] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::InstanceEvent,
        Self::InstanceRead,
        Self::AttachmentRead,
        Self::DocumentRead,
        Self::RegistrationAnnulled,
        Self::ConfigurationChanged,
        Self::TokenCreated,
        Self::TokenRevoked,
        Self::TokenUsed,
        Self::Export,
        Self::PersonalDataExport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::InstanceEvent => "instance_event",
            Self::InstanceRead => "instance_read",
            Self::AttachmentRead => "attachment_read",
            Self::DocumentRead => "document_read",
            Self::RegistrationAnnulled => "registration_annulled",
            Self::ConfigurationChanged => "configuration_changed",
            Self::TokenCreated => "token_created",
            Self::TokenRevoked => "token_revoked",
            Self::TokenUsed => "token_used",
            Self::Export => "export",
            Self::PersonalDataExport => "personal_data_export",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One entry to append.
#[derive(Debug, Clone)]
pub struct Entry {
    pub ente_id: i64,
    pub actor: Actor,
    pub action: Action,
    /// `instance`, `attachment`, `registration`, `session`, `token`, `bundle`, …
    pub object_kind: &'static str,
    pub object_id: String,
    pub details: serde_json::Value,
}

impl Entry {
    pub fn new(
        ente_id: i64,
        actor: Actor,
        action: Action,
        object_kind: &'static str,
        object_id: impl Into<String>,
    ) -> Self {
        Entry {
            ente_id,
            actor,
            action,
            object_kind,
            object_id: object_id.into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// The hash of the chain before an ente's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields an entry's hash covers, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = al)]
pub struct Stored {
    pub id: i64,
    pub ente_id: i64,
    pub seq: i64,
    pub at: NaiveDateTime,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The entry's canonical form: RFC 8785 JSON of every field but `id` and `hash`, the time
/// in RFC 3339 UTC with microseconds, `details` as its stored (canonical JSON) text.
pub fn canonical(e: &Stored) -> String {
    let v = serde_json::json!({
        "ente_id": e.ente_id,
        "seq": e.seq,
        "at": e.at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "actor_kind": e.actor_kind,
        "actor_id": e.actor_id,
        "action": e.action,
        "object_kind": e.object_kind,
        "object_id": e.object_id,
        "client_ip": e.client_ip,
        "request_id": e.request_id,
        "details": e.details,
        "prev_hash": e.prev_hash,
    });
    // A JSON object of strings and integers always canonicalizes.
    serde_json_canonicalizer::to_string(&v).unwrap_or_default()
}

pub fn hash_of(e: &Stored) -> String {
    crate::text::sha256_hex(canonical(e).as_bytes())
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
    #[diesel(sql_type = Text)]
    last_hash: String,
}

/// Appends an entry to its ente's chain, inside the caller's transaction when there is one
/// (so an action and its entry commit together). Returns its `seq`.
pub fn record(conn: &mut DbConn, entry: Entry) -> QueryResult<i64> {
    let ctx = Context::current();
    // Stored with microseconds, which both backends keep exactly (the hash covers it).
    let now = crate::db::now();
    let at = now
        .with_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now);
    write_tx(conn, |conn| {
        diesel::sql_query(
            "INSERT INTO audit_heads (ente_id, last_seq, last_hash) VALUES ($1, 0, $2) \
             ON CONFLICT (ente_id) DO NOTHING",
        )
        .bind::<BigInt, _>(entry.ente_id)
        .bind::<Text, _>(GENESIS)
        .execute(conn)?;
        // Takes the head's row lock until commit: the ente's appends are serialized here.
        let head: Head = diesel::sql_query(
            "UPDATE audit_heads SET last_seq = last_seq + 1 WHERE ente_id = $1 \
             RETURNING last_seq, last_hash",
        )
        .bind::<BigInt, _>(entry.ente_id)
        .get_result(conn)?;
        let details =
            serde_json_canonicalizer::to_string(&entry.details).unwrap_or_else(|_| "{}".into());
        let mut stored = Stored {
            id: 0,
            ente_id: entry.ente_id,
            seq: head.last_seq,
            at,
            actor_kind: entry.actor.kind().into(),
            actor_id: entry.actor.id(),
            action: entry.action.as_str().into(),
            object_kind: entry.object_kind.into(),
            object_id: entry.object_id.clone(),
            client_ip: ctx.client_ip,
            request_id: ctx.request_id,
            details,
            prev_hash: head.last_hash,
            hash: String::new(),
        };
        stored.hash = hash_of(&stored);
        diesel::insert_into(al::table)
            .values((
                al::ente_id.eq(stored.ente_id),
                al::seq.eq(stored.seq),
                al::at.eq(stored.at),
                al::actor_kind.eq(&stored.actor_kind),
                al::actor_id.eq(&stored.actor_id),
                al::action.eq(&stored.action),
                al::object_kind.eq(&stored.object_kind),
                al::object_id.eq(&stored.object_id),
                al::client_ip.eq(&stored.client_ip),
                al::request_id.eq(&stored.request_id),
                al::details.eq(&stored.details),
                al::prev_hash.eq(&stored.prev_hash),
                al::hash.eq(&stored.hash),
            ))
            .execute(conn)?;
        diesel::update(audit_heads::table.find(stored.ente_id))
            .set(audit_heads::last_hash.eq(&stored.hash))
            .execute(conn)?;
        Ok(stored.seq)
    })
}

/// What a staff member or a token read of an instance (access to personal data).
#[derive(Debug, Clone, Copy)]
pub enum Read<'a> {
    /// The instance screen.
    Instance,
    /// One of its attachments, by id.
    Attachment(&'a str),
    /// One of its documents, by id.
    Document(&'a str),
}

/// Records, detached, that `actor` read `what` of instance `instance_id`: `instance_read`
/// (object the instance), or `attachment_read` / `document_read` (object the file, details
/// the `instance`).
pub fn record_read(conn: &mut DbConn, ente_id: i64, actor: Actor, instance_id: &str, what: Read) {
    let entry = match what {
        Read::Instance => Entry::new(
            ente_id,
            actor,
            Action::InstanceRead,
            "instance",
            instance_id,
        ),
        Read::Attachment(id) => {
            Entry::new(ente_id, actor, Action::AttachmentRead, "attachment", id)
                .with(serde_json::json!({ "instance": instance_id }))
        }
        Read::Document(id) => Entry::new(ente_id, actor, Action::DocumentRead, "document", id)
            .with(serde_json::json!({ "instance": instance_id })),
    };
    record_detached(conn, entry);
}

/// Appends in a transaction of its own and logs (never fails the caller) when the append
/// itself fails: for what is recorded after the fact (a failed login, a read).
pub fn record_detached(conn: &mut DbConn, entry: Entry) {
    let action = entry.action.as_str();
    if let Err(e) = record(conn, entry) {
        tracing::error!(error = %e, action, "audit entry not written");
    }
}

/// The first break of an ente's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub ente: String,
    pub seq: i64,
    /// The entry where the break shows (absent when entries are missing at the end).
    pub id: Option<i64>,
    pub what: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(
                f,
                "ente {}: entry {} (seq {}): {}",
                self.ente, id, self.seq, self.what
            ),
            None => write!(f, "ente {}: seq {}: {}", self.ente, self.seq, self.what),
        }
    }
}

/// What a walk of the chains found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Per ente walked: its code and how many entries.
    pub enti: Vec<(String, i64)>,
    pub first_break: Option<Break>,
}

/// Walks each ente's chain (or one ente's) in `seq` order and stops at the first break:
/// an entry whose hash does not match its content (altered), a `seq` missing (deleted), an
/// entry that does not follow its predecessor or is not in the head (inserted), entries
/// missing after the last one.
pub fn verify(conn: &mut DbConn, ente: Option<&str>) -> anyhow::Result<Verification> {
    let mut q = enti::table
        .select((enti::id, enti::code))
        .order(enti::id)
        .into_boxed();
    if let Some(code) = ente {
        q = q.filter(enti::code.eq(code.to_owned()));
    }
    let list: Vec<(i64, String)> = q.load(conn)?;
    if let (Some(code), true) = (ente, list.is_empty()) {
        anyhow::bail!("no ente with code {code}");
    }
    let mut out = Verification {
        enti: Vec::new(),
        first_break: None,
    };
    for (ente_id, code) in list {
        let (count, brk) = verify_one(conn, ente_id, &code)?;
        out.enti.push((code, count));
        if brk.is_some() {
            out.first_break = brk;
            break;
        }
    }
    Ok(out)
}

fn verify_one(conn: &mut DbConn, ente_id: i64, code: &str) -> anyhow::Result<(i64, Option<Break>)> {
    let brk = |seq: i64, id: Option<i64>, what: String| Break {
        ente: code.to_owned(),
        seq,
        id,
        what,
    };
    let head: Option<(i64, String)> = audit_heads::table
        .find(ente_id)
        .select((audit_heads::last_seq, audit_heads::last_hash))
        .first(conn)
        .optional()?;
    let mut expected = 1_i64;
    let mut prev = GENESIS.to_owned();
    let mut count = 0_i64;
    let mut after_id = 0_i64;
    let mut after_seq = 0_i64;
    loop {
        // By seq, then id: a second entry with a seq (possible only with the unique key
        // dropped) is seen right after the first.
        let batch: Vec<Stored> = al::table
            .filter(al::ente_id.eq(ente_id))
            .filter(
                al::seq
                    .gt(after_seq)
                    .or(al::seq.eq(after_seq).and(al::id.gt(after_id))),
            )
            .order((al::seq.asc(), al::id.asc()))
            .limit(1000)
            .select(Stored::as_select())
            .load(conn)?;
        if batch.is_empty() {
            break;
        }
        for e in batch {
            after_seq = e.seq;
            after_id = e.id;
            count += 1;
            if e.seq < expected {
                return Ok((
                    count,
                    Some(brk(
                        e.seq,
                        Some(e.id),
                        format!("inserted: seq {} appears a second time", e.seq),
                    )),
                ));
            }
            if e.seq > expected {
                return Ok((
                    count,
                    Some(brk(
                        expected,
                        Some(e.id),
                        format!(
                            "deleted: entries {expected}–{} are missing before this one (seq {})",
                            e.seq - 1,
                            e.seq
                        ),
                    )),
                ));
            }
            match &head {
                Some((last, _)) if e.seq > *last => {
                    return Ok((
                        count,
                        Some(brk(
                            e.seq,
                            Some(e.id),
                            format!("inserted: beyond the chain's head (last appended seq {last})"),
                        )),
                    ));
                }
                None => {
                    return Ok((
                        count,
                        Some(brk(
                            e.seq,
                            Some(e.id),
                            "inserted: the ente has no chain head".into(),
                        )),
                    ));
                }
                _ => {}
            }
            if e.prev_hash != prev {
                return Ok((count, Some(brk(e.seq, Some(e.id),
                    "inserted or replaced: it does not follow the entry before it (prev_hash differs)".into()))));
            }
            if hash_of(&e) != e.hash {
                return Ok((
                    count,
                    Some(brk(
                        e.seq,
                        Some(e.id),
                        "altered: its hash does not match its content".into(),
                    )),
                ));
            }
            prev = e.hash;
            expected += 1;
        }
    }
    if let Some((last, last_hash)) = head {
        if expected - 1 < last {
            return Ok((
                count,
                Some(brk(
                    expected,
                    None,
                    format!("deleted: entries {expected}–{last} are missing at the end"),
                )),
            ));
        }
        if last > 0 && last_hash != prev {
            return Ok((
                count,
                Some(brk(
                    last,
                    None,
                    "altered: the last entry is not the one the head names".into(),
                )),
            ));
        }
    }
    Ok((count, None))
}

/// The actor of an instance's history entry, with the instance's ente and citizen.
pub fn instance_event(
    conn: &mut DbConn,
    instance_id: &str,
    actor: &str,
    kinds: Vec<&str>,
) -> QueryResult<()> {
    use crate::db::schema::instances as inst;
    let (ente_id, citizen_id): (i64, i64) = inst::table
        .find(instance_id)
        .select((inst::ente_id, inst::citizen_id))
        .first(conn)?;
    record(
        conn,
        Entry::new(
            ente_id,
            Actor::from_history(actor, citizen_id),
            Action::InstanceEvent,
            "instance",
            instance_id,
        )
        .with(serde_json::json!({ "events": kinds })),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Stored {
        Stored {
            id: 7,
            ente_id: 1,
            seq: 3,
            at: chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
                .unwrap()
                .and_hms_micro_opt(10, 0, 0, 123_456)
                .unwrap(),
            actor_kind: "staff".into(),
            actor_id: "operatore.anagrafe".into(),
            action: "instance_read".into(),
            object_kind: "instance".into(),
            object_id: "abc".into(),
            client_ip: Some("127.0.0.1".into()),
            request_id: None,
            details: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_canonical_form_is_sorted_json_of_every_field_but_id_and_hash() {
        let e = entry();
        assert_eq!(
            canonical(&e),
            "{\"action\":\"instance_read\",\"actor_id\":\"operatore.anagrafe\",\"actor_kind\":\"staff\",\
             \"at\":\"2026-12-03T10:00:00.123456Z\",\"client_ip\":\"127.0.0.1\",\"details\":\"{}\",\
             \"ente_id\":1,\"object_id\":\"abc\",\"object_kind\":\"instance\",\
             \"prev_hash\":\"0000000000000000000000000000000000000000000000000000000000000000\",\
             \"request_id\":null,\"seq\":3}"
        );
        let mut other = e.clone();
        other.id = 99;
        other.hash = "x".into();
        assert_eq!(hash_of(&e), hash_of(&other), "id and hash are not covered");
        other.actor_id = "operatore2.anagrafe".into();
        assert_ne!(hash_of(&e), hash_of(&other));
    }

    #[test]
    fn history_actors_map_to_audit_actors() {
        assert_eq!(Actor::from_history("citizen", 5), Actor::Citizen(5));
        assert_eq!(
            Actor::from_history("staff:op", 5),
            Actor::Staff("op".into())
        );
        assert_eq!(Actor::from_history("system", 5), Actor::System);
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
    }
}
