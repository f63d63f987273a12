//! The one error type of the HTTP edge and its RFC 9457 rendering.
//!
//! Policy: capability modules return their own `thiserror` enums and know nothing of HTTP;
//! this module alone maps them (every `From<…Error> for ApiError` is here). Anything unexpected becomes `ApiError::Internal` carrying an `anyhow` chain,
//! which is logged in full (with the request id) and answered with a generic 500: no internal
//! detail reaches the client. Every error answer is `application/problem+json` with an Italian
//! `title`, a stable `type` (`urn:sportello:problem:<slug>`, one [`ProblemType`], listed in
//! docs/api.md) and the
//! request id as `instance`; a browser asking for HTML gets the same message as a plain page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use crate::domain::FieldError;
use crate::instances::InstanceError;
use crate::text::escape_html;

/// Every problem `type` the service answers with: `urn:sportello:problem:<slug>`. The table
/// in docs/api.md lists them all (a test keeps the two in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemType {
    BadRequest,
    InvalidJson,
    Unauthorized,
    Forbidden,
    LoginLevel,
    SpidUnknownIdp,
    SpidIdpUnsupported,
    InvalidNext,
    InvalidLevel,
    SpidLoginUnknown,
    SpidLoginExpired,
    SpidResponseInvalid,
    SpidResponseReplayed,
    SpidAuthenticationFailed,
    SpidIdentityInvalid,
    SpidLogoutInvalid,
    CieUnknownProvider,
    CieProviderUntrusted,
    StaffSsoUnavailable,
    LoginUnknown,
    LoginExpired,
    CieResponseInvalid,
    CieIdentityInvalid,
    AuthenticationFailed,
    StaffResponseInvalid,
    StaffUnknown,
    LoginBrowserMismatch,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    Conflict,
    TransitionNotAllowed,
    SlotTaken,
    BookingLimit,
    InvalidToken,
    InsufficientScope,
    PreconditionFailed,
    PreconditionRequired,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
    TooManyRequests,
    Unavailable,
    Internal,
    HttpError,
}

impl ProblemType {
    pub const ALL: [Self; 46] = [
        Self::BadRequest,
        Self::InvalidJson,
        Self::Unauthorized,
        Self::Forbidden,
        Self::LoginLevel,
        Self::SpidUnknownIdp,
        Self::SpidIdpUnsupported,
        Self::InvalidNext,
        Self::InvalidLevel,
        Self::SpidLoginUnknown,
        Self::SpidLoginExpired,
        Self::SpidResponseInvalid,
        Self::SpidResponseReplayed,
        Self::SpidAuthenticationFailed,
        Self::SpidIdentityInvalid,
        Self::SpidLogoutInvalid,
        Self::CieUnknownProvider,
        Self::CieProviderUntrusted,
        Self::StaffSsoUnavailable,
        Self::LoginUnknown,
        Self::LoginExpired,
        Self::CieResponseInvalid,
        Self::CieIdentityInvalid,
        Self::AuthenticationFailed,
        Self::StaffResponseInvalid,
        Self::StaffUnknown,
        Self::LoginBrowserMismatch,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::NotAcceptable,
        Self::Conflict,
        Self::TransitionNotAllowed,
        Self::SlotTaken,
        Self::BookingLimit,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::PreconditionFailed,
        Self::PreconditionRequired,
        Self::RequestTimeout,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Validation,
        Self::TooManyRequests,
        Self::Unavailable,
        Self::Internal,
        Self::HttpError,
    ];

