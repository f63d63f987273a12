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

use crate::http::problem::ProblemType;
use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::HttpRequest;

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
pub fn other_browser(title: &str) -> crate::http::problem::ApiError {
    tracing::warn!("login answer arrived through a browser that did not start it");
    crate::http::problem::ApiError::Problem(Box::new(crate::http::problem::Problem::new(
        actix_web::http::StatusCode::FORBIDDEN,
        ProblemType::LoginBrowserMismatch,
        title,
        "L'accesso è stato avviato da un altro browser, oppure questo browser non conserva i \
         cookie. Ripetere l'accesso da questo browser, con i cookie abilitati.",
    )))
}

/// A problem of a login endpoint.
pub fn problem(
    status: actix_web::http::StatusCode,
    kind: ProblemType,
    title: &str,
    detail: &str,
) -> crate::http::problem::ApiError {
    crate::http::problem::ApiError::Problem(Box::new(crate::http::problem::Problem::new(
        status, kind, title, detail,
    )))
}

/// What login pages show when an answer cannot be used.
pub const RETRY: &str = "La risposta del gestore dell'identità non è valida. Ripetere \
                         l'accesso; se il problema persiste, comunicare all'ente il codice \
                         della richiesta.";

/// The `level` of a login link (1–3), or the default.
pub fn parse_level(
    raw: Option<&str>,
    default: crate::auth::AuthLevel,
) -> Result<crate::auth::AuthLevel, crate::http::problem::ApiError> {
    match raw {
        None | Some("") => Ok(default),
        Some(l) => l
            .parse::<i32>()
            .ok()
            .and_then(|l| crate::auth::AuthLevel::try_from(l).ok())
            .ok_or_else(|| {
                problem(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    ProblemType::InvalidLevel,
                    "Livello di accesso non valido",
                    "Il livello richiesto deve essere 1, 2 o 3.",
                )
            }),
    }
}

/// The `next` of a login link: a local path only (no open redirect), or the default.
pub fn parse_next(
    raw: Option<String>,
    default: &str,
) -> Result<String, crate::http::problem::ApiError> {
    match raw {
        None => Ok(default.to_owned()),
        Some(n) if crate::config::is_local_path(&n) => Ok(n),
        Some(_) => Err(problem(
            actix_web::http::StatusCode::BAD_REQUEST,
            ProblemType::InvalidNext,
            "Indirizzo di ritorno non valido",
            "Dopo l'accesso si può tornare solo a una pagina di questo servizio.",
        )),
    }
}
