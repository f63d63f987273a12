//! Office staff's work: the queue of their office, the instance screen, and the actions of
//! the procedure (see `work`). Access is by role: operators of the office, and the ente's
//! administrators; anyone else gets 404, so another office's queue or instance is not even
//! known to exist.

pub mod annulment;
pub mod daily;
pub mod documents;
pub mod foia;
pub mod review;
pub mod system;
pub mod view;
pub mod work;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::{
    citizens, instances as inst, offices, protocol_registrations as pr, services, staff_users,
};
use crate::db::{DbConn, DbError};
use crate::domain::protocol_number::ProtocolNumber;
use crate::domain::InstanceStatus;
use crate::instances::{iso, iso_rome};
use crate::org::{self, Role};

/// Why a back-office request cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum BackofficeError {
    /// No such office, or not one the staff member works in (never told apart).
    #[error("office not found or not accessible")]
    NotFound,
    /// The instance changed since the caller read it (its version is now `current`).
    #[error("the instance changed: version is now {current}")]
    Stale { current: i64 },
    /// The state machine refuses the action.
    #[error(transparent)]
    NotAllowed(Box<crate::domain::NotAllowed>),
    /// Something the action needs is missing or wrong.
    #[error("invalid request")]
    Invalid(Vec<crate::domain::FieldError>),
    /// Not this staff member's to do (e.g. annulment without the right).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The registration was annulled already.
    #[error("the registration is already annulled")]
    AlreadyAnnulled,
    /// The request conflicts with what was done already (the Italian message says what).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A file refused (size, type), with the same answers as submission attachments.
    #[error(transparent)]
    Upload(crate::instances::InstanceError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::storage::StorageError> for BackofficeError {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Other(e.into())
    }
}

impl From<crate::instances::InstanceError> for BackofficeError {
    fn from(e: crate::instances::InstanceError) -> Self {
        match e {
            crate::instances::InstanceError::NotFound => Self::NotFound,
            crate::instances::InstanceError::Db(d) => Self::Db(d),
            other => Self::Upload(other),
        }
    }
}

impl From<diesel::result::Error> for BackofficeError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Whose instances: `me`, `nobody`, or a colleague's username.
pub type AssigneeFilter = String;

/// The order of a queue.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueSort {
    /// Due date, soonest first (the default: what the law asks first).
    #[default]
    Due,
    /// Submission, oldest first.
    Submitted,
    /// Last activity, latest first.
    Activity,
}

/// The filters and page of a queue.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueFilter {
    /// Only instances in this status.
    pub status: Option<InstanceStatus>,
    /// Only instances of this service (its slug).
    pub service: Option<String>,
    /// `me`, `nobody`, or a colleague's username.
    pub assignee: Option<AssigneeFilter>,
    /// Due on or before this day.
    pub due_before: Option<NaiveDate>,
    /// Only overdue instances (term running and past its due date).
    pub overdue: Option<bool>,
    /// Due within this many days from today (term running).
    #[param(minimum = 0, maximum = 366)]
    pub due_within: Option<i64>,
    /// Submitted on or after this day (Italian date).
    pub submitted_from: Option<NaiveDate>,
    /// Submitted on or before this day (Italian date).
    pub submitted_to: Option<NaiveDate>,
    /// Text in the service's title or the applicant's name or codice fiscale.
    pub q: Option<String>,
    /// The protocol number of the submission (digits, leading zeros optional).
    pub protocol: Option<String>,
    pub sort: Option<QueueSort>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// Instances per page, 1–100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<i64>,
}

/// The applicant of an instance, as the office sees them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Applicant {
    pub codice_fiscale: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// The protocol registration of a queued instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueProtocol {
    #[schema(value_type = String, example = "0000042")]
    pub number: ProtocolNumber,
    pub year: Option<i32>,
    #[schema(format = DateTime)]
    pub registered_at: Option<String>,
}

/// One instance in an office's queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueItem {
    pub id: String,
    pub status: InstanceStatus,
    #[schema(format = DateTime)]
    pub submitted_at: Option<String>,
    pub due_date: Option<NaiveDate>,
    pub service: crate::instances::view::ServiceRef,
    pub applicant: Applicant,
    pub protocol: Option<QueueProtocol>,
    /// Who works on it.
    pub assignee: Option<String>,
    /// The instance's version: its `ETag`, so that a screen can act from the queue.
    pub version: i64,
    /// The last change.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Due within 3 days (term running).
    pub due_soon: bool,
    /// Past its due date (term running).
    pub overdue: bool,
    /// The citizen did not answer the integration in time.
    pub integration_expired: bool,
}

