//! The one error type of the HTTP edge and its RFC 9457 rendering.
//!
//! Policy: domain modules return their own `thiserror` enums; handlers map them into
//! [`ApiError`]. Anything unexpected becomes `ApiError::Internal` carrying an `anyhow` chain,
//! which is logged in full (with the request id) and answered with a generic 500: no internal
//! detail reaches the client. Every error answer is `application/problem+json` with an Italian
//! `title`, a stable `type` (`urn:sportello:problem:<slug>`, listed in docs/api.md) and the
//! request id as `instance`; a browser asking for HTML gets the same message as a plain page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::text::escape_html;

/// One invalid field: where it is (JSON Pointer, RFC 6901) and what is wrong, in Italian.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("authentication required")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A problem with its own type, title and detail (e.g. why a SPID login failed).
    #[error("{}: {}", .0.title, .0.detail.as_deref().unwrap_or_default())]
    Problem(Box<Problem>),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Query(diesel::result::Error::NotFound) => Self::NotFound,
            crate::db::DbError::Pool(_) => Self::Unavailable(e.to_string()),
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        crate::db::DbError::from(e).into()
    }
}

/// The body of an RFC 9457 answer.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Extension members of a problem type (RFC 9457 §3.2), e.g. `required_level` of
    /// `login-level`.
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

impl Problem {
    /// The problem for a bare status (errors produced by the framework itself).
    pub fn for_status(status: StatusCode) -> Self {
        let (slug, title) = match status.as_u16() {
            400 => ("bad-request", "Richiesta non valida"),
            401 => ("unauthorized", "Accesso richiesto"),
            403 => ("forbidden", "Operazione non consentita"),
            404 => ("not-found", "Risorsa non trovata"),
            405 => ("method-not-allowed", "Metodo non consentito"),
            406 => ("not-acceptable", "Formato di risposta non disponibile"),
            408 => ("request-timeout", "Tempo scaduto per la richiesta"),
            409 => ("conflict", "Conflitto con lo stato attuale"),
            413 => ("payload-too-large", "Richiesta troppo grande"),
            415 => (
                "unsupported-media-type",
                "Formato della richiesta non supportato",
            ),
            422 => ("validation", "Dati non validi"),
            429 => ("too-many-requests", "Troppe richieste"),
            503 => ("unavailable", "Servizio temporaneamente non disponibile"),
            s if s >= 500 => ("internal", "Errore interno del servizio"),
            _ => ("http-error", "Richiesta non riuscita"),
        };
        let detail = match status.as_u16() {
            404 => Some("L'indirizzo richiesto non esiste o non è accessibile.".to_owned()),
            405 => Some("Il metodo HTTP usato non è consentito per questo indirizzo.".to_owned()),
            s if s >= 500 && s != 503 => Some(
                "Si è verificato un errore imprevisto. Riprovare più tardi; se il problema \
                 persiste, comunicare all'ente il codice della richiesta."
                    .to_owned(),
            ),
            _ => None,
        };
        Self {
            type_uri: type_uri(slug),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            instance: None,
            errors: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// A problem of its own kind: `slug` makes the `type` URI.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self::for_status(status)
            .with_type(slug, title)
            .with_detail(detail)
    }

    fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    fn with_type(mut self, slug: &str, title: &str) -> Self {
        self.type_uri = type_uri(slug);
        self.title = title.to_owned();
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A plain Italian page with the same content, for people using a browser.
    pub fn to_html(&self) -> String {
        let mut page = String::from(
            "<!doctype html>\n<html lang=\"it\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>",
        );
        page.push_str(&escape_html(&self.title));
        page.push_str("</title></head><body><main><h1>");
        page.push_str(&escape_html(&self.title));
        page.push_str("</h1>");
        if let Some(detail) = &self.detail {
            page.push_str("<p>");
            page.push_str(&escape_html(detail));
            page.push_str("</p>");
        }
        if let Some(errors) = &self.errors {
            page.push_str("<ul>");
            for e in errors {
                page.push_str("<li>");
                page.push_str(&escape_html(&e.message));
                page.push_str("</li>");
            }
            page.push_str("</ul>");
        }
        if let Some(instance) = &self.instance {
            page.push_str("<p><small>Codice della richiesta: ");
            page.push_str(&escape_html(
                instance.strip_prefix("urn:uuid:").unwrap_or(instance),
            ));
            page.push_str("</small></p>");
        }
        page.push_str("<p><a href=\"/\">Torna alla pagina iniziale</a></p></main></body></html>\n");
        page
    }
}

pub fn type_uri(slug: &str) -> String {
    format!("urn:sportello:problem:{slug}")
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        match self {
            Self::NotFound => Problem::for_status(StatusCode::NOT_FOUND),
            Self::Unauthorized => Problem::for_status(StatusCode::UNAUTHORIZED)
                .with_detail("Per continuare è necessario accedere con SPID o CIE."),
            Self::Forbidden(d) => Problem::for_status(StatusCode::FORBIDDEN).with_detail(d.clone()),
            Self::BadRequest(d) => {
                Problem::for_status(StatusCode::BAD_REQUEST).with_detail(d.clone())
            }
            Self::InvalidJson(d) => Problem::for_status(StatusCode::BAD_REQUEST)
                .with_type("invalid-json", "Dati JSON non validi")
                .with_detail(d.clone()),
            Self::Validation(errors) => {
                let mut p = Problem::for_status(StatusCode::UNPROCESSABLE_ENTITY).with_detail(
                    "Alcuni dati non sono validi: correggere i campi indicati e riprovare.",
                );
                p.errors = Some(errors.clone());
                p
            }
            Self::PayloadTooLarge(d) => {
                Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE).with_detail(d.clone())
            }
            Self::UnsupportedMediaType(d) => {
                Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail(d.clone())
            }
            Self::Conflict(d) => Problem::for_status(StatusCode::CONFLICT).with_detail(d.clone()),
            Self::Unavailable(_) => Problem::for_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail(
                    "Il servizio non è al momento disponibile. Riprovare tra qualche minuto.",
                ),
            Self::Problem(p) => (**p).clone(),
            Self::Internal(_) => Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }

    /// Logs the cause (the whole chain for internal errors) and answers with a response that
    /// carries the [`Problem`] as an extension; the request-context middleware renders it
    /// (JSON or HTML, with the request id), so that rendering is written once.
    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(e) => tracing::error!(error.cause_chain = ?e, "internal error"),
            Self::Unavailable(cause) => {
                tracing::error!(error.cause = %cause, "service unavailable")
            }
            other => tracing::info!(error = %other, "request refused"),
        }
        problem_response(self.problem())
    }
}

/// A response whose body the request-context middleware renders from the attached problem.
pub fn problem_response(problem: Problem) -> HttpResponse {
    let mut res = HttpResponse::build(problem.status_code())
        .content_type(PROBLEM_CONTENT_TYPE)
        .body(serde_json::to_string(&problem).unwrap_or_default());
    res.extensions_mut().insert(problem);
    res
}
