//! Annulment of a protocol registration (DPR 445/2000 art. 54) by a protocol clerk who holds
//! the right to annul: with a reason and the reference of the authorizing act. The entry
//! stays readable with the annulment's date, author, reason and act (the database refuses any
//! other change); the instance it registered becomes `annulled` and its citizen is told.
//! Annulling a later registration of an instance (a request for integration, a reply) leaves
//! the instance's state alone and writes the annulment in its history.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::BackofficeError;
use crate::db::schema::{
    aoo, instances as inst, protocol_registrations as pr, staff_roles, staff_users,
};
use crate::db::{write_tx, DbConn};
use crate::domain::instance_status::{Actor, Facts};
use crate::domain::protocol_number::ProtocolNumber;
use crate::domain::{FieldError, Transition};
use crate::instances::{iso, iso_rome, record_event, Event, InstanceRow};
use crate::notify::{enqueue_emails, EmailPayload};
use crate::protocol::Direction;

/// The annulment of an entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnnulmentView {
    #[schema(format = DateTime)]
    pub at: String,
    /// The clerk who annulled it.
    pub by: String,
    pub reason: String,
    /// The reference of the act that authorized it.
    pub act: Option<String>,
}

/// An entry of the protocol register, as clerks read it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterEntry {
    pub aoo: String,
    #[schema(value_type = String, example = "0000042")]
    pub number: ProtocolNumber,
    pub year: i32,
    #[schema(format = DateTime)]
    pub registered_at: String,
    pub direction: Direction,
    pub sender: String,
    pub recipient: Option<String>,
    pub subject: String,
    pub document_digest: String,
    pub attachments_count: i32,
    pub attachments_description: String,
    /// The instance it belongs to.
    pub instance_id: Option<String>,
    pub annulment: Option<AnnulmentView>,
    /// Classification, fascicolo and review (see `backoffice::review`).
    pub filing: super::review::FilingView,
}

/// What a staff member may do in an AOO's register.
pub(crate) struct ClerkRights {
    pub(crate) aoo_id: i64,
    pub(crate) username: String,
    /// A protocol clerk of the AOO (an administrator only reads).
    pub(crate) is_clerk: bool,
    pub(crate) may_annul: bool,
}

/// A clerk of the AOO (or an administrator, who may read but not annul); anyone else: not
/// found.
pub(crate) fn rights(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
) -> Result<ClerkRights, BackofficeError> {
    let aoo_id: i64 = aoo::table
        .filter(aoo::ente_id.eq(ente_id))
        .filter(aoo::code.eq(aoo_code))
        .select(aoo::id)
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    let username: String = staff_users::table
        .find(staff_user_id)
        .filter(staff_users::ente_id.eq(ente_id))
        .filter(staff_users::active.eq(true))
        .select(staff_users::username)
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    let roles: Vec<(String, Option<i64>, bool)> = staff_roles::table
        .filter(staff_roles::staff_user_id.eq(staff_user_id))
        .select((
            staff_roles::role,
            staff_roles::aoo_id,
            staff_roles::can_annul,
        ))
        .load(conn)?;
    let clerk = roles
        .iter()
        .filter(|(r, a, _)| r == "protocol_clerk" && *a == Some(aoo_id));
    let is_clerk = clerk.clone().next().is_some();
    let may_annul = clerk.clone().any(|(_, _, annul)| *annul);
    let admin = roles.iter().any(|(r, _, _)| r == "admin");
    if !is_clerk && !admin {
        return Err(BackofficeError::NotFound);
    }
    Ok(ClerkRights {
        aoo_id,
        username,
        is_clerk,
        may_annul,
    })
}

/// The id of an entry of the AOO's register, or not found.
pub(super) fn registration_id(
    conn: &mut DbConn,
    aoo_id: i64,
    year: i32,
    number: i64,
) -> Result<i64, BackofficeError> {
    pr::table
        .filter(pr::aoo_id.eq(aoo_id))
        .filter(pr::year.eq(year))
        .filter(pr::number.eq(number))
        .select(pr::id)
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)
}

