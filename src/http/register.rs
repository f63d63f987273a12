//! The protocol register for its clerks: read an entry, annul it (DPR 445/2000 art. 54).

use actix_web::{web, HttpResponse};

use crate::backoffice::annulment::{self, AnnulmentRequest};
use crate::http::extract::{blocking, AppState, Staff};
use crate::http::problem::ApiError;
use crate::http::routes::LINKS;
use crate::instances::Links;

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
