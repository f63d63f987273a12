//! Office staff's work: the queue of their office, the instance screen, and the actions of
//! the procedure (see `work`). Access is by role: operators of the office, and the ente's
//! administrators; anyone else gets 404, so another office's queue or instance is not even
//! known to exist.

pub mod daily;
pub mod documents;
pub mod view;
pub mod work;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::{
    citizens, instances as inst, offices, protocol_registrations as pr, services,
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

/// The filters and page of a queue.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueFilter {
    /// Only instances in this status.
    pub status: Option<InstanceStatus>,
    /// Only instances of this service (its slug).
    pub service: Option<String>,
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
}

/// A page of an office's queue, oldest submission first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
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
    slug: String,
    title: String,
    codice_fiscale: String,
    given_name: Option<String>,
    family_name: Option<String>,
    year: Option<i32>,
    number: Option<i64>,
    registered_at: Option<NaiveDateTime>,
}

/// Submitted instances routed to the office, oldest first (the order they are worked in).
pub fn queue(
    conn: &mut DbConn,
    office_id: i64,
    f: &QueueFilter,
) -> Result<QueuePage, BackofficeError> {
    let page = f.page.unwrap_or(1).max(1);
    let per_page = f.per_page.unwrap_or(25).clamp(1, 100);
    let build = || {
        let mut q = inst::table
            .inner_join(services::table)
            .inner_join(citizens::table)
            .left_join(pr::table)
            .filter(inst::office_id.eq(office_id))
            .filter(inst::status.ne(InstanceStatus::Draft.as_str()))
            .into_boxed();
        if let Some(s) = f.status {
            q = q.filter(inst::status.eq(s.as_str()));
        }
        if let Some(s) = &f.service {
            q = q.filter(services::slug.eq(s.clone()));
        }
        q
    };
    let total: i64 = build().count().get_result(conn)?;
    let rows: Vec<QueueRow> = build()
        .order((inst::submitted_at.asc(), inst::id.asc()))
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select((
            inst::id,
            inst::status,
            inst::submitted_at,
            inst::due_date,
            services::slug,
            services::title,
            citizens::codice_fiscale,
            citizens::given_name,
            citizens::family_name,
            pr::year.nullable(),
            pr::number.nullable(),
            pr::registered_at.nullable(),
        ))
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|r| QueueItem {
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
        })
        .collect();
    Ok(QueuePage {
        items,
        page,
        per_page,
        total,
    })
}
