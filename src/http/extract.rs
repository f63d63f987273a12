//! Request extractors: the ente a request is for, and the session it carries.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::auth::cie::CieRp;
use crate::auth::session::{Session, SessionManager, Subject};
use crate::auth::spid::ServiceProvider;
use crate::auth::staff_sso::StaffSso;
use crate::catalog::forms::FormCache;
use crate::config::Settings;
use crate::db::Db;
use crate::http::problem::ApiError;
use crate::instances::attachments::Limits;
use crate::instances::CitizenCtx;
use crate::org::{self, Ente};
use crate::storage::BlobStore;

/// Everything a handler may need, shared by all workers. Built by `startup::build_state`
/// (the composition root) from its parts; handlers only read it.
#[derive(Debug)]
pub struct AppState {
    pub db: Db,
    pub sessions: SessionManager,
    pub settings: Arc<Settings>,
    pub forms: Arc<FormCache>,
    pub store: Arc<dyn BlobStore>,
    pub limits: Limits,
    /// The SPID service provider (metadata, keys, identity providers) when SPID is enabled.
    pub spid: Option<ServiceProvider>,
    /// The CIE relying party when CIE is enabled.
    pub cie: Option<CieRp>,
    /// Staff single sign-on when enabled.
    pub staff_sso: Option<StaffSso>,
    /// Enti found by code (start empty: `EnteCache::default()`).
    pub enti: EnteCache,
    /// The clock of everything date-dependent (terms, daily jobs); tests move it.
    pub clock: Arc<crate::clock::Clock>,
    /// This application's counters (requests, logins), scraped at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Enti by code, filled as requests find them (see [`AppState::ente_by_code`]).
#[derive(Debug, Default)]
pub struct EnteCache(RwLock<HashMap<String, Ente>>);

impl AppState {
    /// The ente with this code. Enti are cached once found (their id and code never
    /// change); unknown codes are not cached, so an ente loaded later is seen at once.
    pub async fn ente_by_code(&self, code: &str) -> Result<Ente, ApiError> {
        if let Some(e) = self.enti.0.read().ok().and_then(|m| m.get(code).cloned()) {
            return Ok(e);
        }
        let owned = code.to_owned();
        let found = self
            .db
            .run(move |conn| org::find_ente_by_code(conn, &owned).map_err(ApiError::from))
            .await?
            .ok_or(ApiError::NotFound)?;
        if let Ok(mut m) = self.enti.0.write() {
            m.insert(code.to_owned(), found.clone());
        }
        Ok(found)
    }

    /// The ente served on a host name: `tenancy.hosts`, else `tenancy.default_ente`.
    pub async fn ente_for_host(&self, host: &str) -> Result<Ente, ApiError> {
        let code = self
            .settings
            .tenancy
            .ente_for_host(host)
            .ok_or(ApiError::NotFound)?;
        self.ente_by_code(code.as_str()).await
    }

    /// Forget cached enti (after a bundle load changed names).
    pub fn clear_ente_cache(&self) {
        if let Ok(mut m) = self.enti.0.write() {
            m.clear();
        }
    }
}

/// Runs blocking work with a database connection and the shared state, off the async
/// executor, and maps its error to the API's. What every handler that touches the database
/// does.
pub async fn blocking<T, E, F>(state: &web::Data<AppState>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn, &AppState) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<crate::db::DbError> + Send + 'static,
    ApiError: From<E>,
{
    let st = state.clone();
    state
        .db
        .run(move |conn| f(conn, &st))
        .await
        .map_err(ApiError::from)
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))
}

/// The ente a request is for, from its host name.
#[derive(Debug, Clone)]
pub struct CurrentEnte(pub Ente);

impl FromRequest for CurrentEnte {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(e) = req.extensions().get::<CurrentEnte>() {
            let e = e.clone();
            return Box::pin(async move { Ok(e) });
        }
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let ente = CurrentEnte(state.ente_for_host(&host).await?);
            req.extensions_mut().insert(ente.clone());
            Ok(ente)
        })
    }
}

/// The request's session, if it carries a valid one for this ente.
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<Session>);