/// An entry of the register as read (see `find`; the daily register reads the same columns).
pub(crate) type EntryRow = (
    i64,
    i32,
    i64,
    NaiveDateTime,
    String,
    String,
    Option<String>,
    String,
    String,
    i32,
    String,
    Option<String>,
    (
        Option<NaiveDateTime>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
);

/// The columns of an [`EntryRow`], in its order.
pub(crate) type EntryColumns = (
    pr::id,
    pr::year,
    pr::number,
    pr::registered_at,
    pr::direction,
    pr::sender,
    pr::recipient,
    pr::subject,
    pr::document_digest,
    pr::attachments_count,
    pr::attachments_description,
    pr::instance_id,
    (
        pr::annulled_at,
        pr::annulled_by,
        pr::annulment_reason,
        pr::annulment_act,
    ),
);

/// What `find` and the daily register select.
pub(crate) const ENTRY_COLUMNS: EntryColumns = (
    pr::id,
    pr::year,
    pr::number,
    pr::registered_at,
    pr::direction,
    pr::sender,
    pr::recipient,
    pr::subject,
    pr::document_digest,
    pr::attachments_count,
    pr::attachments_description,
    pr::instance_id,
    (
        pr::annulled_at,
        pr::annulled_by,
        pr::annulment_reason,
        pr::annulment_act,
    ),
);

fn find(
    conn: &mut DbConn,
    aoo_id: i64,
    year: i32,
    number: i64,
) -> Result<EntryRow, BackofficeError> {
    pr::table
        .filter(pr::aoo_id.eq(aoo_id))
        .filter(pr::year.eq(year))
        .filter(pr::number.eq(number))
        .select(ENTRY_COLUMNS)
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)
}

fn entry(
    conn: &mut DbConn,
    ente_id: i64,
    aoo_code: &str,
    r: EntryRow,
) -> Result<RegisterEntry, BackofficeError> {
    let filing = super::review::filing(conn, ente_id, r.0)?;
    let (_, year, number, at, dir, sender, recipient, subject, digest, n, descr, instance, ann) = r;
    Ok(RegisterEntry {
        aoo: aoo_code.to_owned(),
        number: ProtocolNumber::new(number).map_err(anyhow::Error::from)?,
        year,
        registered_at: iso_rome(at),
        direction: Direction::parse(&dir)
            .ok_or_else(|| anyhow::anyhow!("registration with direction {dir:?}"))?,
        sender,
        recipient,
        subject,
        document_digest: digest,
        attachments_count: n,
        attachments_description: descr,
        instance_id: instance,
        annulment: match ann {
            (Some(at), Some(by), Some(reason), act) => Some(AnnulmentView {
                at: iso(at),
                by,
                reason,
                act,
            }),
            _ => None,
        },
        filing,
    })
}

/// One entry of the register, for the AOO's clerks and the ente's administrators.
pub fn read(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    year: i32,
    number: i64,
) -> Result<RegisterEntry, BackofficeError> {
    let r = rights(conn, ente_id, staff_user_id, aoo_code)?;
    let row = find(conn, r.aoo_id, year, number)?;
    entry(conn, ente_id, aoo_code, row)
}

/// What the clerk gives for an annulment.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnulmentRequest {
    pub reason: String,
    /// The reference of the authorizing act (e.g. "Determinazione n. 12 del 02/12/2026").
    pub act: String,
}

fn required(pointer: &str, text: &str) -> Result<String, BackofficeError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 2000 {
        return Err(BackofficeError::Invalid(vec![FieldError::new(
            pointer,
            "Obbligatorio, al massimo 2000 caratteri.",
        )]));
    }
    Ok(t.to_owned())
}

/// Annuls the entry; answers it as it now reads.
#[expect(clippy::too_many_arguments, reason = "who, which entry, and why")]
pub fn annul(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    year: i32,
    number: i64,
    req: &AnnulmentRequest,
    link_base: &str,
    now: NaiveDateTime,
) -> Result<RegisterEntry, BackofficeError> {
    let reason = required("/reason", &req.reason)?;
    let act = required("/act", &req.act)?;
    write_tx(conn, |conn| {
        let r = rights(conn, ente_id, staff_user_id, aoo_code)?;
        if !r.may_annul {
            return Err(BackofficeError::Forbidden(
                "Solo un addetto al protocollo autorizzato all'annullamento può annullare una \
                 registrazione (DPR 445/2000, art. 54)."
                    .into(),
            ));
        }
        let row = find(conn, r.aoo_id, year, number)?;
        if row.12 .0.is_some() {
            return Err(BackofficeError::AlreadyAnnulled);
        }
        let reg_id = row.0;
        // Annulling is reviewing: an entry still to review is reviewed by its annulment
        // (nothing of it may change afterwards).
        let (reviewed_at, reviewed_by): (Option<NaiveDateTime>, Option<i64>) = pr::table
            .find(reg_id)
            .select((pr::reviewed_at, pr::reviewed_by))
            .first(conn)?;
        let reviewed = reviewed_at.zip(reviewed_by);
        let (review_at, review_by) = reviewed.unwrap_or((now, staff_user_id));
        diesel::update(pr::table.find(reg_id))
            .set((
                pr::annulled_at.eq(now),
                pr::annulled_by.eq(&r.username),
                pr::annulment_reason.eq(&reason),
                pr::annulment_act.eq(&act),
                pr::reviewed_at.eq(review_at),
                pr::reviewed_by.eq(review_by),
            ))
            .execute(conn)?;
        if reviewed.is_none() {
            super::review::record_change(
                conn,
                reg_id,
                staff_user_id,
                now,
                super::review::FilingField::Reviewed,
                None,
                Some(&iso(now)),
            )?;
        }
        let number_text = ProtocolNumber::new(number)
            .map_err(anyhow::Error::from)?
            .to_string();
        tracing::info!(aoo = aoo_code, year, number = %number_text, clerk = %r.username, "protocol registration annulled");
        if let Some(instance_id) = &row.11 {
            effect_on_instance(
                conn,
                instance_id,
                reg_id,
                &number_text,
                year,
                &reason,
                &act,
                &r.username,
                link_base,
                now,
            )?;
        }
        let row = find(conn, r.aoo_id, year, number)?;
        entry(conn, ente_id, aoo_code, row)
    })
}

