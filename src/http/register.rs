//! The protocol register for its clerks: the review list, an entry, its classification,
//! fascicolo and review, the titolario and fascicoli, and annulment (DPR 445/2000 art. 54).

use actix_web::{web, HttpResponse};

use crate::backoffice::annulment::{self, AnnulmentRequest};
use crate::backoffice::review::{
    self, ClassificationRequest, FascicoliFilter, FilingRequest, NewFascicolo, ReviewFilter,
};
use crate::http::extract::{blocking, AppState, Staff};
use crate::http::problem::{ApiError, Problem};
use crate::http::routes::LINKS;
use crate::instances::Links;
use crate::protocol::segnatura::{self, SigningKey};

/// `GET /api/v1/protocol/{aoo}/registrations/{year}/{number}`
#[tracing::instrument(skip_all)]
pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, i32, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (aoo, year, number) = path.into_inner();
    let body = blocking(&state, move |conn, _| {
        annulment::read(conn, staff.ente_id, staff.staff_user_id, &aoo, year, number)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/protocol/{aoo}/registrations/{year}/{number}/annul`
#[tracing::instrument(skip_all)]
pub async fn annul(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, i32, i64)>,
    body: web::Json<AnnulmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let (aoo, year, number) = path.into_inner();
    let req = body.into_inner();
    let body = blocking(&state, move |conn, st| {
        let base = format!(
            "{}{}",
            st.settings.server.public_url.trim_end_matches('/'),
            LINKS.instance("")
        );
        annulment::annul(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &aoo,
            year,
            number,
            &req,
            base.trim_end_matches('/'),
            st.clock.now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/protocol/{aoo}/registrations`: the review list.
#[tracing::instrument(skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<ReviewFilter>,
) -> Result<HttpResponse, ApiError> {
    let aoo = path.into_inner();
    let filter = query.into_inner();
    let body = blocking(&state, move |conn, _| {
        review::list(conn, staff.ente_id, staff.staff_user_id, &aoo, &filter)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `PUT /api/v1/protocol/{aoo}/registrations/{year}/{number}/classification`
#[tracing::instrument(skip_all)]
pub async fn classify(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, i32, i64)>,
    body: web::Json<ClassificationRequest>,
) -> Result<HttpResponse, ApiError> {
    let (aoo, year, number) = path.into_inner();
    let req = body.into_inner();
    let body = blocking(&state, move |conn, st| {
        review::classify(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &aoo,
            year,
            number,
            &req,
            st.clock.now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `PUT /api/v1/protocol/{aoo}/registrations/{year}/{number}/fascicolo`
#[tracing::instrument(skip_all)]
pub async fn file(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, i32, i64)>,
    body: web::Json<FilingRequest>,
) -> Result<HttpResponse, ApiError> {
    let (aoo, year, number) = path.into_inner();
    let req = body.into_inner();
    let body = blocking(&state, move |conn, st| {
        review::file(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &aoo,
            year,
            number,
            &req,
            st.clock.now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/protocol/{aoo}/registrations/{year}/{number}/review`
#[tracing::instrument(skip_all)]
pub async fn mark_reviewed(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, i32, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (aoo, year, number) = path.into_inner();
    let body = blocking(&state, move |conn, st| {
        review::review(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &aoo,
            year,
            number,
            st.clock.now(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/protocol/{aoo}/titolario`
#[tracing::instrument(skip_all)]
pub async fn titolario(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let aoo = path.into_inner();
    let body = blocking(&state, move |conn, _| {
        review::titolario(conn, staff.ente_id, staff.staff_user_id, &aoo)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/protocol/{aoo}/fascicoli`
#[tracing::instrument(skip_all)]
pub async fn fascicoli(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<FascicoliFilter>,
) -> Result<HttpResponse, ApiError> {
    let aoo = path.into_inner();
    let filter = query.into_inner();
    let body = blocking(&state, move |conn, _| {
        review::list_fascicoli(conn, staff.ente_id, staff.staff_user_id, &aoo, &filter)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/protocol/{aoo}/fascicoli`
#[tracing::instrument(skip_all)]
pub async fn open_fascicolo(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    body: web::Json<NewFascicolo>,
) -> Result<HttpResponse, ApiError> {
    let aoo = path.into_inner();
    let req = body.into_inner();
    let body = blocking(&state, move |conn, st| {
        review::create_fascicolo(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &aoo,
            &req,
            st.clock.now(),
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(body))
}

/// 503 with what an administrator must fix (the cause is configuration, not load).
fn unavailable(detail: &str) -> ApiError {
    ApiError::Problem(Box::new(
        Problem::for_status(actix_web::http::StatusCode::SERVICE_UNAVAILABLE).with_detail(detail),
    ))
}

/// `GET /api/v1/protocol/{aoo}/registrations/{year}/{number}/segnatura.xml`
#[tracing::instrument(skip_all)]
pub async fn segnatura(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, i32, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (aoo, year, number) = path.into_inner();
    let body = blocking(&state, move |conn, st| {
        let data = review::segnatura(conn, staff.ente_id, staff.staff_user_id, &aoo, year, number)?;
        let Some(dir) = &st.settings.segnatura.key_dir else {
            tracing::error!(aoo = %aoo, "segnatura asked for, but segnatura.key_dir is not configured");
            return Err(unavailable(
                "La segnatura informatica non è disponibile: la chiave di firma dell'AOO non è \
                 configurata (segnatura.key_dir).",
            ));
        };
        let key = SigningKey::for_aoo(dir, &aoo).map_err(|e| {
            tracing::error!(aoo = %aoo, error = %format!("{e:#}"), "the AOO's segnatura key cannot be read");
            unavailable(
                "La segnatura informatica non è disponibile: la chiave di firma dell'AOO non è \
                 leggibile.",
            )
        })?;
        Ok(segnatura::sign(&data, &key, st.clock.now())?)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .body(body))
}
