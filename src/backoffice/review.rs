//! The protocol clerk's review of the register (DPR 445/2000 art. 56–64; AgID Linee guida
//! 2021 §3.1): every registration Sportello makes is automatic, so the AOO's clerks go through
//! them, set the **classification** from the ente's titolario, file each entry in a
//! **fascicolo** (an existing one or a new one: numbered per year and class), and mark it
//! reviewed. None of these is among the register's immutable fields (art. 53): they may be
//! corrected at any time, and each change is written in the entry's filing history with who
//! and when (the database refuses to edit or delete that history).
//!
//! Clerks of the AOO do all of it; the ente's administrators read; operators and citizens are
//! not told the register exists (404 from `annulment::rights`).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::annulment::{self, rights, ClerkRights, RegisterEntry};
use super::{bad, day_start_utc, BackofficeError};
use crate::db::schema::{
    aoo, classes, fascicoli, instances as inst, offices, protocol_registrations as pr,
    registration_filing_history as hist, services, staff_users,
};
use crate::db::{write_tx, DbConn};
use crate::domain::calendar;
use crate::domain::protocol_number::ProtocolNumber;
use crate::instances::{iso, iso_rome};
use crate::protocol::Direction;

/// A titolario entry as a registration names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassRef {
    /// "XI.2": title and class.
    #[schema(example = "XI.2")]
    pub code: String,
    #[schema(example = "Anagrafe e certificazioni")]
    pub title: String,
}

/// A fascicolo.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FascicoloView {
    pub year: i32,
    /// Its class in the titolario.
    #[schema(example = "XI.2")]
    pub class: String,
    /// Its number within year and class, from 1.
    pub number: i64,
    /// How it is cited: year, class, number ("2026/XI.2/3").
    #[schema(example = "2026/XI.2/3")]
    pub label: String,
    pub subject: String,
    /// The office responsible for it (its code).
    pub office: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_by: String,
}

/// Who marked an entry reviewed, and when.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewView {
    #[schema(format = DateTime)]
    pub at: String,
    pub by: String,
}

/// Which part of an entry's filing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilingField {
    Classification,
    Fascicolo,
    Reviewed,
}

impl FilingField {
    fn as_str(self) -> &'static str {
        match self {
            Self::Classification => "classification",
            Self::Fascicolo => "fascicolo",
            Self::Reviewed => "reviewed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "classification" => Some(Self::Classification),
            "fascicolo" => Some(Self::Fascicolo),
            "reviewed" => Some(Self::Reviewed),
            _ => None,
        }
    }
}

/// One change of an entry's filing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FilingChange {
    #[schema(format = DateTime)]
    pub at: String,
    /// The clerk's username.
    pub by: String,
    pub field: FilingField,
    /// Before: a class code, a fascicolo label, or nothing.
    pub old: Option<String>,
    pub new: Option<String>,
}

/// How an entry is classified and filed, and its history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FilingView {
    pub classification: Option<ClassRef>,
    pub fascicolo: Option<FascicoloView>,
    pub reviewed: Option<ReviewView>,
    /// Every change, oldest first (the classification a service gives at registration is
    /// the starting point, not a change).
    pub history: Vec<FilingChange>,
}

/// A filing change as read: when, who, field, old, new.
type HistoryRow = (
    NaiveDateTime,
    String,
    String,
    Option<String>,
    Option<String>,
);

type FascicoloRow = (i64, i32, String, i64, String, String, NaiveDateTime, String);

fn fascicolo_view(
    (_, year, class, number, subject, office, at, by): FascicoloRow,
) -> FascicoloView {
    FascicoloView {
        label: format!("{year}/{class}/{number}"),
        year,
        class,
        number,
        subject,
        office,
        created_at: iso(at),
        created_by: by,
    }
}

fn fascicoli_by_ids(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<BTreeMap<i64, FascicoloView>, BackofficeError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<FascicoloRow> = fascicoli::table
        .inner_join(offices::table)
        .inner_join(staff_users::table.on(staff_users::id.eq(fascicoli::created_by)))
        .filter(fascicoli::id.eq_any(ids))
        .select((
            fascicoli::id,
            fascicoli::year,
            fascicoli::class_code,
            fascicoli::number,
            fascicoli::subject,
            offices::code,
            fascicoli::created_at,
            staff_users::username,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.0, fascicolo_view(r))).collect())
}