/// How many of the office's instances are in one state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StateCount {
    pub status: InstanceStatus,
    pub count: i64,
}

/// A page of an office's queue, oldest submission first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    pub page: i64,
    pub per_page: i64,
    /// Instances matching the filters.
    pub total: i64,
    /// The office's instances per state (all of them, whatever the filters).
    pub counts: Vec<StateCount>,
}

/// The office's id if the staff member may see its queue.
pub fn office_for_staff(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    office_code: &str,
) -> Result<i64, BackofficeError> {
    let office_id: i64 = offices::table
        .filter(offices::ente_id.eq(ente_id))
        .filter(offices::code.eq(office_code))
        .select(offices::id)
        .first(conn)
        .optional()?
        .ok_or(BackofficeError::NotFound)?;
    let grants = org::staff_grants(conn, staff_user_id)?;
    let allowed = grants.iter().any(|g| {
        g.role == Role::Admin
            || (g.role == Role::Operator && g.office.as_deref() == Some(office_code))
    });
    if allowed {
        Ok(office_id)
    } else {
        Err(BackofficeError::NotFound)
    }
}

/// A queue row as read: instance, service, applicant, registration.
#[derive(Queryable)]
struct QueueRow {
    id: String,
    #[diesel(deserialize_as = String)]
    status: InstanceStatus,
    submitted_at: Option<NaiveDateTime>,
    due_date: Option<NaiveDate>,
    updated_at: NaiveDateTime,
    integration_expired: bool,
    slug: String,
    title: String,
    codice_fiscale: String,
    given_name: Option<String>,
    family_name: Option<String>,
    year: Option<i32>,
    number: Option<i64>,
    registered_at: Option<NaiveDateTime>,
    assignee: Option<String>,
    version: i64,
}

#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(
        x: diesel::sql_types::Nullable<diesel::sql_types::Text>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

pub(crate) fn bad(pointer: &str, message: &str) -> BackofficeError {
    BackofficeError::Invalid(vec![crate::domain::FieldError::new(pointer, message)])
}