#[expect(clippy::too_many_arguments, reason = "the annulment's facts")]
fn effect_on_instance(
    conn: &mut DbConn,
    instance_id: &str,
    reg_id: i64,
    number: &str,
    year: i32,
    reason: &str,
    act: &str,
    clerk: &str,
    link_base: &str,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let row: InstanceRow = inst::table
        .find(instance_id)
        .select(InstanceRow::as_select())
        .first(conn)?;
    let actor = format!("staff:{clerk}");
    let event = Event::RegistrationAnnulled {
        protocol_number: number.to_owned(),
        year,
        reason: reason.to_owned(),
        act: act.to_owned(),
    };
    // The annulment itself in the audit log (art. 54 DPR 445/2000), besides the history entry.
    crate::audit::record(
        conn,
        crate::audit::Entry::new(
            row.ente_id,
            crate::audit::Actor::Staff(clerk.to_owned()),
            crate::audit::Action::RegistrationAnnulled,
            "registration",
            format!("{year}/{number}"),
        )
        .with(serde_json::json!({ "instance": instance_id, "reason": reason, "act": act })),
    )?;
    let primary = row.registration_id == Some(reg_id);
    let to = row
        .status
        .apply(Transition::Annul, Actor::ProtocolClerk, Facts::default());
    let (true, Ok(to)) = (primary, to) else {
        // A later registration of the instance: its history says so, nothing else changes.
        record_event(conn, instance_id, now, &actor, &event)?;
        return Ok(());
    };
    let n = diesel::update(
        inst::table
            .find(instance_id)
            .filter(inst::version.eq(row.version)),
    )
    .set((
        inst::status.eq(to.as_str()),
        inst::version.eq(row.version + 1),
        inst::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(BackofficeError::Stale {
            current: row.version + 1,
        });
    }
    record_event(conn, instance_id, now, &actor, &event)?;
    let (email, title): (Option<String>, String) = {
        use crate::db::schema::{citizens, services};
        let email: Option<String> = citizens::table
            .find(row.citizen_id)
            .select(citizens::email)
            .first(conn)?;
        let title: String = services::table
            .find(row.service_id)
            .select(services::title)
            .first(conn)?;
        let from_data = row
            .data_value()
            .pointer("/contatti/email")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        (from_data.or(email), title)
    };
    if let Some(to) = email {
        enqueue_emails(
            conn,
            row.ente_id,
            &[(
                format!("annulled:{instance_id}"),
                EmailPayload {
                    to,
                    subject: format!("Registrazione annullata – {title} – Prot. n. {number}"),
                    body: format!(
                        "Gentile cittadina, gentile cittadino,\n\n\
                         la registrazione di protocollo n. {number}/{year} della sua istanza \
                         «{title}» è stata annullata (DPR 445/2000, art. 54).\n\n\
                         Motivo: {reason}\nProvvedimento di autorizzazione: {act}\n\n\
                         La pratica è chiusa; se necessario può presentare una nuova istanza.\n\
                         Dettagli nella sua area personale: {link_base}/{instance_id}\n\n\
                         Questo messaggio è generato automaticamente: non rispondere.\n"
                    ),
                    attachments: Vec::new(),
                },
            )],
        )?;
        record_event(
            conn,
            instance_id,
            now,
            "system",
            &Event::NotificationsQueued {
                messages: vec!["annulled".to_owned()],
            },
        )?;
    }
    tracing::info!(
        instance = instance_id,
        "instance annulled with its registration"
    );
    Ok(())
}