fn class_title(conn: &mut DbConn, ente_id: i64, code: &str) -> QueryResult<Option<String>> {
    classes::table
        .filter(classes::ente_id.eq(ente_id))
        .filter(classes::code.eq(code))
        .select(classes::title)
        .first(conn)
        .optional()
}

/// An entry's filing, read for the entry screen.
pub(super) fn filing(
    conn: &mut DbConn,
    ente_id: i64,
    registration_id: i64,
) -> Result<FilingView, BackofficeError> {
    let (classification, fascicolo_id, reviewed_at, reviewed_by): (
        Option<String>,
        Option<i64>,
        Option<NaiveDateTime>,
        Option<i64>,
    ) = pr::table
        .find(registration_id)
        .select((
            pr::classification,
            pr::fascicolo_id,
            pr::reviewed_at,
            pr::reviewed_by,
        ))
        .first(conn)?;
    let classification = match classification {
        Some(code) => {
            let title = class_title(conn, ente_id, &code)?.unwrap_or_default();
            Some(ClassRef { code, title })
        }
        None => None,
    };
    let fascicolo = match fascicolo_id {
        Some(id) => fascicoli_by_ids(conn, &[id])?.remove(&id),
        None => None,
    };
    let reviewed = match (reviewed_at, reviewed_by) {
        (Some(at), Some(uid)) => Some(ReviewView {
            at: iso(at),
            by: staff_users::table
                .find(uid)
                .select(staff_users::username)
                .first(conn)?,
        }),
        _ => None,
    };
    let rows: Vec<HistoryRow> = hist::table
        .inner_join(staff_users::table.on(staff_users::id.eq(hist::staff_user_id)))
        .filter(hist::registration_id.eq(registration_id))
        .order(hist::id.asc())
        .select((
            hist::at,
            staff_users::username,
            hist::field,
            hist::old_value,
            hist::new_value,
        ))
        .load(conn)?;
    let history = rows
        .into_iter()
        .filter_map(|(at, by, field, old, new)| {
            Some(FilingChange {
                at: iso(at),
                by,
                field: FilingField::parse(&field)?,
                old,
                new,
            })
        })
        .collect();
    Ok(FilingView {
        classification,
        fascicolo,
        reviewed,
        history,
    })
}

// ---------------------------------------------------------------------------------------------
// The review list

/// The filters and page of the review list.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewFilter {
    /// Registered on or after this day (Italian date).
    pub from: Option<NaiveDate>,
    /// Registered on or before this day (Italian date).
    pub to: Option<NaiveDate>,
    /// Only entries of instances handled by this office (its code).
    pub office: Option<String>,
    /// Only entries of instances of this service (its slug).
    pub service: Option<String>,
    /// `false`: only entries still to review; `true`: only reviewed ones; absent: all.
    pub reviewed: Option<bool>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// Entries per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// An entry of the review list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewItem {
    pub year: i32,
    #[schema(value_type = String, example = "0000042")]
    pub number: ProtocolNumber,
    #[schema(format = DateTime)]
    pub registered_at: String,
    pub direction: Direction,
    pub sender: String,
    pub recipient: Option<String>,
    pub subject: String,
    pub instance_id: Option<String>,
    /// The office handling the entry's instance (its code).
    pub office: Option<String>,
    /// The service of the entry's instance (its slug).
    pub service: Option<String>,
    /// The class code ("XI.2").
    pub classification: Option<String>,
    /// The fascicolo's label ("2026/XI.2/3").
    pub fascicolo: Option<String>,
    pub reviewed: bool,
    pub annulled: bool,
}

/// A page of the review list, oldest entry first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewPage {
    pub aoo: String,
    pub items: Vec<ReviewItem>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    /// Entries of the AOO still to review, whatever the filters.
    pub to_review: i64,
}

