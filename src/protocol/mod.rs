//! The built-in protocol register (registro di protocollo, DPR 445/2000 art. 53–57).
//!
//! Numbers are gap-free and unique per AOO and calendar year (Italian time): the counter is
//! advanced by one upsert in the same transaction that writes the registration, so a rollback
//! undoes both and concurrent registrations serialise on the counter row. Registrations are
//! immutable: the database refuses updates and deletes (triggers on both backends) except a
//! single annulment with its reason.

pub mod daily_register;

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use serde::Serialize;

use crate::db::schema::{instances, protocol_registrations as pr, services};
use crate::db::DbConn;
use crate::domain::calendar;
use crate::domain::protocol_number::ProtocolNumber;

pub mod external;
pub mod pec;
pub mod segnatura;
pub mod titolario;

/// Which way a registered document goes (DPR 445/2000 art. 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Received (istanza, integration answer, withdrawal): the register names its sender.
    In,
    /// Sent (request for integration, reply): the register names its recipient.
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "in" => Some(Self::In),
            "out" => Some(Self::Out),
            _ => None,
        }
    }
}

/// What is registered for a document.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct NewRegistration {
    pub ente_id: i64,
    pub aoo_id: i64,
    /// UTC instant of registration; its Italian calendar year picks the register.
    pub at: NaiveDateTime,
    pub direction: Direction,
    /// Who sent it: the applicant for an incoming document, the office for an outgoing one.
    pub sender: String,
    /// Who receives an outgoing document (required for `Out`).
    pub recipient: Option<String>,
    pub subject: String,
    /// SHA-256 (hex) of the primary document.
    pub document_digest: String,
    /// File name and description of each attachment.
    pub attachments: Vec<(String, Option<String>)>,
    pub instance_id: Option<String>,
    /// The instance's own registration (its submission): linked as `instances.registration_id`.
    /// Later registrations of the instance (integration, reply, withdrawal) only name it.
    pub primary: bool,
}

