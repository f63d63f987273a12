//! The request-context middleware: request id, request span and access log, security
//! headers, and the rendering of every error answer as RFC 9457 problem+json (or an Italian
//! HTML page for browsers).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use tracing::Instrument;

use crate::http::problem::{Problem, PROBLEM_CONTENT_TYPE};

/// The id of the current request, in request extensions and the `X-Request-Id` header.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Security headers added to every answer. The CSP suits an API and the server-rendered
/// pages (no inline scripts, nothing from other origins).
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    pub hsts: bool,
}

/// A proxy's request id is kept when it is short and plain, so one id follows the request
/// through nginx and Sportello; anything else is replaced.
fn incoming_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    ok.then(|| value.to_owned())
}

/// True when the client prefers an HTML page (a browser navigating) over JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let html = accept.find("text/html");
    let json = accept
        .find("application/json")
        .or_else(|| accept.find("application/problem+json"));
    match (html, json) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Whether the request's path or query names a NUL character (`%00`).
fn has_nul(uri: &actix_web::http::Uri) -> bool {
    let raw = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_default();
    raw.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id =
        incoming_request_id(req.headers()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let html = wants_html(req.headers());
    let security = req
        .app_data::<actix_web::web::Data<SecurityHeaders>>()
        .cloned();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let login_method = login_method(req.path());
    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );

    let res = if has_nul(req.uri()) {
        // No text of ours may hold a NUL (PostgreSQL cannot store one): refused at the door.
        let refusal = crate::http::problem::ApiError::BadRequest(
            "L'indirizzo contiene un carattere nullo (%00), che non è ammesso.".into(),
        );
        let _entered = span.enter();
        req.into_response(actix_web::ResponseError::error_response(&refusal))
    } else {
        let audit = crate::audit::Context {
            client_ip: req.peer_addr().map(|a| a.ip().to_string()),
            request_id: Some(request_id.clone()),
        };
        let result = audit.scope(next.call(req).instrument(span.clone())).await;
        // Handlers' and extractors' errors arrive here already turned into responses; an
        // `Err` could only come from an inner middleware, and there is none.
        result?.map_into_boxed_body()
    };
    let metrics = res
        .request()
        .app_data::<actix_web::web::Data<crate::http::extract::AppState>>()
        .map(|state| state.metrics.clone());
    if let Some(method) = login_method {
        let failed = res.status().as_u16() >= 400;
        if let Some(m) = &metrics {
            m.login(method, !failed);
        }
        if failed {
            audit_failed_login(&res, method).await;
        }
    }
    if let Some(m) = &metrics {
        m.request(
            res.request().method().as_str(),
            res.request().match_pattern().as_deref(),
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    let mut res = render_problem(res, &request_id, html);

    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    add_security_headers(headers, security.as_ref().map(|d| d.get_ref()));

    let status = res.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request completed");
        }
    });
    Ok(res)
}

/// Every error answer leaves as a problem: ours carry a [`Problem`] extension, the
/// framework's (unknown route, wrong method, …) get one built from their status.
fn render_problem(
    res: ServiceResponse<BoxBody>,
    request_id: &str,
    html: bool,
) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let attached = res.response().extensions().get::<Problem>().cloned();
    let mut problem = match attached {
        Some(p) => p,
        None => {
            let already_problem = res
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
            if already_problem {
                return res;
            }
            Problem::for_status(status)
        }
    };
    problem.instance = Some(format!("urn:uuid:{request_id}"));
    let mut builder = HttpResponse::build(status);
    if res.response().head().connection_type() == ConnectionType::Close {
        // An answer sent before its request body was read (see `slow_body`) closes.
        builder.force_close();
    }
    // Keep headers the error set on purpose (WWW-Authenticate, Retry-After, Allow).
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            builder.append_header((name.clone(), value.clone()));
        }
    }
    let body = if html {
        builder
            .content_type("text/html; charset=utf-8")
            .body(problem.to_html())
    } else {
        builder
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(serde_json::to_string(&problem).unwrap_or_default())
    };
    res.into_response(body)
}

fn add_security_headers(headers: &mut HeaderMap, security: Option<&SecurityHeaders>) {
    let fixed: [(&str, &str); 7] = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if security.is_some_and(|s| s.hsts) {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

/// The login method whose last step (the provider's answer, or the development login) is at
/// this path: a refusal there is a failed login for the audit log.
fn login_method(path: &str) -> Option<&'static str> {
    match path {
        "/spid/acs" => Some("spid"),
        "/cie/callback" => Some("cie"),
        "/auth/staff/callback" => Some("staff_sso"),
        "/auth/dev/login" => Some("dev"),
        _ => None,
    }
}

/// Records a refused login in the ente's audit log (when the request's ente is known): the
/// method, the status and the problem's type. Who tried is not known (the login failed).
async fn audit_failed_login(res: &ServiceResponse<BoxBody>, method: &'static str) {
    let req = res.request();
    let Some(ente) = req
        .extensions()
        .get::<crate::http::extract::CurrentEnte>()
        .map(|e| e.0.id)
    else {
        return;
    };
    let Some(state) = req
        .app_data::<actix_web::web::Data<crate::http::extract::AppState>>()
        .cloned()
    else {
        return;
    };
    let problem = res
        .response()
        .extensions()
        .get::<crate::http::problem::Problem>()
        .map(|p| p.type_uri.clone());
    let status = res.status().as_u16();
    let _ = state
        .db
        .run(move |conn| {
            crate::audit::record_detached(
                conn,
                crate::audit::Entry::new(
                    ente,
                    crate::audit::Actor::System,
                    crate::audit::Action::LoginFailed,
                    "login",
                    method,
                )
                .with(serde_json::json!({
                    "method": method,
                    "status": status,
                    "problem": problem,
                })),
            );
            Ok::<(), crate::db::DbError>(())
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn browser_navigation_wants_html_api_clients_do_not() {
        assert!(wants_html(&headers(&[(
            "accept",
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )])));
        assert!(!wants_html(&headers(&[("accept", "application/json")])));
        assert!(!wants_html(&headers(&[(
            "accept",
            "application/json, text/html"
        )])));
        assert!(!wants_html(&headers(&[])));
    }

    #[test]
    fn incoming_request_id_is_kept_only_when_plain() {
        assert_eq!(
            incoming_request_id(&headers(&[("x-request-id", "abc-123")])).as_deref(),
            Some("abc-123")
        );
        assert_eq!(
            incoming_request_id(&headers(&[("x-request-id", "a b")])),
            None
        );
        assert_eq!(
            incoming_request_id(&headers(&[(
                "x-request-id",
                "0123456789012345678901234567890123456789012345678901234567890123456789"
            )])),
            None
        );
    }
}