type ListRow = (
    i32,
    i64,
    NaiveDateTime,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// The AOO's registrations for its clerks (and the ente's administrators), filtered and paged.
pub fn list(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    f: &ReviewFilter,
) -> Result<ReviewPage, BackofficeError> {
    let r = rights(conn, ente_id, staff_user_id, aoo_code)?;
    list_in(conn, ente_id, r.aoo_id, aoo_code, f)
}

/// The same list for another system of the ente (an API token with `protocol:read`): every
/// registration of the AOO, read only.
pub fn list_for_system(
    conn: &mut DbConn,
    ente_id: i64,
    aoo_code: &str,
    f: &ReviewFilter,
) -> Result<ReviewPage, BackofficeError> {
    let aoo_id: i64 = aoo::table
        .filter(aoo::ente_id.eq(ente_id))
        .filter(aoo::code.eq(aoo_code))
        .select(aoo::id)
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    list_in(conn, ente_id, aoo_id, aoo_code, f)
}

fn list_in(
    conn: &mut DbConn,
    ente_id: i64,
    aoo_id: i64,
    aoo_code: &str,
    f: &ReviewFilter,
) -> Result<ReviewPage, BackofficeError> {
    let page = f.page.unwrap_or(1).max(1);
    let per_page = f.per_page.unwrap_or(50).clamp(1, 200);
    if let (Some(from), Some(to)) = (f.from, f.to) {
        if from > to {
            return Err(bad(
                "/from",
                "La data iniziale è successiva a quella finale.",
            ));
        }
    }
    // Office and service are the instance's: resolved to ids first (an unknown code matches
    // nothing).
    let office_id: Option<Option<i64>> = match &f.office {
        None => None,
        Some(code) => Some(
            offices::table
                .filter(offices::ente_id.eq(ente_id))
                .filter(offices::code.eq(code))
                .select(offices::id)
                .first(conn)
                .optional()?,
        ),
    };
    let service_id: Option<Option<i64>> = match &f.service {
        None => None,
        Some(slug) => Some(
            services::table
                .filter(services::ente_id.eq(ente_id))
                .filter(services::slug.eq(slug))
                .select(services::id)
                .first(conn)
                .optional()?,
        ),
    };
    let build = || {
        let mut q = pr::table.filter(pr::aoo_id.eq(aoo_id)).into_boxed();
        if let Some(d) = f.from {
            q = q.filter(pr::registered_at.ge(day_start_utc(d)));
        }
        if let Some(d) = f.to {
            q = q.filter(pr::registered_at.lt(day_start_utc(d + chrono::Duration::days(1))));
        }
        match f.reviewed {
            Some(true) => q = q.filter(pr::reviewed_at.is_not_null()),
            Some(false) => q = q.filter(pr::reviewed_at.is_null()),
            None => {}
        }
        if let Some(office) = office_id {
            q = q.filter(
                pr::instance_id.eq_any(
                    inst::table
                        .filter(inst::office_id.eq(office.unwrap_or(-1)))
                        .select(inst::id.nullable()),
                ),
            );
        }
        if let Some(service) = service_id {
            q = q.filter(
                pr::instance_id.eq_any(
                    inst::table
                        .filter(inst::service_id.eq(service.unwrap_or(-1)))
                        .select(inst::id.nullable()),
                ),
            );
        }
        q
    };
    let total: i64 = build().count().get_result(conn)?;
    let to_review: i64 = pr::table
        .filter(pr::aoo_id.eq(aoo_id))
        .filter(pr::reviewed_at.is_null())
        .count()
        .get_result(conn)?;
    let rows: Vec<ListRow> = build()
        .order((pr::registered_at.asc(), pr::number.asc()))
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select((
            pr::year,
            pr::number,
            pr::registered_at,
            pr::direction,
            pr::sender,
            pr::recipient,
            pr::subject,
            pr::instance_id,
            pr::classification,
            pr::fascicolo_id,
            pr::reviewed_at,
            pr::annulled_at,
        ))
        .load(conn)?;
    // The instances' office and service, and the fascicoli, in one read each.
    let instance_ids: Vec<String> = rows.iter().filter_map(|r| r.7.clone()).collect();
    let of_instance: BTreeMap<String, (Option<String>, String)> = if instance_ids.is_empty() {
        BTreeMap::new()
    } else {
        inst::table
            .inner_join(services::table)
            .left_join(offices::table)
            .filter(inst::id.eq_any(&instance_ids))
            .select((inst::id, offices::code.nullable(), services::slug))
            .load::<(String, Option<String>, String)>(conn)?
            .into_iter()
            .map(|(id, office, service)| (id, (office, service)))
            .collect()
    };
    let fascicolo_ids: Vec<i64> = rows.iter().filter_map(|r| r.9).collect();
    let fascicoli = fascicoli_by_ids(conn, &fascicolo_ids)?;
    let items = rows
        .into_iter()
        .map(
            |(
                year,
                number,
                at,
                dir,
                sender,
                recipient,
                subject,
                instance,
                class,
                fasc,
                rev,
                ann,
            )| {
                let (office, service) = instance
                    .as_ref()
                    .and_then(|i| of_instance.get(i).cloned())
                    .map_or((None, None), |(o, s)| (o, Some(s)));
                Ok(ReviewItem {
                    year,
                    number: ProtocolNumber::new(number).map_err(anyhow::Error::from)?,
                    registered_at: iso_rome(at),
                    direction: Direction::parse(&dir)
                        .ok_or_else(|| anyhow::anyhow!("registration with direction {dir:?}"))?,
                    sender,
                    recipient,
                    subject,
                    instance_id: instance,
                    office,
                    service,
                    classification: class,
                    fascicolo: fasc
                        .and_then(|id| fascicoli.get(&id))
                        .map(|f| f.label.clone()),
                    reviewed: rev.is_some(),
                    annulled: ann.is_some(),
                })
            },
        )
        .collect::<Result<Vec<_>, BackofficeError>>()?;
    Ok(ReviewPage {
        aoo: aoo_code.to_owned(),
        items,
        page,
        per_page,
        total,
        to_review,
    })
}

// ---------------------------------------------------------------------------------------------
// Classification, filing, review

/// The entry to file: not found, or refused once annulled (an annulled entry stays as it was).
fn open_entry(
    conn: &mut DbConn,
    r: &ClerkRights,
    year: i32,
    number: i64,
) -> Result<i64, BackofficeError> {
    let reg_id = annulment::registration_id(conn, r.aoo_id, year, number)?;
    let annulled: Option<NaiveDateTime> =
        pr::table.find(reg_id).select(pr::annulled_at).first(conn)?;
    if annulled.is_some() {
        return Err(BackofficeError::AlreadyAnnulled);
    }
    Ok(reg_id)
}

/// The clerk of the AOO, or 403 (administrators read but do not file).
fn clerk(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
) -> Result<ClerkRights, BackofficeError> {
    let r = rights(conn, ente_id, staff_user_id, aoo_code)?;
    if !r.is_clerk {
        return Err(BackofficeError::Forbidden(
            "Solo gli addetti al protocollo dell'AOO classificano, fascicolano e revisionano le \
             registrazioni."
                .into(),
        ));
    }
    Ok(r)
}

pub(super) fn record_change(
    conn: &mut DbConn,
    registration_id: i64,
    staff_user_id: i64,
    now: NaiveDateTime,
    field: FilingField,
    old: Option<&str>,
    new: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(hist::table)
        .values((
            hist::registration_id.eq(registration_id),
            hist::at.eq(now),
            hist::staff_user_id.eq(staff_user_id),
            hist::field.eq(field.as_str()),
            hist::old_value.eq(old),
            hist::new_value.eq(new),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether `code` is an active entry of the ente's titolario under which documents are
/// classified: a class, or a title that has no classes.
fn classifies(conn: &mut DbConn, ente_id: i64, code: &str) -> QueryResult<bool> {
    let active: Option<Option<String>> = classes::table
        .filter(classes::ente_id.eq(ente_id))
        .filter(classes::code.eq(code))
        .filter(classes::active.eq(true))
        .select(classes::parent_code)
        .first(conn)
        .optional()?;
    Ok(match active {
        None => false,
        Some(Some(_)) => true,
        Some(None) => {
            let children: i64 = classes::table
                .filter(classes::ente_id.eq(ente_id))
                .filter(classes::parent_code.eq(code))
                .filter(classes::active.eq(true))
                .count()
                .get_result(conn)?;
            children == 0
        }
    })
}

/// Sets the classification of `reg_id` (writing the change) unless it is already `code`.
fn set_classification(
    conn: &mut DbConn,
    r: &ClerkRights,
    reg_id: i64,
    code: &str,
    staff_user_id: i64,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let current: Option<String> = pr::table
        .find(reg_id)
        .select(pr::classification)
        .first(conn)?;
    if current.as_deref() == Some(code) {
        return Ok(());
    }
    diesel::update(pr::table.find(reg_id))
        .set(pr::classification.eq(code))
        .execute(conn)?;
    record_change(
        conn,
        reg_id,
        staff_user_id,
        now,
        FilingField::Classification,
        current.as_deref(),
        Some(code),
    )?;
    tracing::info!(registration_id = reg_id, clerk = %r.username, old = ?current, new = code, "registration classified");
    Ok(())
}

/// What a clerk gives to classify an entry.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassificationRequest {
    /// A class of the ente's titolario ("XI.2"), or a title without classes ("XIV").
    #[schema(example = "XI.2")]
    pub classification: String,
}

/// Which fascicolo an entry goes into: year, class and number, as cited.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FascicoloRef {
    pub year: i32,
    #[schema(example = "XI.2")]
    pub class: String,
    #[schema(minimum = 1)]
    pub number: i64,
}

/// What a clerk gives to file an entry: a fascicolo, or `null` to take it out of its
/// fascicolo.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilingRequest {
    pub fascicolo: Option<FascicoloRef>,
}

/// The entry, for the answer of every filing action.
fn entry_after(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    year: i32,
    number: i64,
) -> Result<RegisterEntry, BackofficeError> {
    annulment::read(conn, ente_id, staff_user_id, aoo_code, year, number)
}

/// Classifies an entry (a correction is allowed at any time, and written in its history).
#[expect(clippy::too_many_arguments, reason = "who, which entry, and the class")]
pub fn classify(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    year: i32,
    number: i64,
    req: &ClassificationRequest,
    now: NaiveDateTime,
) -> Result<RegisterEntry, BackofficeError> {
    let code = req.classification.trim();
    write_tx(conn, |conn| {
        let r = clerk(conn, ente_id, staff_user_id, aoo_code)?;
        let reg_id = open_entry(conn, &r, year, number)?;
        if !classifies(conn, ente_id, code)? {
            return Err(bad(
                "/classification",
                "Non è una classe del titolario in uso: indicare titolo e classe (per esempio \
                 XI.2).",
            ));
        }
        set_classification(conn, &r, reg_id, code, staff_user_id, now)?;
        entry_after(conn, ente_id, staff_user_id, aoo_code, year, number)
    })
}

/// Files an entry in a fascicolo (or takes it out). An entry takes the classification of its
/// fascicolo: if it had another, that changes too (both written in the history).
#[expect(
    clippy::too_many_arguments,
    reason = "who, which entry, and the fascicolo"
)]
pub fn file(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    year: i32,
    number: i64,
    req: &FilingRequest,
    now: NaiveDateTime,
) -> Result<RegisterEntry, BackofficeError> {
    write_tx(conn, |conn| {
        let r = clerk(conn, ente_id, staff_user_id, aoo_code)?;
        let reg_id = open_entry(conn, &r, year, number)?;
        let target: Option<(i64, String, String)> = match &req.fascicolo {
            None => None,
            Some(f) => {
                let id: i64 = fascicoli::table
                    .filter(fascicoli::ente_id.eq(ente_id))
                    .filter(fascicoli::aoo_id.eq(r.aoo_id))
                    .filter(fascicoli::year.eq(f.year))
                    .filter(fascicoli::class_code.eq(f.class.trim()))
                    .filter(fascicoli::number.eq(f.number))
                    .select(fascicoli::id)
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| {
                        bad(
                            "/fascicolo",
                            "Fascicolo non trovato in questa AOO: crearlo prima o indicare \
                             anno, classe e numero di uno esistente.",
                        )
                    })?;
                Some((
                    id,
                    f.class.trim().to_owned(),
                    format!("{}/{}/{}", f.year, f.class.trim(), f.number),
                ))
            }
        };
        let current: Option<i64> = pr::table
            .find(reg_id)
            .select(pr::fascicolo_id)
            .first(conn)?;
        if current != target.as_ref().map(|t| t.0) {
            let old_label = match current {
                Some(id) => fascicoli_by_ids(conn, &[id])?.remove(&id).map(|f| f.label),
                None => None,
            };
            diesel::update(pr::table.find(reg_id))
                .set(pr::fascicolo_id.eq(target.as_ref().map(|t| t.0)))
                .execute(conn)?;
            record_change(
                conn,
                reg_id,
                staff_user_id,
                now,
                FilingField::Fascicolo,
                old_label.as_deref(),
                target.as_ref().map(|t| t.2.as_str()),
            )?;
            tracing::info!(registration_id = reg_id, clerk = %r.username, old = ?old_label, new = ?target.as_ref().map(|t| &t.2), "registration filed");
        }
        if let Some((_, class, _)) = &target {
            set_classification(conn, &r, reg_id, class, staff_user_id, now)?;
        }
        entry_after(conn, ente_id, staff_user_id, aoo_code, year, number)
    })
}

