//! Binding a login to the browser that started it. `/spid/login`, `/cie/login` and
//! `/auth/staff/login` put a random value in a short-lived cookie (reused if the browser
//! already has one, so two tabs can log in at once) and store its SHA-256 with the pending
//! request; the ACS or callback accepts the answer only through a browser that has that
//! value. Without it, someone could start a login with their own identity and make a
//! victim's browser finish it (login CSRF, the victim then working in the attacker's
//! account).
//!
//! The SPID response arrives by a cross-site POST, so its cookie is `SameSite=None`
//! (always `Secure` in production, where `session.cookie_secure` is enforced); the OIDC
//! callbacks are top-level GET navigations, so `SameSite=Lax` suffices.
//!
//! Also what every login endpoint shares: parsing login links (`next`, `level`), the OIDC
//! callbacks' query and pending request (CIE and staff single sign-on), their refusals, and
//! the answer after a login (the session cookie and a 303).

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::oidc::{self, PendingAuthorization};
use crate::db::now;
use crate::http::extract::{blocking, AppState};
use crate::http::problem::{ApiError, Problem, ProblemType};
use crate::text::sha256_hex;

pub struct FlowCookie {
    name: &'static str,
    same_site: SameSite,
}

pub const SPID_FLOW: FlowCookie = FlowCookie {
    name: "sportello_spid_flow",
    same_site: SameSite::None,
};

pub const OIDC_FLOW: FlowCookie = FlowCookie {
    name: "sportello_oidc_flow",
    same_site: SameSite::Lax,
};

fn well_formed(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

impl FlowCookie {
    /// The hash to store with the pending request, and the cookie to send.
    pub fn start(
        &self,
        req: &HttpRequest,
        secure: bool,
        ttl_secs: i64,
    ) -> anyhow::Result<(String, Cookie<'static>)> {
        let value = match req.cookie(self.name) {
            Some(c) if well_formed(c.value()) => c.value().to_owned(),
            _ => crate::auth::random_hex(32)?,
        };
        let cookie = Cookie::build(self.name, value.clone())
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(self.same_site)
            .max_age(Duration::seconds(ttl_secs))
            .finish();
        Ok((sha256_hex(value.as_bytes()), cookie))
    }

    /// The browser's flow value, if it has one.
    pub fn value(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.name).map(|c| c.value().to_owned())
    }

    /// Whether a browser with this flow value started the login whose hash is stored.
    pub fn matches(value: Option<&str>, stored_hash: &str) -> bool {
        value.is_some_and(|v| well_formed(v) && sha256_hex(v.as_bytes()) == stored_hash)
    }
}

/// The problem for an answer that comes back through another browser.
pub fn other_browser(title: &str) -> ApiError {
    tracing::warn!("login answer arrived through a browser that did not start it");
    ApiError::Problem(Box::new(Problem::new(
        StatusCode::FORBIDDEN,
        ProblemType::LoginBrowserMismatch,
        title,
        "L'accesso è stato avviato da un altro browser, oppure questo browser non conserva i \
         cookie. Ripetere l'accesso da questo browser, con i cookie abilitati.",
    )))
}

/// A problem of a login endpoint.
pub fn problem(status: StatusCode, kind: ProblemType, title: &str, detail: &str) -> ApiError {
    ApiError::Problem(Box::new(Problem::new(status, kind, title, detail)))
}

/// What login pages show when an answer cannot be used.
pub const RETRY: &str = "La risposta del gestore dell'identità non è valida. Ripetere \
                         l'accesso; se il problema persiste, comunicare all'ente il codice \
                         della richiesta.";

/// The `level` of a login link (1–3), or the default.
pub fn parse_level(
    raw: Option<&str>,
    default: crate::auth::AuthLevel,
) -> Result<crate::auth::AuthLevel, ApiError> {
    match raw {
        None | Some("") => Ok(default),
        Some(l) => l
            .parse::<i32>()
            .ok()
            .and_then(|l| crate::auth::AuthLevel::try_from(l).ok())
            .ok_or_else(|| {
                problem(
                    StatusCode::BAD_REQUEST,
                    ProblemType::InvalidLevel,
                    "Livello di accesso non valido",
                    "Il livello richiesto deve essere 1, 2 o 3.",
                )
            }),
    }
}

/// The `next` of a login link: a local path only (no open redirect), or the default.
pub fn parse_next(raw: Option<String>, default: &str) -> Result<String, ApiError> {
    match raw {
        None => Ok(default.to_owned()),
        Some(n) if crate::config::is_local_path(&n) => Ok(n),
        Some(_) => Err(problem(
            StatusCode::BAD_REQUEST,
            ProblemType::InvalidNext,
            "Indirizzo di ritorno non valido",
            "Dopo l'accesso si può tornare solo a una pagina di questo servizio.",
        )),
    }
}

/// After a login: the new session's cookie, and on to `next` (303).
pub fn logged_in(state: &AppState, token: &str, next: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .cookie(state.sessions.cookie_for(token))
        .insert_header((header::LOCATION, next))
        .finish()
}

/// The query of an OpenID Connect callback (`/cie/callback`, `/auth/staff/callback`).
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A refused OpenID Connect login: the reason to the log, a plain message to the person.
pub fn refused(title: &str, slug: ProblemType, detail: &str, reason: &str) -> ApiError {
    tracing::warn!(reason, problem = %slug, "OIDC login refused");
    problem(StatusCode::FORBIDDEN, slug, title, detail)
}

/// Takes the pending authorization of a callback (single use) and checks it is in date and
/// comes back through the browser that started it.
pub async fn take_pending(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    value: Option<String>,
    kind: &'static str,
    title: &'static str,
) -> Result<PendingAuthorization, ApiError> {
    let Some(value) = value.filter(|s| !s.is_empty()) else {
        return Err(refused(
            title,
            ProblemType::LoginUnknown,
            RETRY,
            "callback without state",
        ));
    };
    let pending = blocking(state, move |conn, _| {
        oidc::take(conn, &value, kind).map_err(ApiError::from)
    })
    .await?
    .ok_or_else(|| {
        refused(
            title,
            ProblemType::LoginUnknown,
            "Questa risposta di accesso non corrisponde a un accesso in corso (forse è già stata \
             usata o è scaduta). Ripetere l'accesso.",
            "no pending authorization with this state (unknown, used or purged)",
        )
    })?;
    if !FlowCookie::matches(OIDC_FLOW.value(req).as_deref(), &pending.browser_binding) {
        return Err(other_browser(title));
    }
    if now() >= pending.expires_at {
        return Err(refused(
            title,
            ProblemType::LoginExpired,
            "La richiesta di accesso è scaduta. Ripetere l'accesso.",
            "the authorization request expired",
        ));
    }
    Ok(pending)
}

/// The refusal for an OpenID Provider's `error` answer (RFC 6749 §4.1.2.1).
pub fn provider_error(title: &str, error: &str, description: Option<&str>) -> ApiError {
    let detail = match error {
        "access_denied" => "Accesso annullato o consenso negato presso il gestore dell'identità.",
        "login_required" | "consent_required" | "interaction_required" => {
            "Il gestore dell'identità richiede di completare l'accesso. Ripetere l'accesso."
        }
        "temporarily_unavailable" | "server_error" => {
            "Il gestore dell'identità non è al momento disponibile. Riprovare più tardi."
        }
        _ => "Il gestore dell'identità non ha completato l'accesso. Ripetere l'accesso.",
    };
    refused(
        title,
        ProblemType::AuthenticationFailed,
        detail,
        &format!("OP error {error}: {}", description.unwrap_or_default()),
    )
}
