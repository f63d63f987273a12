//! The machine-to-machine API: what the ente's other systems read and change with an API
//! token (`Authorization: Bearer`), each operation behind one scope — instances and their
//! files (`instances:read`), the protocol register (`protocol:read`), the catalog
//! (`catalog:read`, `catalog:write`).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::audit::{self, Action, Actor, Entry, Read};
use crate::backoffice::documents::{self, Uploader};
use crate::backoffice::review::{self, ReviewFilter};
use crate::backoffice::system::{self, SystemFilter};
use crate::backoffice::view::staff_view;
use crate::backoffice::work::{self, StaffCtx};
use crate::catalog::{self, ServiceChange};
use crate::http::extract::{blocking, ApiClient, AppState};
use crate::http::instances::file_response;
use crate::http::problem::ApiError;
use crate::http::routes::INTEGRATION_LINKS;
use crate::http::work::with_etag;
use crate::instances::attachments;
use crate::tokens::Scope;

/// `GET /api/v1/integration/instances`
#[tracing::instrument(skip_all, fields(token))]
pub async fn instances(
    state: web::Data<AppState>,
    client: ApiClient,
    query: web::Query<SystemFilter>,
) -> Result<HttpResponse, ApiError> {
    client.require(Scope::InstancesRead)?;
    let f = query.into_inner();
    let ente_id = client.0.ente_id;
    let body = blocking(&state, move |conn, _| system::list(conn, ente_id, &f)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// `GET /api/v1/integration/instances/{id}` — the instance screen as the office sees it.
#[tracing::instrument(skip_all, fields(token, instance = %path))]
pub async fn instance(
    state: web::Data<AppState>,
    client: ApiClient,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    client.require(Scope::InstancesRead)?;
    let id = path.into_inner();
    let ctx = StaffCtx::system(client.0.ente_id, &client.0.name);
    let token = client.0.token_id.clone();
    let view = blocking(&state, move |conn, st| {
        let view = staff_view(
            conn,
            &st.forms,
            INTEGRATION_LINKS,
            &ctx,
            &id,
            st.clock.now(),
        )?;
        audit::record_read(conn, ctx.ente_id, Actor::Token(token), &id, Read::Instance);
        Ok::<_, crate::backoffice::BackofficeError>(view)
    })
    .await?;
    Ok(with_etag(view))
}

/// `GET /api/v1/integration/instances/{id}/attachments/{attachment}`
#[tracing::instrument(skip_all, fields(token))]
pub async fn attachment(
    state: web::Data<AppState>,
    client: ApiClient,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    client.require(Scope::InstancesRead)?;
    let (id, att) = path.into_inner();
    let ctx = StaffCtx::system(client.0.ente_id, &client.0.name);
    let token = client.0.token_id.clone();
    let (info, bytes) = blocking(&state, move |conn, st| {
        work::load_for_staff(conn, &ctx, &id)?;
        let read = attachments::read_checked(conn, st.store.as_ref(), INTEGRATION_LINKS, &id, &att)
            .map_err(crate::backoffice::BackofficeError::from)?;
        audit::record_read(
            conn,
            ctx.ente_id,
            Actor::Token(token),
            &id,
            Read::Attachment(&att),
        );
        Ok::<_, crate::backoffice::BackofficeError>(read)
    })
    .await?;
    Ok(file_response(
        &info.filename,
        &info.mime,
        &info.sha256,
        bytes,
    ))
}

/// `GET /api/v1/integration/instances/{id}/documents/{document}`
#[tracing::instrument(skip_all, fields(token))]
pub async fn document(
    state: web::Data<AppState>,
    client: ApiClient,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    client.require(Scope::InstancesRead)?;
    let (id, doc) = path.into_inner();
    let who = Uploader::Staff(StaffCtx::system(client.0.ente_id, &client.0.name));
    let (ente_id, token) = (client.0.ente_id, client.0.token_id.clone());
    let (info, bytes) = blocking(&state, move |conn, st| {
        let read = documents::read(conn, st.store.as_ref(), INTEGRATION_LINKS, &who, &id, &doc)?;
        audit::record_read(
            conn,
            ente_id,
            Actor::Token(token),
            &id,
            Read::Document(&doc),
        );
        Ok::<_, crate::backoffice::BackofficeError>(read)
    })
    .await?;
    Ok(file_response(
        &info.filename,
        &info.mime,
        &info.sha256,
        bytes,
    ))
}

/// `GET /api/v1/integration/protocol/{aoo}/registrations` — the AOO's register, read only.
#[tracing::instrument(skip_all, fields(token, aoo = %path))]
pub async fn registrations(
    state: web::Data<AppState>,
    client: ApiClient,
    path: web::Path<String>,
    query: web::Query<ReviewFilter>,
) -> Result<HttpResponse, ApiError> {
    client.require(Scope::ProtocolRead)?;
    let aoo = path.into_inner();
    let f = query.into_inner();
    let ente_id = client.0.ente_id;
    let body = blocking(&state, move |conn, _| {
        review::list_for_system(conn, ente_id, &aoo, &f)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/integration/services` — every service, unpublished ones included.
#[tracing::instrument(skip_all, fields(token))]
pub async fn services(
    state: web::Data<AppState>,
    client: ApiClient,
) -> Result<HttpResponse, ApiError> {
    client.require(Scope::CatalogRead)?;
    let ente_id = client.0.ente_id;
    let body = blocking(&state, move |conn, _| {
        catalog::list_managed(conn, ente_id).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/integration/services/{slug}`
#[tracing::instrument(skip_all, fields(token, service = %path))]
pub async fn service(
    state: web::Data<AppState>,
    client: ApiClient,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    client.require(Scope::CatalogRead)?;
    let slug = path.into_inner();
    let ente_id = client.0.ente_id;
    let body = blocking(&state, move |conn, _| {
        catalog::get_managed(conn, ente_id, &slug)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `PATCH /api/v1/integration/services/{slug}` — change a card, publish or withdraw.
#[tracing::instrument(skip_all, fields(token, service = %path))]
pub async fn change_service(
    state: web::Data<AppState>,
    client: ApiClient,
    path: web::Path<String>,
    body: web::Json<ServiceChange>,
) -> Result<HttpResponse, ApiError> {
    client.require(Scope::CatalogWrite)?;
    let slug = path.into_inner();
    let change = body.into_inner();
    let ente_id = client.0.ente_id;
    let token = client.0.token_id.clone();
    let body = blocking(&state, move |conn, st| {
        let changed = catalog::change(conn, ente_id, &slug, &change, st.clock.now())?;
        audit::record_detached(
            conn,
            Entry::new(
                ente_id,
                Actor::Token(token),
                Action::ConfigurationChanged,
                "service",
                slug,
            )
            .with(serde_json::json!({ "change": change.fields() })),
        );
        Ok::<_, crate::catalog::CatalogError>(changed)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