/// Marks an entry reviewed (once; marking it again changes nothing). It must be classified.
pub fn review(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    year: i32,
    number: i64,
    now: NaiveDateTime,
) -> Result<RegisterEntry, BackofficeError> {
    write_tx(conn, |conn| {
        let r = clerk(conn, ente_id, staff_user_id, aoo_code)?;
        let reg_id = open_entry(conn, &r, year, number)?;
        let (class, reviewed): (Option<String>, Option<NaiveDateTime>) = pr::table
            .find(reg_id)
            .select((pr::classification, pr::reviewed_at))
            .first(conn)?;
        if class.is_none() {
            return Err(bad(
                "/classification",
                "Prima di segnarla come revisionata, classificare la registrazione.",
            ));
        }
        if reviewed.is_none() {
            diesel::update(pr::table.find(reg_id))
                .set((pr::reviewed_at.eq(now), pr::reviewed_by.eq(staff_user_id)))
                .execute(conn)?;
            record_change(
                conn,
                reg_id,
                staff_user_id,
                now,
                FilingField::Reviewed,
                None,
                Some(&iso(now)),
            )?;
            tracing::info!(registration_id = reg_id, clerk = %r.username, "registration reviewed");
        }
        entry_after(conn, ente_id, staff_user_id, aoo_code, year, number)
    })
}

