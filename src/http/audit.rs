//! The audit log for the ente's administrators (session) and its other systems (a token
//! with `audit:read`): JSON Lines or CSV, a page at a time.

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};

use crate::audit::query::{self, AuditFilter};
use crate::http::backoffice::require_admin;
use crate::http::extract::{blocking, ApiClient, AppState, Staff};
use crate::http::problem::ApiError;
use crate::tokens::Scope;

/// `GET /api/v1/admin/audit[?from&to&actor&action&cursor&limit&format]`
#[tracing::instrument(skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    let f = query.into_inner();
    let ente_id = if req.headers().contains_key(header::AUTHORIZATION) {
        let client = ApiClient::extract(&req).await?;
        client.require(Scope::AuditRead)?;
        client.0.ente_id
    } else {
        let staff = Staff::extract(&req).await?;
        blocking(&state, move |conn, _| require_admin(conn, staff)).await?;
        staff.ente_id
    };
    let csv = match f.format.as_deref() {
        Some("csv") => true,
        Some("jsonl") => false,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "Formato non disponibile: indicare format=jsonl oppure format=csv.".into(),
            ))
        }
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    let filter = f.clone();
    let page = blocking(&state, move |conn, _| {
        query::page(conn, ente_id, &filter)
            .map_err(ApiError::from)?
            .map_err(ApiError::Validation)
    })
    .await?;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(next) = page.next_cursor {
        res.insert_header(("x-next-cursor", next.to_string()));
        let mut q: Vec<String> = vec![format!("cursor={next}")];
        for (k, v) in [
            ("from", f.from.map(|d| d.to_string())),
            ("to", f.to.map(|d| d.to_string())),
            ("actor", f.actor.clone()),
            ("action", f.action.clone()),
            ("limit", f.limit.map(|l| l.to_string())),
            ("format", f.format.clone()),
        ] {
            if let Some(v) = v {
                q.push(format!("{k}={}", urlencode(&v)));
            }
        }
        res.insert_header((
            header::LINK,
            format!("</api/v1/admin/audit?{}>; rel=\"next\"", q.join("&")),
        ));
    }
    if csv {
        let body = query::to_csv(&page.items).map_err(ApiError::Internal)?;
        Ok(res.content_type("text/csv; charset=utf-8").body(body))
    } else {
        Ok(res
            .content_type("application/jsonl")
            .body(query::to_jsonl(&page.items)))
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