/// The office's instances (never drafts), filtered, sorted and paged.
pub fn queue(
    conn: &mut DbConn,
    office_id: i64,
    staff_user_id: i64,
    f: &QueueFilter,
    today: NaiveDate,
) -> Result<QueuePage, BackofficeError> {
    let page = f.page.unwrap_or(1).max(1);
    let per_page = f.per_page.unwrap_or(25).clamp(1, 100);
    let assignee_id: Option<Option<i64>> = match f.assignee.as_deref() {
        None => None,
        Some("me") => Some(Some(staff_user_id)),
        Some("nobody") => Some(None),
        Some(username) => {
            let id: Option<i64> = staff_users::table
                .inner_join(offices::table.on(offices::ente_id.eq(staff_users::ente_id)))
                .filter(offices::id.eq(office_id))
                .filter(staff_users::username.eq(username))
                .select(staff_users::id)
                .first(conn)
                .optional()?;
            Some(Some(id.ok_or_else(|| {
                bad(
                    "/assignee",
                    "Collega non trovato: indicare me, nobody o un nome utente.",
                )
            })?))
        }
    };
    let protocol: Option<i64> = match f.protocol.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => Some(p.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            bad(
                "/protocol",
                "Il numero di protocollo è fatto di sole cifre.",
            )
        })?),
    };
    let pattern =
        f.q.as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| {
                let escaped: String = q
                    .to_lowercase()
                    .chars()
                    .flat_map(|c| match c {
                        '%' | '_' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                format!("%{escaped}%")
            });
    let running = [
        InstanceStatus::Submitted.as_str(),
        InstanceStatus::InProgress.as_str(),
    ];
    let build = || {
        let mut q = inst::table
            .inner_join(services::table)
            .inner_join(citizens::table)
            .left_join(pr::table)
            .left_join(staff_users::table)
            .filter(inst::office_id.eq(office_id))
            .filter(inst::status.ne(InstanceStatus::Draft.as_str()))
            .into_boxed();
        if let Some(s) = f.status {
            q = q.filter(inst::status.eq(s.as_str()));
        }
        if let Some(s) = &f.service {
            q = q.filter(services::slug.eq(s.clone()));
        }
        match assignee_id {
            Some(Some(uid)) => q = q.filter(inst::assignee_id.eq(uid)),
            Some(None) => q = q.filter(inst::assignee_id.is_null()),
            None => {}
        }
        if let Some(d) = f.due_before {
            q = q.filter(inst::due_date.le(d));
        }
        if f.overdue == Some(true) {
            q = q
                .filter(inst::status.eq_any(running))
                .filter(inst::due_date.lt(today));
        }
        if let Some(n) = f.due_within {
            q = q
                .filter(inst::status.eq_any(running))
                .filter(inst::due_date.ge(today))
                .filter(inst::due_date.le(today + chrono::Duration::days(n.clamp(0, 366))));
        }
        if let Some(d) = f.submitted_from {
            q = q.filter(inst::submitted_at.ge(day_start_utc(d)));
        }
        if let Some(d) = f.submitted_to {
            q = q.filter(inst::submitted_at.lt(day_start_utc(d + chrono::Duration::days(1))));
        }
        if let Some(p) = &pattern {
            q = q.filter(
                lower(services::title.nullable())
                    .like(p.clone())
                    .escape('\\')
                    .or(lower(citizens::given_name).like(p.clone()).escape('\\'))
                    .or(lower(citizens::family_name).like(p.clone()).escape('\\'))
                    .or(lower(citizens::codice_fiscale.nullable())
                        .like(p.clone())
                        .escape('\\')),
            );
        }
        if let Some(n) = protocol {
            q = q.filter(pr::number.nullable().eq(n));
        }
        q
    };
    let total: i64 = build().count().get_result(conn)?;
    let sorted = match f.sort.unwrap_or_default() {
        QueueSort::Due => build().order((
            inst::due_date.asc(),
            inst::submitted_at.asc(),
            inst::id.asc(),
        )),
        QueueSort::Submitted => build().order((inst::submitted_at.asc(), inst::id.asc())),
        QueueSort::Activity => build().order((inst::updated_at.desc(), inst::id.asc())),
    };
    let rows: Vec<QueueRow> = sorted
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select((
            inst::id,
            inst::status,
            inst::submitted_at,
            inst::due_date,
            inst::updated_at,
            inst::integration_expired,
            services::slug,
            services::title,
            citizens::codice_fiscale,
            citizens::given_name,
            citizens::family_name,
            pr::year.nullable(),
            pr::number.nullable(),
            pr::registered_at.nullable(),
            staff_users::username.nullable(),
            inst::version,
        ))
        .load(conn)?;
    let counts: Vec<(String, i64)> = inst::table
        .filter(inst::office_id.eq(office_id))
        .filter(inst::status.ne(InstanceStatus::Draft.as_str()))
        .group_by(inst::status)
        .select((inst::status, diesel::dsl::count_star()))
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|r| {
            let days_left = r
                .due_date
                .filter(|_| r.status.term_runs())
                .map(|d| (d - today).num_days());
            QueueItem {
                id: r.id,
                status: r.status,
                submitted_at: r.submitted_at.map(iso),
                due_date: r.due_date,
                service: crate::instances::view::ServiceRef {
                    slug: r.slug,
                    title: r.title,
                    min_auth_level: None,
                },
                applicant: Applicant {
                    codice_fiscale: r.codice_fiscale,
                    given_name: r.given_name,
                    family_name: r.family_name,
                },
                protocol: r
                    .number
                    .and_then(|n| ProtocolNumber::new(n).ok())
                    .map(|number| QueueProtocol {
                        number,
                        year: r.year,
                        registered_at: r.registered_at.map(iso_rome),
                    }),
                assignee: r.assignee,
                version: r.version,
                updated_at: iso(r.updated_at),
                due_soon: days_left.is_some_and(|d| (0..=3).contains(&d)),
                overdue: days_left.is_some_and(|d| d < 0),
                integration_expired: r.integration_expired,
            }
        })
        .collect();
    Ok(QueuePage {
        items,
        page,
        per_page,
        total,
        counts: counts
            .into_iter()
            .filter_map(|(s, count)| {
                InstanceStatus::parse(&s)
                    .ok()
                    .map(|status| StateCount { status, count })
            })
            .collect(),
    })
}

/// 00:00 of an Italian day, in UTC.
pub(crate) fn day_start_utc(d: NaiveDate) -> NaiveDateTime {
    crate::domain::calendar::rome_day_start_utc(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn an_italian_day_starts_at_23_or_22_utc_of_the_day_before() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(day_start_utc(d("2026-12-02")), at("2026-12-01 23:00"));
        assert_eq!(day_start_utc(d("2026-07-15")), at("2026-07-14 22:00"));
        // The days summer time starts and ends (29 March and 25 October 2026).
        assert_eq!(day_start_utc(d("2026-03-29")), at("2026-03-28 23:00"));
        assert_eq!(day_start_utc(d("2026-03-30")), at("2026-03-29 22:00"));
        assert_eq!(day_start_utc(d("2026-10-25")), at("2026-10-24 22:00"));
        assert_eq!(day_start_utc(d("2026-10-26")), at("2026-10-25 23:00"));
    }
}