// ---------------------------------------------------------------------------------------------
// Titolario and fascicoli

/// An entry of the titolario.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TitolarioEntry {
    #[schema(example = "XI.2")]
    pub code: String,
    pub title: String,
    /// The title a class belongs to.
    pub parent: Option<String>,
    /// Whether documents are classified under it (a class, or a title without classes).
    pub classifies: bool,
}

/// The ente's titolario in use (entries no longer in use are left out).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TitolarioView {
    pub entries: Vec<TitolarioEntry>,
}

pub fn titolario(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
) -> Result<TitolarioView, BackofficeError> {
    rights(conn, ente_id, staff_user_id, aoo_code)?;
    let rows: Vec<(String, String, Option<String>)> = classes::table
        .filter(classes::ente_id.eq(ente_id))
        .filter(classes::active.eq(true))
        .order(classes::position.asc())
        .select((classes::code, classes::title, classes::parent_code))
        .load(conn)?;
    let parents: std::collections::BTreeSet<String> =
        rows.iter().filter_map(|r| r.2.clone()).collect();
    Ok(TitolarioView {
        entries: rows
            .into_iter()
            .map(|(code, title, parent)| TitolarioEntry {
                classifies: parent.is_some() || !parents.contains(&code),
                code,
                title,
                parent,
            })
            .collect(),
    })
}