impl FromRequest for MaybeSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Some(s) = req.extensions().get::<MaybeSession>() {
            let s = s.clone();
            return Box::pin(async move { Ok(s) });
        }
        let ente = CurrentEnte::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let ente = ente.await?.0;
            let token = req
                .cookie(state.sessions.cookie_name())
                .and_then(|c| state.sessions.token_from_cookie(c.value()));
            let session = match token {
                None => None,
                Some(token) => {
                    let st = state.clone();
                    st.db
                        .run(move |conn| {
                            state.sessions.lookup(conn, &token).map_err(ApiError::from)
                        })
                        .await?
                }
            };
            // A session opened on another ente's host is not valid here (isolation).
            let session = MaybeSession(session.filter(|s| s.ente_id == ente.id));
            req.extensions_mut().insert(session.clone());
            Ok(session)
        })
    }
}

/// A request that must be logged in; otherwise 401.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Session);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fut = MaybeSession::from_request(req, payload);
        Box::pin(async move {
            fut.await?
                .0
                .map(Authenticated)
                .ok_or(ApiError::Unauthorized)
        })
    }
}

/// Extracts something from the logged-in session, or refuses the request.
fn from_session<T: 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    pick: fn(&Session) -> Result<T, ApiError>,
) -> LocalBoxFuture<'static, Result<T, ApiError>> {
    let fut = Authenticated::from_request(req, payload);
    Box::pin(async move { pick(&fut.await?.0) })
}

/// A request from a logged-in citizen (staff sessions are refused: 403).
#[derive(Debug, Clone)]
pub struct Citizen(pub CitizenCtx);

impl FromRequest for Citizen {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        from_session(req, payload, |s| match s.subject {
            Subject::Citizen(citizen_id) => Ok(Citizen(CitizenCtx {
                ente_id: s.ente_id,
                citizen_id,
                level: s.level,
            })),
            Subject::Staff(_) => Err(ApiError::Forbidden(
                "Questa funzione è riservata ai cittadini.".into(),
            )),
        })
    }
}

/// A request from logged-in staff (citizen sessions are refused: 403).
#[derive(Debug, Clone, Copy)]
pub struct Staff {
    pub ente_id: i64,
    pub staff_user_id: i64,
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        from_session(req, payload, |s| match s.subject {
            Subject::Staff(staff_user_id) => Ok(Staff {
                ente_id: s.ente_id,
                staff_user_id,
            }),
            Subject::Citizen(_) => Err(ApiError::Forbidden(
                "Questa funzione è riservata al personale dell'ente.".into(),
            )),
        })
    }
}

/// A request from another system of the ente, carrying a valid API token
/// (`Authorization: Bearer spt_…`) issued by this ente. Each handler then asks for the one
/// scope it needs ([`ApiClient::require`]).
#[derive(Debug, Clone)]
pub struct ApiClient(pub crate::tokens::Principal);

impl ApiClient {
    /// 403 `insufficient-scope` unless the token has `scope`.
    pub fn require(&self, scope: crate::tokens::Scope) -> Result<(), ApiError> {
        if self.0.may(scope) {
            Ok(())
        } else {
            tracing::info!(token = %self.0.token_id, scope = scope.as_str(), "API token lacks the scope");
            Err(crate::http::problem::insufficient_scope(scope))
        }
    }
}

/// The secret of an `Authorization: Bearer …` header (scheme case-insensitive, RFC 6750).
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then(|| secret.to_owned())
}

impl FromRequest for ApiClient {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let ente = CurrentEnte::from_request(req, payload);
        let secret = bearer(req);
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let ente = ente.await?.0;
            let Some(secret) = secret else {
                tracing::info!("API request without a bearer token");
                return Err(crate::http::problem::invalid_token());
            };
            let now = state.clock.now();
            let what = format!("{} {}", req.method(), req.path());
            let principal = state
                .db
                .run(move |conn| {
                    let p = crate::tokens::authenticate(conn, ente.id, &secret, now)
                        .map_err(ApiError::from)?;
                    crate::audit::record_detached(
                        conn,
                        crate::audit::Entry::new(
                            ente.id,
                            crate::audit::Actor::Token(p.token_id.clone()),
                            crate::audit::Action::TokenUsed,
                            "token",
                            p.token_id.clone(),
                        )
                        .with(serde_json::json!({ "request": what })),
                    );
                    Ok::<_, ApiError>(p)
                })
                .await?;
            tracing::Span::current().record("token", principal.token_id.as_str());
            Ok(ApiClient(principal))
        })
    }
}
