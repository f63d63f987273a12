//! The service catalog: categories and service cards ("come fare per"), read by citizens
//! before they apply. Cards are data loaded from files (see [`crate::bundle`]).

pub mod forms;
pub mod routing;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

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
        all_cards!($ente_id).filter(services::published.eq(true))
    };
}

macro_rules! all_cards {
    ($ente_id:expr) => {
        services::table
            .inner_join(service_categories::table)
            .inner_join(offices::table)
            .filter(services::ente_id.eq($ente_id))
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

// ---------------------------------------------------------------------------------------
// Managing the catalog from another system (an API token with `catalog:read`/`catalog:write`)

/// A service of the catalog, published or not, as the ente's other systems manage it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ManagedService {
    /// Whether citizens see it and may apply.
    pub published: bool,
    pub card: ServiceCard,
}

/// `GET /api/v1/integration/services`
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ManagedCatalog {
    pub items: Vec<ManagedService>,
}

/// A change of a service's card: only the fields present change. A later load of the
/// ente's bundle writes the bundle's values again (the bundle stays the source of the
/// catalog; docs/catalog.md).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceChange {
    pub published: Option<bool>,
    /// 1–200 characters.
    pub title: Option<String>,
    /// 1–500 characters.
    pub summary: Option<String>,
    pub description: Option<String>,
    pub who_can_apply: Option<String>,
    pub requirements: Option<Vec<String>>,
}

impl ServiceChange {
    /// The names of the fields the change sets (for the audit log).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (name, set) in [
            ("published", self.published.is_some()),
            ("title", self.title.is_some()),
            ("summary", self.summary.is_some()),
            ("description", self.description.is_some()),
            ("who_can_apply", self.who_can_apply.is_some()),
            ("requirements", self.requirements.is_some()),
        ] {
            if set {
                out.push(name);
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("service not found")]
    NotFound,
    #[error("invalid change")]
    Invalid(Vec<crate::domain::FieldError>),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] crate::db::DbError),
}

/// Every service of the ente, unpublished ones included, by category order then title.
pub fn list_managed(conn: &mut DbConn, ente_id: i64) -> QueryResult<ManagedCatalog> {
    let published: std::collections::HashMap<String, bool> = services::table
        .filter(services::ente_id.eq(ente_id))
        .select((services::slug, services::published))
        .load::<(String, bool)>(conn)?
        .into_iter()
        .collect();
    let mut entries = crate::booking::entries(conn, ente_id)?;
    let items = all_cards!(ente_id)
        .order((service_categories::position, services::title))
        .load::<CardRow>(conn)?
        .into_iter()
        .map(card_from_row)
        .map(|mut card| {
            card.booking = entries.remove(&card.slug);
            ManagedService {
                published: published.get(&card.slug).copied().unwrap_or(false),
                card,
            }
        })
        .collect();
    Ok(ManagedCatalog { items })
}

/// One service of the ente, published or not.
pub fn get_managed(
    conn: &mut DbConn,
    ente_id: i64,
    slug: &str,
) -> Result<ManagedService, CatalogError> {
    list_managed(conn, ente_id)?
        .items
        .into_iter()
        .find(|s| s.card.slug == slug)
        .ok_or(CatalogError::NotFound)
}

fn text_field(
    errors: &mut Vec<crate::domain::FieldError>,
    pointer: &str,
    value: &Option<String>,
    max: usize,
) -> Option<String> {
    let v = value.as_ref()?.trim().to_owned();
    if v.is_empty() || v.chars().count() > max {
        errors.push(crate::domain::FieldError::new(
            pointer,
            format!("Il testo non può essere vuoto né superare {max} caratteri."),
        ));
        return None;
    }
    Some(v)
}

/// Changes a service's card or publication; answers the service as it is now.
pub fn change(
    conn: &mut DbConn,
    ente_id: i64,
    slug: &str,
    c: &ServiceChange,
    now: chrono::NaiveDateTime,
) -> Result<ManagedService, CatalogError> {
    let mut errors = Vec::new();
    let title = text_field(&mut errors, "/title", &c.title, 200);
    let summary = text_field(&mut errors, "/summary", &c.summary, 500);
    let description = text_field(&mut errors, "/description", &c.description, 20_000);
    let who = text_field(&mut errors, "/who_can_apply", &c.who_can_apply, 5_000);
    let requirements = match &c.requirements {
        None => None,
        Some(list) => {
            let items: Vec<String> = list.iter().map(|r| r.trim().to_owned()).collect();
            if let Some(i) = items
                .iter()
                .position(|r| r.is_empty() || r.chars().count() > 1_000)
            {
                errors.push(crate::domain::FieldError::new(
                    format!("/requirements/{i}"),
                    "Ogni requisito è un testo da 1 a 1000 caratteri.",
                ));
            }
            Some(serde_json::to_string(&items).unwrap_or_else(|_| "[]".into()))
        }
    };
    if !errors.is_empty() {
        return Err(CatalogError::Invalid(errors));
    }
    crate::db::write_tx(conn, |conn| {
        apply(
            conn,
            ente_id,
            slug,
            c.published,
            [title, summary, description, who, requirements],
            now,
        )
    })?;
    tracing::info!(service = %slug, "catalog service changed through the API");
    get_managed(conn, ente_id, slug)
}

fn apply(
    conn: &mut DbConn,
    ente_id: i64,
    slug: &str,
    published: Option<bool>,
    [title, summary, description, who, requirements]: [Option<String>; 5],
    now: chrono::NaiveDateTime,
) -> Result<(), CatalogError> {
    let id: i64 = services::table
        .filter(services::ente_id.eq(ente_id))
        .filter(services::slug.eq(slug))
        .select(services::id)
        .first(conn)
        .optional()?
        .ok_or(CatalogError::NotFound)?;
    let target = services::table.find(id);
    if let Some(p) = published {
        diesel::update(target)
            .set(services::published.eq(p))
            .execute(conn)?;
    }
    if let Some(v) = title {
        diesel::update(target)
            .set(services::title.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = summary {
        diesel::update(target)
            .set(services::summary.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = description {
        diesel::update(target)
            .set(services::description.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = who {
        diesel::update(target)
            .set(services::who_can_apply.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = requirements {
        diesel::update(target)
            .set(services::requirements.eq(v))
            .execute(conn)?;
    }
    diesel::update(target)
        .set(services::updated_at.eq(now))
        .execute(conn)?;
    Ok(())
}
