//! The ente's API tokens, managed by its administrators: create (the secret shown once),
//! list, revoke.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::http::backoffice::require_admin;
use crate::http::extract::{blocking, AppState, Staff};
use crate::http::problem::ApiError;
use crate::tokens::{self, NewToken};

/// `GET /api/v1/admin/tokens`
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let body = blocking(&state, move |conn, st| {
        require_admin(conn, staff)?;
        tokens::list(conn, staff.ente_id, st.clock.now()).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// `POST /api/v1/admin/tokens` — 201 with the secret, which is not shown again.
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let created = blocking(&state, move |conn, st| {
        require_admin(conn, staff)?;
        tokens::create(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &req,
            st.clock.now(),
        )
        .map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/tokens/{}", created.details.id),
        ))
        .json(created))
}

/// `DELETE /api/v1/admin/tokens/{id}` — revoked at once (again: no change).
#[tracing::instrument(skip_all, fields(token = %path))]
pub async fn revoke(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = blocking(&state, move |conn, st| {
        require_admin(conn, staff)?;
        tokens::revoke(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &id,
            st.clock.now(),
        )
        .map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
