//! The service catalog: categories and service cards ("come fare per"), read by citizens
//! before they apply. Cards are data loaded from files (see [`crate::bundle`]).

pub mod forms;
pub mod routing;

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{offices, service_categories, services};
use crate::db::DbConn;
use crate::domain::terms::TermUnit;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CategoryRef {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct OfficeRef {
    pub code: String,
    pub name: String,
}

/// A published service as citizens see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ServiceCard {
    pub slug: String,
    pub title: String,
    pub category: CategoryRef,
    pub summary: String,
    pub description: String,
    pub who_can_apply: String,
    pub requirements: Vec<String>,
    /// Days the ente has by law to conclude the procedure …
    pub legal_term_days: i32,
    /// … counted as calendar days (a term ending on a non-working day moves to the next
    /// working day) or as the ente's working days.
    pub legal_term_unit: TermUnit,
    /// Whether the application is granted when the office does not answer within the term
    /// (silenzio-assenso, L. 241/1990 art. 20).
    pub silence_assent: bool,
    pub office: OfficeRef,
    /// Minimum SPID/CIE level (1–3) of the login needed to apply.
    pub min_auth_level: i32,
    pub needs_appointment: bool,
    pub needs_payment: bool,
    /// Where to book it, when the service has calendars (the booking entry point of its
    /// page); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking: Option<crate::booking::BookingEntry>,
}

#[derive(Debug, Clone, Serialize, Queryable, PartialEq, Eq, utoipa::ToSchema)]
pub struct Category {
    pub slug: String,
    pub name: String,
    pub description: String,
}

/// The ente whose catalog it is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct EnteRef {
    /// The ente's code (ISTAT or IPA), lowercase.
    pub code: String,
    pub name: String,
}

/// An ente's published services.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Catalog {
    pub ente: EnteRef,
    pub services: Vec<ServiceCard>,
}

/// An ente's service categories.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Categories {
    pub categories: Vec<Category>,
}

type CardRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i32,
    String,
    bool,
    i32,
    bool,
    bool,
    String,
    String,
    String,
    String,
);

fn card_from_row(row: CardRow) -> ServiceCard {
    let (
        slug,
        title,
        summary,
        description,
        who_can_apply,
        requirements,
        legal_term_days,
        legal_term_unit,
        silence_assent,
        min_auth_level,
        needs_appointment,
        needs_payment,
        category_slug,
        category_name,
        office_code,
        office_name,
    ) = row;
    ServiceCard {
        slug,
        title,
        category: CategoryRef {
            slug: category_slug,
            name: category_name,
        },
        summary,
        description,
        who_can_apply,
        // Written by the bundle loader from a list of strings; a corrupt value shows as empty
        // rather than breaking the whole catalog.
        requirements: serde_json::from_str(&requirements).unwrap_or_default(),
        legal_term_days,
        // The database allows only the two units (CHECK constraint).
        legal_term_unit: TermUnit::parse(&legal_term_unit).unwrap_or(TermUnit::CalendarDays),
        silence_assent,
        office: OfficeRef {
            code: office_code,
            name: office_name,
        },
        min_auth_level,
        needs_appointment,
        needs_payment,
        booking: None,
    }
}

macro_rules! published_cards {
    ($ente_id:expr) => {
        services::table
            .inner_join(service_categories::table)
            .inner_join(offices::table)
            .filter(services::ente_id.eq($ente_id))
            .filter(services::published.eq(true))
            .select((
                services::slug,
                services::title,
                services::summary,
                services::description,
                services::who_can_apply,
                services::requirements,
                services::legal_term_days,
                services::legal_term_unit,
                services::silence_assent,
                services::min_auth_level,
                services::needs_appointment,
                services::needs_payment,
                service_categories::slug,
                service_categories::name,
                offices::code,
                offices::name,
            ))
    };
}

/// Published services of an ente, by category order then title; optionally one category.
pub fn list_services(
    conn: &mut DbConn,
    ente_id: i64,
    category: Option<&str>,
) -> QueryResult<Vec<ServiceCard>> {
    let mut query = published_cards!(ente_id)
        .order((service_categories::position, services::title))
        .into_boxed();
    if let Some(category) = category {
        query = query.filter(service_categories::slug.eq(category.to_owned()));
    }
    let mut entries = crate::booking::entries(conn, ente_id)?;
    Ok(query
        .load::<CardRow>(conn)?
        .into_iter()
        .map(card_from_row)
        .map(|mut c| {
            c.booking = entries.remove(&c.slug);
            c
        })
        .collect())
}

pub fn get_service(
    conn: &mut DbConn,
    ente_id: i64,
    slug: &str,
) -> QueryResult<Option<ServiceCard>> {
    let mut entries = crate::booking::entries(conn, ente_id)?;
    Ok(published_cards!(ente_id)
        .filter(services::slug.eq(slug))
        .first::<CardRow>(conn)
        .optional()?
        .map(card_from_row)
        .map(|mut c| {
            c.booking = entries.remove(&c.slug);
            c
        }))
}

pub fn list_categories(conn: &mut DbConn, ente_id: i64) -> QueryResult<Vec<Category>> {
    service_categories::table
        .filter(service_categories::ente_id.eq(ente_id))
        .order((service_categories::position, service_categories::name))
        .select((
            service_categories::slug,
            service_categories::name,
            service_categories::description,
        ))
        .load(conn)
}
