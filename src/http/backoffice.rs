//! Back-office API: office queues (staff) and the outbox (administrators).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::backoffice::{self, QueueFilter};
use crate::http::extract::{AppState, Staff};
use crate::http::problem::ApiError;
use crate::notify;
use crate::org::{self, Role};

/// `GET /api/v1/offices/{office}/queue`
#[tracing::instrument(skip_all, fields(office = %path))]
pub async fn queue(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<QueueFilter>,
) -> Result<HttpResponse, ApiError> {
    let office = path.into_inner();
    let filter = query.into_inner();
    let st = state.clone();
    let body = state
        .db
        .run(move |conn| {
            let office_id =
                backoffice::office_for_staff(conn, staff.ente_id, staff.staff_user_id, &office)?;
            backoffice::queue(
                conn,
                office_id,
                staff.staff_user_id,
                &filter,
                st.clock.today(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

pub(crate) fn require_admin(conn: &mut crate::db::DbConn, staff: Staff) -> Result<(), ApiError> {
    let grants = org::staff_grants(conn, staff.staff_user_id)?;
    if grants.iter().any(|g| g.role == Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Funzione riservata agli amministratori dell'ente.".into(),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    pub status: Option<String>,
}

/// `GET /api/v1/admin/outbox[?status=dead]` — messages waiting, sent, or dead.
#[tracing::instrument(skip_all)]
pub async fn outbox(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = query.into_inner().status;
    if let Some(s) = &status {
        if !["pending", "sent", "dead"].contains(&s.as_str()) {
            return Err(ApiError::BadRequest(
                "Lo stato deve essere pending, sent o dead.".into(),
            ));
        }
    }
    let body = state
        .db
        .run(move |conn| {
            require_admin(conn, staff)?;
            Ok::<_, ApiError>(notify::list(conn, staff.ente_id, status.as_deref(), 200)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/admin/outbox/{id}/retry` — a dead message goes back in the queue.
#[tracing::instrument(skip_all)]
pub async fn retry(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state
        .db
        .run(move |conn| {
            require_admin(conn, staff)?;
            if notify::retry(conn, staff.ente_id, id)? {
                Ok(())
            } else {
                Err(ApiError::NotFound)
            }
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How much of the export ZIP is read per chunk of the response.
const EXPORT_CHUNK: usize = 64 * 1024;

/// `POST /api/v1/admin/export` — everything of the administrator's ente as a ZIP
/// (docs/export.md). Built in a temporary file and streamed from it.
#[tracing::instrument(skip_all)]
pub async fn export(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let (file, len) = state
        .db
        .run(move |conn| {
            require_admin(conn, staff)?;
            let actor = crate::audit::Actor::staff(conn, staff.staff_user_id)?;
            Ok::<_, ApiError>(crate::export::export_zip(
                conn,
                &*store,
                staff.ente_id,
                actor,
            )?)
        })
        .await?;
    let file = std::sync::Arc::new(std::sync::Mutex::new(file));
    let chunks = futures_util::stream::unfold(file, |file| async move {
        let reader = file.clone();
        let chunk = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = vec![0; EXPORT_CHUNK];
            let mut f = reader.lock().unwrap_or_else(|p| p.into_inner());
            let n = f.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>(buf)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match chunk {
            Ok(buf) if buf.is_empty() => None,
            Ok(buf) => Some((Ok(actix_web::web::Bytes::from(buf)), file)),
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"sportello-export.zip\"",
        ))
        .body(actix_web::body::SizedStream::new(len, Box::pin(chunks))))
}