/// The filters of the fascicoli list.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FascicoliFilter {
    pub year: Option<i32>,
    /// Only fascicoli of this class ("XI.2").
    pub class: Option<String>,
}

/// The AOO's fascicoli, newest year first, then by class and number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FascicoloList {
    pub items: Vec<FascicoloView>,
}

pub fn list_fascicoli(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    f: &FascicoliFilter,
) -> Result<FascicoloList, BackofficeError> {
    let r = rights(conn, ente_id, staff_user_id, aoo_code)?;
    let mut q = fascicoli::table
        .filter(fascicoli::aoo_id.eq(r.aoo_id))
        .select(fascicoli::id)
        .into_boxed();
    if let Some(y) = f.year {
        q = q.filter(fascicoli::year.eq(y));
    }
    if let Some(c) = &f.class {
        q = q.filter(fascicoli::class_code.eq(c.trim().to_owned()));
    }
    let ids: Vec<i64> = q.load(conn)?;
    let mut items: Vec<FascicoloView> = fascicoli_by_ids(conn, &ids)?.into_values().collect();
    items.sort_by(|a, b| {
        b.year
            .cmp(&a.year)
            .then_with(|| a.class.cmp(&b.class))
            .then_with(|| a.number.cmp(&b.number))
    });
    Ok(FascicoloList { items })
}

