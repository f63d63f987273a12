//! Public catalog API: the ente's published service cards.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::catalog;
use crate::http::extract::{AppState, CurrentEnte};
use crate::http::problem::ApiError;
use crate::org::Ente;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub category: Option<String>,
}

async fn list(
    state: &AppState,
    ente: Ente,
    category: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let ente_ref = catalog::EnteRef {
        code: ente.code.clone(),
        name: ente.name.clone(),
    };
    let services = state
        .db
        .run(move |conn| {
            catalog::list_services(conn, ente.id, category.as_deref()).map_err(ApiError::from)
        })
        .await?;
    Ok(HttpResponse::Ok().json(catalog::Catalog {
        ente: ente_ref,
        services,
    }))
}

async fn show(state: &AppState, ente: Ente, slug: String) -> Result<HttpResponse, ApiError> {
    let card = state
        .db
        .run(move |conn| catalog::get_service(conn, ente.id, &slug).map_err(ApiError::from))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(card))
}

/// `GET /api/v1/services[?category=slug]` — the ente of the host name.
#[tracing::instrument(skip_all)]
pub async fn list_services(
    state: web::Data<AppState>,
    ente: CurrentEnte,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    list(&state, ente.0, query.into_inner().category).await
}

/// `GET /api/v1/services/{slug}`
#[tracing::instrument(skip_all, fields(slug = %path))]
pub async fn get_service(
    state: web::Data<AppState>,
    ente: CurrentEnte,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    show(&state, ente.0, path.into_inner()).await
}

/// `GET /api/v1/service-categories`
#[tracing::instrument(skip_all)]
pub async fn list_categories(
    state: web::Data<AppState>,
    ente: CurrentEnte,
) -> Result<HttpResponse, ApiError> {
    let id = ente.0.id;
    let categories = state
        .db
        .run(move |conn| catalog::list_categories(conn, id).map_err(ApiError::from))
        .await?;
    Ok(HttpResponse::Ok().json(catalog::Categories { categories }))
}

/// `GET /api/v1/enti/{ente}/services` — public data addressed by path, for portals that
/// aggregate several enti.
#[tracing::instrument(skip_all, fields(ente = %path))]
pub async fn list_services_of(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let ente = state
        .ente_by_code(&path.into_inner().to_ascii_lowercase())
        .await?;
    list(&state, ente, query.into_inner().category).await
}

/// `GET /api/v1/enti/{ente}/services/{slug}`
#[tracing::instrument(skip_all)]
pub async fn get_service_of(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (code, slug) = path.into_inner();
    let ente = state.ente_by_code(&code.to_ascii_lowercase()).await?;
    show(&state, ente, slug).await
}
