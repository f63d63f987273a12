//! The citizen's own data as one ZIP (GDPR art. 15 and 20).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::http::extract::{blocking, AppState, Citizen};
use crate::http::problem::ApiError;
use crate::http::routes::LINKS;
use crate::personal_data;

/// `GET /api/v1/me/data` — everything Sportello holds about the citizen in this ente.
#[tracing::instrument(skip_all)]
pub async fn download(
    state: web::Data<AppState>,
    citizen: Citizen,
) -> Result<HttpResponse, ApiError> {
    let who = citizen.0;
    let archive = blocking(&state, move |conn, st| {
        personal_data::build(
            conn,
            &st.forms,
            st.store.as_ref(),
            LINKS,
            who,
            st.clock.now(),
        )
    })
    .await?;
    tracing::info!(
        instances = archive.index.instances.len(),
        bytes = archive.bytes.len(),
        "personal data downloaded by the citizen"
    );
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", archive.file_name),
        ))
        .body(archive.bytes))
}