/// What a clerk gives to open a fascicolo; the year is the current one and the number the
/// next of the year and class.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFascicolo {
    #[schema(example = "XI.2")]
    pub class: String,
    #[schema(example = "Residenze 2026 – via Roma")]
    pub subject: String,
    /// The responsible office (its code).
    #[schema(example = "anagrafe")]
    pub office: String,
}

#[derive(QueryableByName)]
struct Next {
    #[diesel(sql_type = BigInt)]
    last_number: i64,
}

/// Opens a fascicolo.
pub fn create_fascicolo(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    req: &NewFascicolo,
    now: NaiveDateTime,
) -> Result<FascicoloView, BackofficeError> {
    let class = req.class.trim().to_owned();
    let subject = req.subject.trim().to_owned();
    let mut errors = Vec::new();
    if subject.is_empty() || subject.chars().count() > 500 {
        errors.push(crate::domain::FieldError::new(
            "/subject",
            "Obbligatorio, al massimo 500 caratteri.",
        ));
    }
    write_tx(conn, |conn| {
        let r = clerk(conn, ente_id, staff_user_id, aoo_code)?;
        if !classifies(conn, ente_id, &class)? {
            errors.push(crate::domain::FieldError::new(
                "/class",
                "Non è una classe del titolario in uso (per esempio XI.2).",
            ));
        }
        let office_id: Option<i64> = offices::table
            .filter(offices::ente_id.eq(ente_id))
            .filter(offices::code.eq(req.office.trim()))
            .select(offices::id)
            .first(conn)
            .optional()?;
        if office_id.is_none() {
            errors.push(crate::domain::FieldError::new(
                "/office",
                "Ufficio sconosciuto: indicare il codice di un ufficio dell'ente.",
            ));
        }
        if !errors.is_empty() {
            return Err(BackofficeError::Invalid(std::mem::take(&mut errors)));
        }
        let year = calendar::to_rome(now).year();
        let next: Next = diesel::sql_query(
            "INSERT INTO fascicolo_counters (ente_id, year, class_code, last_number) \
             VALUES ($1, $2, $3, 1) ON CONFLICT (ente_id, year, class_code) DO UPDATE \
             SET last_number = fascicolo_counters.last_number + 1 RETURNING last_number",
        )
        .bind::<BigInt, _>(ente_id)
        .bind::<Integer, _>(year)
        .bind::<Text, _>(&class)
        .get_result(conn)?;
        let id: i64 = diesel::insert_into(fascicoli::table)
            .values((
                fascicoli::ente_id.eq(ente_id),
                fascicoli::aoo_id.eq(r.aoo_id),
                fascicoli::year.eq(year),
                fascicoli::class_code.eq(&class),
                fascicoli::number.eq(next.last_number),
                fascicoli::subject.eq(&subject),
                fascicoli::office_id.eq(office_id.unwrap_or_default()),
                fascicoli::created_at.eq(now),
                fascicoli::created_by.eq(staff_user_id),
            ))
            .returning(fascicoli::id)
            .get_result(conn)?;
        tracing::info!(aoo = aoo_code, year, class = %class, number = next.last_number, clerk = %r.username, "fascicolo opened");
        fascicoli_by_ids(conn, &[id])?
            .remove(&id)
            .ok_or_else(|| anyhow::anyhow!("fascicolo {id} just written is not there").into())
    })
}

/// What the segnatura of an entry says (for the AOO's clerks and the ente's administrators,
/// like the entry itself).
pub fn segnatura(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    year: i32,
    number: i64,
) -> Result<crate::protocol::segnatura::SegnaturaData, BackofficeError> {
    let r = rights(conn, ente_id, staff_user_id, aoo_code)?;
    let reg_id = annulment::registration_id(conn, r.aoo_id, year, number)?;
    // A number the ente's own protocol system gave is that system's to describe: Sportello
    // would otherwise sign, as its register, an entry it did not make.
    let external: Option<String> = pr::table
        .find(reg_id)
        .select(pr::external_system)
        .first(conn)?;
    if let Some(system) = external {
        return Err(BackofficeError::Conflict(format!(
            "Questa registrazione è stata numerata dal sistema di protocollo dell'ente \
             (adattatore «{system}»): la sua segnatura è quella prodotta da quel sistema."
        )));
    }
    Ok(crate::protocol::segnatura::for_registration(conn, reg_id)?)
}
