//! Liveness and readiness for load balancers and orchestrators.

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;
use serde::Serialize;

use crate::db::Backend;
use crate::http::extract::AppState;
use crate::http::problem::ApiError;

/// `GET /health/live`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Live {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /health/ready`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Always `ready` (otherwise the answer is a 503 problem).
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// Always `current`.
    pub migrations: &'static str,
}

/// The process is up and answering.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live { status: "ok" })
}

/// The instance can serve: the database answers and its schema is current.
#[tracing::instrument(skip_all)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let current = state
        .db
        .run(move |conn| {
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map_err(|e| ApiError::Unavailable(format!("database unreachable: {e}")))?;
            db.migrations_current()
                .map_err(|e| ApiError::Unavailable(format!("{e:#}")))
        })
        .await?;
    if !current {
        return Err(ApiError::Unavailable(
            "database schema is behind: run `sportello migrate`".into(),
        ));
    }
    let backend = match state.db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready",
        database: backend,
        migrations: "current",
    }))
}

/// `GET /metrics` on the metrics listener (`server.metrics_listen`): the Prometheus scrape,
/// never on the public port (docs/operations.md).
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let body = state
        .db
        .run(move |conn| st.metrics.render(&st.db, conn).map_err(ApiError::Internal))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body))
}