impl NewRegistration {
    /// The description of the attachment with this file name, if it has one.
    pub fn description_of(&self, filename: &str) -> Option<&str> {
        self.attachments
            .iter()
            .find(|(f, _)| f == filename)
            .and_then(|(_, d)| d.as_deref())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    #[serde(skip)]
    pub id: i64,
    pub year: i32,
    pub number: ProtocolNumber,
    /// UTC.
    pub registered_at: NaiveDateTime,
    pub subject: String,
    pub document_digest: String,
    pub attachments_count: i32,
}

#[derive(QueryableByName)]
struct Counter {
    #[diesel(sql_type = BigInt)]
    last_number: i64,
}

/// Describes the attachments for the register: count and a readable list.
fn describe_attachments(attachments: &[(String, Option<String>)]) -> String {
    if attachments.is_empty() {
        return "Nessun allegato".to_owned();
    }
    let items: Vec<String> = attachments
        .iter()
        .map(|(name, descr)| match descr {
            Some(d) if !d.trim().is_empty() => format!("{name} ({})", d.trim()),
            _ => name.clone(),
        })
        .collect();
    format!("{} allegati: {}", attachments.len(), items.join("; "))
}

#[derive(QueryableByName)]
struct IdNumber {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    number: i64,
}

/// Takes the next number of the AOO's register for the year, writes the registration and, for
/// an instance, links it. An instance's registration is classified under its service's
/// `default_class` (the protocol clerk reviews it). Must run inside a write transaction (see `db::write_tx`) together
/// with whatever the registration documents, so that nothing is numbered that is not stored.
///
/// The counter row stays locked until the transaction ends, so concurrent registrations of
/// one AOO queue here: callers do everything else first and commit right after. On
/// PostgreSQL counter, registration and link are one statement (one round trip under the
/// lock); on SQLite, where the write lock is held for the whole transaction anyway, three.
pub fn register(conn: &mut DbConn, new: &NewRegistration) -> anyhow::Result<Registration> {
    if new.direction == Direction::Out && new.recipient.is_none() {
        anyhow::bail!("an outgoing registration names its recipient");
    }
    let year = calendar::to_rome(new.at).year();
    let attachments_count = i32::try_from(new.attachments.len())?;
    let description = describe_attachments(&new.attachments);
    let row: IdNumber = match conn {
        DbConn::Postgres(_) => diesel::sql_query(
            "WITH c AS (\
               INSERT INTO protocol_counters (aoo_id, year, last_number) VALUES ($1, $2, 1) \
               ON CONFLICT (aoo_id, year) DO UPDATE \
               SET last_number = protocol_counters.last_number + 1 RETURNING last_number), \
             r AS (\
               INSERT INTO protocol_registrations (ente_id, aoo_id, year, number, registered_at, \
                 direction, sender, subject, document_digest, attachments_count, \
                 attachments_description, instance_id, recipient, classification) \
               SELECT $3, $1, $2, c.last_number, $4, $11, $5, $6, $7, $8, $9, $10, $12, \
                 (SELECT s.default_class FROM instances i JOIN services s ON s.id = i.service_id \
                  WHERE i.id = $10) FROM c \
               RETURNING id, number), \
             u AS (UPDATE instances SET registration_id = r.id FROM r \
               WHERE instances.id = $10 AND $13) \
             SELECT id, number FROM r",
        )
        .bind::<BigInt, _>(new.aoo_id)
        .bind::<Integer, _>(year)
        .bind::<BigInt, _>(new.ente_id)
        .bind::<Timestamp, _>(new.at)
        .bind::<Text, _>(&new.sender)
        .bind::<Text, _>(&new.subject)
        .bind::<Text, _>(&new.document_digest)
        .bind::<Integer, _>(attachments_count)
        .bind::<Text, _>(&description)
        .bind::<Nullable<Text>, _>(&new.instance_id)
        .bind::<Text, _>(new.direction.as_str())
        .bind::<Nullable<Text>, _>(&new.recipient)
        .bind::<diesel::sql_types::Bool, _>(new.primary)
        .get_result(conn)?,
        DbConn::Sqlite(_) => {
            let classification = default_class(conn, new.instance_id.as_deref())?;
            let counter: Counter = diesel::sql_query(
                "INSERT INTO protocol_counters (aoo_id, year, last_number) VALUES ($1, $2, 1) \
                 ON CONFLICT (aoo_id, year) DO UPDATE \
                 SET last_number = protocol_counters.last_number + 1 RETURNING last_number",
            )
            .bind::<BigInt, _>(new.aoo_id)
            .bind::<Integer, _>(year)
            .get_result(conn)?;
            let id: i64 = diesel::insert_into(pr::table)
                .values((
                    pr::ente_id.eq(new.ente_id),
                    pr::aoo_id.eq(new.aoo_id),
                    pr::year.eq(year),
                    pr::number.eq(counter.last_number),
                    pr::registered_at.eq(new.at),
                    pr::direction.eq(new.direction.as_str()),
                    pr::sender.eq(&new.sender),
                    pr::recipient.eq(&new.recipient),
                    pr::subject.eq(&new.subject),
                    pr::document_digest.eq(&new.document_digest),
                    pr::attachments_count.eq(attachments_count),
                    pr::attachments_description.eq(&description),
                    pr::instance_id.eq(&new.instance_id),
                    pr::classification.eq(&classification),
                ))
                .returning(pr::id)
                .get_result(conn)?;
            if let (Some(instance), true) = (&new.instance_id, new.primary) {
                diesel::update(instances::table.find(instance))
                    .set(instances::registration_id.eq(id))
                    .execute(conn)?;
            }
            IdNumber {
                id,
                number: counter.last_number,
            }
        }
    };
    let number = ProtocolNumber::new(row.number)?;
    tracing::info!(aoo_id = new.aoo_id, year, number = %number, direction = new.direction.as_str(), "protocol registration");
    Ok(Registration {
        id: row.id,
        year,
        number,
        registered_at: new.at,
        subject: new.subject.clone(),
        document_digest: new.document_digest.clone(),
        attachments_count,
    })
}

/// Writes the registration an external protocol system made (its number, year and instant)
/// and, for the instance's own registration, links it. No counter: the external system
/// numbers; the unique (AOO, year, number) index still refuses a number given twice. Inside
/// a write transaction, with what the registration documents.
pub fn record_external(
    conn: &mut DbConn,
    new: &NewRegistration,
    system: &str,
    year: i32,
    number: ProtocolNumber,
) -> anyhow::Result<Registration> {
    let attachments_count = i32::try_from(new.attachments.len())?;
    let classification = default_class(conn, new.instance_id.as_deref())?;
    let id: i64 = diesel::insert_into(pr::table)
        .values((
            pr::ente_id.eq(new.ente_id),
            pr::aoo_id.eq(new.aoo_id),
            pr::year.eq(year),
            pr::number.eq(i64::from(number.get())),
            pr::registered_at.eq(new.at),
            pr::direction.eq(new.direction.as_str()),
            pr::sender.eq(&new.sender),
            pr::recipient.eq(&new.recipient),
            pr::subject.eq(&new.subject),
            pr::document_digest.eq(&new.document_digest),
            pr::attachments_count.eq(attachments_count),
            pr::attachments_description.eq(describe_attachments(&new.attachments)),
            pr::instance_id.eq(&new.instance_id),
            pr::external_system.eq(system),
            pr::classification.eq(&classification),
        ))
        .returning(pr::id)
        .get_result(conn)?;
    if let (Some(instance), true) = (&new.instance_id, new.primary) {
        diesel::update(instances::table.find(instance))
            .set(instances::registration_id.eq(id))
            .execute(conn)?;
    }
    tracing::info!(aoo_id = new.aoo_id, year, number = %number, system, "external protocol registration recorded");
    Ok(Registration {
        id,
        year,
        number,
        registered_at: new.at,
        subject: new.subject.clone(),
        document_digest: new.document_digest.clone(),
        attachments_count,
    })
}

/// The class an instance's registrations get when made: its service's `default_class`.
fn default_class(conn: &mut DbConn, instance: Option<&str>) -> QueryResult<Option<String>> {
    let Some(instance) = instance else {
        return Ok(None);
    };
    Ok(instances::table
        .inner_join(services::table)
        .filter(instances::id.eq(instance))
        .select(services::default_class)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// A registration by id.
pub fn find(conn: &mut DbConn, id: i64) -> anyhow::Result<Option<Registration>> {
    let row: Option<(i64, i32, i64, NaiveDateTime, String, String, i32)> = pr::table
        .find(id)
        .select((
            pr::id,
            pr::year,
            pr::number,
            pr::registered_at,
            pr::subject,
            pr::document_digest,
            pr::attachments_count,
        ))
        .first(conn)
        .optional()?;
    row.map(
        |(id, year, number, registered_at, subject, document_digest, attachments_count)| {
            Ok(Registration {
                id,
                year,
                number: ProtocolNumber::new(number)?,
                registered_at,
                subject,
                document_digest,
                attachments_count,
            })
        },
    )
    .transpose()
}

/// The Italian (local) date-time of a registration, as printed on receipts.
pub fn local_time(r: &Registration) -> NaiveDateTime {
    calendar::to_rome(r.registered_at)
}

/// The year a registration instant belongs to (Italian calendar).
pub fn register_year(at: NaiveDateTime) -> i32 {
    calendar::to_rome(at).year()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_descriptions() {
        assert_eq!(describe_attachments(&[]), "Nessun allegato");
        assert_eq!(
            describe_attachments(&[
                (
                    "contratto.pdf".into(),
                    Some("Contratto di locazione".into())
                ),
                ("foto.jpg".into(), None),
            ]),
            "2 allegati: contratto.pdf (Contratto di locazione); foto.jpg"
        );
    }
}