    /// The last part of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::InvalidJson => "invalid-json",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::LoginLevel => "login-level",
            Self::SpidUnknownIdp => "spid-unknown-idp",
            Self::SpidIdpUnsupported => "spid-idp-unsupported",
            Self::InvalidNext => "invalid-next",
            Self::InvalidLevel => "invalid-level",
            Self::SpidLoginUnknown => "spid-login-unknown",
            Self::SpidLoginExpired => "spid-login-expired",
            Self::SpidResponseInvalid => "spid-response-invalid",
            Self::SpidResponseReplayed => "spid-response-replayed",
            Self::SpidAuthenticationFailed => "spid-authentication-failed",
            Self::SpidIdentityInvalid => "spid-identity-invalid",
            Self::SpidLogoutInvalid => "spid-logout-invalid",
            Self::CieUnknownProvider => "cie-unknown-provider",
            Self::CieProviderUntrusted => "cie-provider-untrusted",
            Self::StaffSsoUnavailable => "staff-sso-unavailable",
            Self::LoginUnknown => "login-unknown",
            Self::LoginExpired => "login-expired",
            Self::CieResponseInvalid => "cie-response-invalid",
            Self::CieIdentityInvalid => "cie-identity-invalid",
            Self::AuthenticationFailed => "authentication-failed",
            Self::StaffResponseInvalid => "staff-response-invalid",
            Self::StaffUnknown => "staff-unknown",
            Self::LoginBrowserMismatch => "login-browser-mismatch",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::NotAcceptable => "not-acceptable",
            Self::Conflict => "conflict",
            Self::TransitionNotAllowed => "transition-not-allowed",
            Self::SlotTaken => "slot-taken",
            Self::InvalidToken => "invalid-token",
            Self::InsufficientScope => "insufficient-scope",
            Self::BookingLimit => "booking-limit",
            Self::PreconditionFailed => "precondition-failed",
            Self::PreconditionRequired => "precondition-required",
            Self::RequestTimeout => "request-timeout",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Validation => "validation",
            Self::TooManyRequests => "too-many-requests",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::HttpError => "http-error",
        }
    }

    /// `urn:sportello:problem:<slug>`.
    pub fn uri(self) -> String {
        format!("urn:sportello:problem:{}", self.slug())
    }
}

impl std::fmt::Display for ProblemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
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

// The capabilities' errors, each mapped once.

impl From<InstanceError> for ApiError {
    fn from(e: InstanceError) -> Self {
        match e {
            InstanceError::NotFound => ApiError::NotFound,
            InstanceError::ServiceUnavailable => ApiError::Validation(vec![FieldError::new(
                "/service",
                "Questo servizio non è disponibile online.",
            )]),
            InstanceError::NotADraft => ApiError::Conflict(
                "La pratica è già stata presentata e non può essere modificata.".into(),
            ),
            InstanceError::Validation(errors) => ApiError::Validation(errors),
            InstanceError::LevelTooLow { required, current } => {
                let mut p = Problem::new(
                    StatusCode::FORBIDDEN,
                    ProblemType::LoginLevel,
                    "Serve un accesso di livello più alto",
                    format!(
                        "Per presentare questa istanza serve un accesso SPID/CIE di livello \
                         {required} (l'accesso attuale è di livello {current}): accedere di nuovo \
                         al livello richiesto."
                    ),
                );
                p.extensions
                    .insert("required_level".into(), serde_json::Value::from(required));
                ApiError::Problem(Box::new(p))
            }
            InstanceError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            InstanceError::TypeRefused(m) => ApiError::UnsupportedMediaType(m),
            InstanceError::AttachmentRefused(m) => {
                ApiError::Validation(vec![FieldError::new("/attachments", m)])
            }
            InstanceError::KeyReused => ApiError::Validation(vec![FieldError::new(
                "/idempotency_key",
                "La chiave Idempotency-Key è già stata usata per un'altra pratica.",
            )]),
            InstanceError::Concurrent => ApiError::Conflict(
                "La pratica è stata modificata mentre veniva presentata: riprovare.".into(),
            ),
            InstanceError::Db(e) => e.into(),
            InstanceError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::auth::login::LoginError> for ApiError {
    fn from(e: crate::auth::login::LoginError) -> Self {
        use crate::auth::login::LoginError;
        match e {
            LoginError::AssertionReplayed => {
                let kind = ProblemType::SpidResponseReplayed;
                let reason = e.to_string();
                tracing::warn!(reason = reason.as_str(), problem = %kind, "SPID login refused");
                ApiError::Problem(Box::new(Problem::new(
                    StatusCode::FORBIDDEN,
                    kind,
                    crate::http::spid::LOGIN_FAILED,
                    "Questa risposta di accesso è già stata usata. Ripetere l'accesso.",
                )))
            }
            LoginError::Db(e) => e.into(),
            LoginError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::backoffice::BackofficeError> for ApiError {
    fn from(e: crate::backoffice::BackofficeError) -> Self {
        match e {
            crate::backoffice::BackofficeError::NotFound => ApiError::NotFound,
            crate::backoffice::BackofficeError::Db(e) => e.into(),
            crate::backoffice::BackofficeError::Stale { current } => {
                let mut p = Problem::new(
                    StatusCode::PRECONDITION_FAILED,
                    ProblemType::PreconditionFailed,
                    "La pratica è stata modificata nel frattempo",
                    "Un collega ha modificato la pratica dopo che è stata letta: ricaricarla, \
                     controllare le modifiche e ripetere l'operazione.",
                );
                p.extensions
                    .insert("current_version".into(), serde_json::Value::from(current));
                ApiError::Problem(Box::new(p))
            }
            crate::backoffice::BackofficeError::NotAllowed(e) => transition_problem(&e),
            crate::backoffice::BackofficeError::Invalid(errors) => ApiError::Validation(errors),
            crate::backoffice::BackofficeError::Upload(e) => e.into(),
            crate::backoffice::BackofficeError::Other(e) => ApiError::Internal(e),
            crate::backoffice::BackofficeError::Forbidden(m) => ApiError::Forbidden(m),
            crate::backoffice::BackofficeError::AlreadyAnnulled => {
                ApiError::Conflict("La registrazione è già stata annullata.".into())
            }
            crate::backoffice::BackofficeError::Conflict(m) => ApiError::Conflict(m),
        }
    }
}

impl From<crate::tokens::TokenError> for ApiError {
    fn from(e: crate::tokens::TokenError) -> Self {
        use crate::tokens::TokenError as T;
        match e {
            T::NotFound => ApiError::NotFound,
            T::Invalid(errors) => ApiError::Validation(errors),
            T::NotValid(why) => {
                tracing::info!(reason = why, "bearer token refused");
                invalid_token()
            }
            T::Db(e) => e.into(),
            T::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// 401 for a bearer token that is unknown, expired, revoked or another ente's (RFC 6750:
/// the client learns only that it is not valid).
pub fn invalid_token() -> ApiError {
    ApiError::Problem(Box::new(Problem::new(
        StatusCode::UNAUTHORIZED,
        ProblemType::InvalidToken,
        "Token non valido",
        "Il token indicato non è valido per questo ente: è sconosciuto, scaduto o revocato.",
    )))
}

/// 403 for a valid token without the scope an endpoint needs.
pub fn insufficient_scope(scope: crate::tokens::Scope) -> ApiError {
    ApiError::Problem(Box::new(Problem::new(
        StatusCode::FORBIDDEN,
        ProblemType::InsufficientScope,
        "Ambito del token insufficiente",
        format!(
            "Questa operazione richiede un token con l'ambito {}.",
            scope.as_str()
        ),
    )))
}

impl From<crate::personal_data::PersonalDataError> for ApiError {
    fn from(e: crate::personal_data::PersonalDataError) -> Self {
        match e {
            crate::personal_data::PersonalDataError::Db(e) => e.into(),
            crate::personal_data::PersonalDataError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::catalog::CatalogError> for ApiError {
    fn from(e: crate::catalog::CatalogError) -> Self {
        use crate::catalog::CatalogError as C;
        match e {
            C::NotFound => ApiError::NotFound,
            C::Invalid(errors) => ApiError::Validation(errors),
            C::Db(e) => e.into(),
            C::Pool(e) => e.into(),
        }
    }
}

impl From<crate::booking::BookingError> for ApiError {
    fn from(e: crate::booking::BookingError) -> Self {
        use crate::booking::BookingError as B;
        match e {
            B::NotFound => ApiError::NotFound,
            B::Invalid(errors) => ApiError::Validation(errors),
            B::SlotTaken => ApiError::Problem(Box::new(Problem::new(
                StatusCode::CONFLICT,
                ProblemType::SlotTaken,
                "Posto non più disponibile",
                "Il posto scelto è stato appena prenotato da qualcun altro (o l'ufficio l'ha \
                 annullato): scelga un altro orario tra quelli disponibili.",
            ))),
            B::LimitReached(max) => ApiError::Problem(Box::new(Problem::new(
                StatusCode::CONFLICT,
                ProblemType::BookingLimit,
                "Prenotazioni già attive",
                format!(
                    "Per questo servizio si possono avere al massimo {max} prenotazioni attive: \
                     annulli o sposti quella che ha già."
                ),
            ))),
            B::Conflict(m) => ApiError::Conflict(m),
            B::Unavailable(m) => ApiError::Unavailable(m),
            B::Forbidden(m) => ApiError::Forbidden(m),
            B::Db(e) => e.into(),
            B::Other(e) => ApiError::Internal(e),
        }
    }
}

/// 409 for a transition the state machine refuses: the state now and what is allowed.
fn transition_problem(e: &crate::domain::NotAllowed) -> ApiError {
    use crate::domain::NotAllowed;
    let (detail, from, allowed) = match e {
        NotAllowed::Actor { transition, .. } => (
            format!(
                "L'operazione «{}» non è consentita a questo utente.",
                transition.as_str()
            ),
            None,
            Vec::new(),
        ),
        NotAllowed::State {
            from,
            transition,
            allowed,
        } => (
            format!(
                "L'operazione «{}» non è consentita su una pratica nello stato «{}».",
                transition.as_str(),
                from.label()
            ),
            Some(*from),
            allowed.clone(),
        ),
        NotAllowed::OnlyOnce {
            from,
            transition,
            allowed,
        } => (
            if *transition == crate::domain::Transition::NotifyCounterparties {
                format!(
                    "L'operazione «{}» è consentita una sola volta per pratica ed è già stata \
                     fatta (D.Lgs. 33/2013, art. 5 c. 5).",
                    transition.as_str()
                )
            } else {
                format!(
                    "L'operazione «{}» è consentita una sola volta per pratica ed è già stata \
                     fatta (L. 241/1990, art. 2 c. 7: il termine si sospende una volta sola).",
                    transition.as_str()
                )
            },
            Some(*from),
            allowed.clone(),
        ),
    };
    let mut p = Problem::new(
        StatusCode::CONFLICT,
        ProblemType::TransitionNotAllowed,
        "Operazione non consentita in questo stato",
        detail,
    );
    if let Some(from) = from {
        p.extensions.insert(
            "current_status".into(),
            serde_json::Value::from(from.as_str()),
        );
    }
    p.extensions.insert(
        "allowed_actions".into(),
        serde_json::Value::from(allowed.iter().map(|t| t.as_str()).collect::<Vec<_>>()),
    );
    ApiError::Problem(Box::new(p))
}

impl From<crate::ratings::RatingError> for ApiError {
    fn from(e: crate::ratings::RatingError) -> Self {
        use crate::ratings::RatingError;
        match e {
            RatingError::NotFound => ApiError::NotFound,
            RatingError::NotDecided => ApiError::Conflict(
                "Si può valutare il servizio solo dopo che l'ufficio ha concluso la pratica."
                    .into(),
            ),
            RatingError::AlreadyRated => {
                ApiError::Conflict("Il servizio è già stato valutato per questa pratica.".into())
            }
            RatingError::Db(e) => e.into(),
            RatingError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::transparency::TransparencyError> for ApiError {
    fn from(e: crate::transparency::TransparencyError) -> Self {
        use crate::transparency::TransparencyError;
        match e {
            TransparencyError::InvalidPeriod(m) => ApiError::BadRequest(m),
            TransparencyError::Db(e) => e.into(),
            TransparencyError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Query(diesel::result::Error::NotFound) => Self::NotFound,
            // A text the client sent that the database cannot store (PostgreSQL refuses NUL,
            // `\u0000` in JSON): the request is at fault, not the service.
            crate::db::DbError::Query(diesel::result::Error::DatabaseError(_, ref info))
                if info
                    .message()
                    .starts_with("invalid byte sequence for encoding") =>
            {
                Self::BadRequest(
                    "I dati inviati contengono un carattere nullo (\\u0000), che non è ammesso."
                        .into(),
                )
            }
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

/// The body of an RFC 9457 answer (`application/problem+json`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:sportello:problem:<slug>`: what kind of problem (listed in docs/api.md).
    #[serde(rename = "type")]
    #[schema(example = "urn:sportello:problem:not-found")]
    pub type_uri: String,
    /// What happened, in Italian, for people.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What to do about it, in Italian.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `urn:uuid:<request id>`: the code to quote to the ente (it is in the logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The invalid fields (`validation` problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Extension members of a problem type (RFC 9457 §3.2), e.g. `required_level` of
    /// `login-level`.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

impl Problem {
    /// The problem for a bare status (errors produced by the framework itself).
    pub fn for_status(status: StatusCode) -> Self {
        let (kind, title) = match status.as_u16() {
            400 => (ProblemType::BadRequest, "Richiesta non valida"),
            401 => (ProblemType::Unauthorized, "Accesso richiesto"),
            403 => (ProblemType::Forbidden, "Operazione non consentita"),
            404 => (ProblemType::NotFound, "Risorsa non trovata"),
            405 => (ProblemType::MethodNotAllowed, "Metodo non consentito"),
            406 => (
                ProblemType::NotAcceptable,
                "Formato di risposta non disponibile",
            ),
            408 => (
                ProblemType::RequestTimeout,
                "Tempo scaduto per la richiesta",
            ),
            409 => (ProblemType::Conflict, "Conflitto con lo stato attuale"),
            413 => (ProblemType::PayloadTooLarge, "Richiesta troppo grande"),
            415 => (
                ProblemType::UnsupportedMediaType,
                "Formato della richiesta non supportato",
            ),
            422 => (ProblemType::Validation, "Dati non validi"),
            429 => (ProblemType::TooManyRequests, "Troppe richieste"),
            503 => (
                ProblemType::Unavailable,
                "Servizio temporaneamente non disponibile",
            ),
            s if s >= 500 => (ProblemType::Internal, "Errore interno del servizio"),
            _ => (ProblemType::HttpError, "Richiesta non riuscita"),
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
            type_uri: kind.uri(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            instance: None,
            errors: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// A problem of its own kind.
    pub fn new(
        status: StatusCode,
        kind: ProblemType,
        title: &str,
        detail: impl Into<String>,
    ) -> Self {
        Self::for_status(status)
            .with_type(kind, title)
            .with_detail(detail)
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    fn with_type(mut self, kind: ProblemType, title: &str) -> Self {
        self.type_uri = kind.uri();
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
                .with_type(ProblemType::InvalidJson, "Dati JSON non validi")
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
        let problem = self.problem();
        // RFC 6750 § 3: the bearer challenge tells a client why its token was refused.
        let challenge = if problem.type_uri == ProblemType::InvalidToken.uri() {
            Some("Bearer error=\"invalid_token\"")
        } else if problem.type_uri == ProblemType::InsufficientScope.uri() {
            Some("Bearer error=\"insufficient_scope\"")
        } else {
            None
        };
        let mut res = problem_response(problem);
        if let Some(c) = challenge {
            res.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static(c),
            );
        }
        res
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The slugs the problem table of docs/api.md names (its rows start with a `type`).
    fn documented_slugs() -> Vec<String> {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md"))
            .expect("docs/api.md");
        let mut out = Vec::new();
        for line in doc
            .lines()
            .filter(|l| l.starts_with("| `urn:sportello:problem:"))
        {
            let first_cell = line.split('|').nth(1).unwrap_or_default();
            for token in first_cell.split('`').skip(1).step_by(2) {
                out.push(
                    token
                        .trim_start_matches("urn:sportello:problem:")
                        .to_owned(),
                );
            }
        }
        out
    }

    #[test]
    fn docs_api_md_lists_every_problem_type_and_no_other() {
        let documented = documented_slugs();
        for kind in ProblemType::ALL {
            assert!(
                documented.iter().any(|d| d == kind.slug()),
                "docs/api.md does not list the problem type {}",
                kind.slug()
            );
        }
        for d in &documented {
            assert!(
                ProblemType::ALL.iter().any(|k| k.slug() == d),
                "docs/api.md lists {d}, which is no ProblemType"
            );
        }
        let mut slugs: Vec<_> = ProblemType::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len(), "a slug is used twice");
    }
}
