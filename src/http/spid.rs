//! The SPID endpoints: `GET /spid/login` (signed AuthnRequest by HTTP-Redirect),
//! `POST /spid/acs` (the IdP's Response), `POST /spid/logout` (SP-initiated single logout)
//! and `/spid/slo` (LogoutRequest from an IdP, or the LogoutResponse to ours; GET for the
//! HTTP-Redirect binding, POST for HTTP-POST). All exist only when `spid.enabled`.
//!
//! A failed login answers with a 4xx status and a plain Italian page (problem+json for API
//! clients); the precise reason goes to the log, never to the page.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::login::{self, Login, Person, Provider, SpidAssertion};
use crate::auth::random_hex;
use crate::auth::session::SessionManager;
use crate::auth::spid::logout::{self, Incoming};
use crate::auth::spid::messages::{self, LogoutSubject, STATUS_SUCCESS};
use crate::auth::spid::redirect::{signed_query, url_with_query};
use crate::auth::spid::response::{self, Expected, Refusal};
use crate::auth::spid::store::{self, PendingLogin, PendingLogout};
use crate::auth::spid::xml::new_id;
use crate::auth::spid::ServiceProvider;
use crate::auth::AuthLevel;
use crate::citizens::CitizenIdentity;
use crate::db::{now, DbConn};
use crate::domain::codice_fiscale::CodiceFiscale;
use crate::domain::email::Email;
use crate::http::extract::{blocking, AppState, CurrentEnte, MaybeSession};
use crate::http::flow::{
    logged_in, other_browser, parse_level, parse_next, problem, FlowCookie, RETRY, SPID_FLOW,
};
use crate::http::problem::ApiError;
use crate::http::problem::ProblemType;

pub(crate) const LOGIN_FAILED: &str = "Accesso con SPID non riuscito";

fn sp(state: &AppState) -> Result<&ServiceProvider, ApiError> {
    state.spid.as_ref().ok_or(ApiError::NotFound)
}

/// A refused login: the reason to the log, a plain message to the person.
fn refused(slug: ProblemType, detail: &str, reason: &str) -> ApiError {
    tracing::warn!(reason, problem = %slug, "SPID login refused");
    problem(StatusCode::FORBIDDEN, slug, LOGIN_FAILED, detail)
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    idp: Option<String>,
    next: Option<String>,
    level: Option<String>,
}

/// `GET /spid/login?idp=<entityID>[&next=<local path>][&level=1|2|3]` — sends the browser
/// to the IdP with a signed AuthnRequest; the request is stored for the ACS.
#[tracing::instrument(skip_all, fields(idp))]
pub async fn login(
    state: web::Data<AppState>,
    ente: CurrentEnte,
    req: HttpRequest,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, ApiError> {
    let sp = sp(&state)?;
    let q = q.into_inner();
    let idp_id = q.idp.as_deref().map(str::trim).unwrap_or_default();
    tracing::Span::current().record("idp", idp_id);
    let idp = sp.idps.get(idp_id).ok_or_else(|| {
        problem(
            StatusCode::BAD_REQUEST,
            ProblemType::SpidUnknownIdp,
            "Gestore dell'identità sconosciuto",
            "Il gestore dell'identità SPID indicato non è tra quelli accettati da questo servizio. \
             Sceglierne uno dall'elenco.",
        )
    })?;
    let Some(destination) = idp.sso_redirect.clone() else {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            ProblemType::SpidIdpUnsupported,
            "Gestore dell'identità non utilizzabile",
            "Il gestore dell'identità indicato non offre l'accesso con il metodo usato da \
             questo servizio (HTTP-Redirect).",
        ));
    };
    let level = parse_level(q.level.as_deref(), sp.default_level)?;
    let next = parse_next(q.next, &sp.after_login_path)?;
    let id = new_id()?;
    let issued = chrono::SubsecRound::trunc_subsecs(now(), 0);
    let xml = messages::authn_request(&id, issued, &destination, &sp.entity_id, level);
    let relay_state = random_hex(16)?;
    let query = signed_query("SAMLRequest", &xml, Some(&relay_state), &sp.key)?;
    let (browser_binding, flow_cookie) = SPID_FLOW.start(
        &req,
        state.settings.session.cookie_secure,
        sp.request_ttl.num_seconds(),
    )?;
    let pending = PendingLogin {
        browser_binding,
        id,
        relay_state,
        ente_id: ente.0.id,
        idp: idp.entity_id.clone(),
        level: level.get(),
        next_path: next,
        issue_instant: issued,
        expires_at: issued + sp.request_ttl,
    };
    blocking(&state, move |conn, _| {
        store::save_login(conn, &pending).map_err(ApiError::from)
    })
    .await?;
    tracing::info!(level = level.get(), "SPID AuthnRequest sent");
    Ok(HttpResponse::Found()
        .cookie(flow_cookie)
        .insert_header((header::LOCATION, url_with_query(&destination, &query)))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `POST /spid/acs` — the IdP's Response. On success the session is created (a new one: any
/// previous session of the browser ends) and the browser goes on to `next`.
#[tracing::instrument(skip_all, fields(request_id, idp))]
pub async fn acs(
    state: web::Data<AppState>,
    previous: MaybeSession,
    req: HttpRequest,
    form: web::Form<AcsForm>,
) -> Result<HttpResponse, ApiError> {
    sp(&state)?;
    let form = form.into_inner();
    let clean: String = form
        .saml_response
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let xml = openssl::base64::decode_block(&clean).map_err(|_| {
        tracing::warn!("SAMLResponse is not base64");
        problem(
            StatusCode::BAD_REQUEST,
            ProblemType::SpidResponseInvalid,
            LOGIN_FAILED,
            RETRY,
        )
    })?;

    let flow = SPID_FLOW.value(&req);
    let relay_state = form.relay_state;
    let (next, done) = blocking(&state, move |conn, st| {
        let sp = st.spid.as_ref().ok_or(ApiError::NotFound)?;
        verify(conn, sp, &xml, relay_state, flow)
    })
    .await?;

    // The assertion is recorded against replay in the same transaction as the session.
    let level = done.level;
    let token = blocking(&state, move |conn, st| {
        let (token, _) = login::complete(conn, &st.sessions, previous.0.as_ref(), done)?;
        tracing::info!(level = level.get(), "SPID login completed");
        Ok::<_, ApiError>(token)
    })
    .await?;
    Ok(logged_in(&state, &token, next))
}

/// Checks a Response against the login it answers (taken, so answered once whatever the
/// outcome): the browser, the date, the RelayState, the IdP's signature and conditions, and
/// the identity it carries. Returns where to go after the login, and the login to complete.
fn verify(
    conn: &mut DbConn,
    sp: &ServiceProvider,
    xml: &[u8],
    relay_state: Option<String>,
    flow: Option<String>,
) -> Result<(String, Login), ApiError> {
    let original = response::parse_response(xml)
        .map_err(|r| refused(ProblemType::SpidResponseInvalid, RETRY, &r.to_string()))?;
    let request_id = response::in_response_to(&original)
        .map_err(|r| refused(ProblemType::SpidResponseInvalid, RETRY, &r.to_string()))?;
    tracing::Span::current().record("request_id", request_id.as_str());
    let pending = store::take_login(conn, &request_id)?.ok_or_else(|| {
        refused(
            ProblemType::SpidLoginUnknown,
            "Questa risposta di accesso non corrisponde a un accesso in corso (forse è già \
             stata usata o è scaduta). Ripetere l'accesso.",
            "no pending AuthnRequest with this ID (unknown, answered or purged)",
        )
    })?;
    tracing::Span::current().record("idp", pending.idp.as_str());
    if !FlowCookie::matches(flow.as_deref(), &pending.browser_binding) {
        return Err(other_browser(LOGIN_FAILED));
    }
    let ts = now();
    if ts >= pending.expires_at {
        return Err(refused(
            ProblemType::SpidLoginExpired,
            "La richiesta di accesso è scaduta. Ripetere l'accesso.",
            "the AuthnRequest expired before its response arrived",
        ));
    }
    if relay_state.as_deref() != Some(pending.relay_state.as_str()) {
        return Err(refused(
            ProblemType::SpidResponseInvalid,
            RETRY,
            "RelayState does not match the request's",
        ));
    }
    let idp = sp.idps.get(&pending.idp).ok_or_else(|| {
        refused(
            ProblemType::SpidUnknownIdp,
            RETRY,
            "the request's IdP is no longer configured",
        )
    })?;
    let level = AuthLevel::try_from(pending.level).map_err(anyhow::Error::msg)?;
    let expected = Expected {
        sp_entity_id: &sp.entity_id,
        acs_url: &sp.acs_url,
        request_id: &pending.id,
        request_issued: pending.issue_instant,
        idp,
        level,
        now: ts,
        skew: sp.skew,
    };
    let login = response::validate_parsed(xml, &original, &expected).map_err(|r| match &r {
        Refusal::Status { code, .. } => {
            tracing::warn!(reason = %r, "SPID authentication failed at the IdP");
            problem(
                StatusCode::FORBIDDEN,
                ProblemType::SpidAuthenticationFailed,
                LOGIN_FAILED,
                response::status_message(*code),
            )
        }
        Refusal::Invalid(reason) => refused(ProblemType::SpidResponseInvalid, RETRY, reason),
    })?;
    let fiscal = login
        .attributes
        .get("fiscalNumber")
        .cloned()
        .unwrap_or_default();
    let codice_fiscale = CodiceFiscale::parse_spid(&fiscal).map_err(|e| {
        refused(
            ProblemType::SpidIdentityInvalid,
            "Il codice fiscale ricevuto dal gestore dell'identità non è valido: non è \
             possibile completare l'accesso.",
            &format!("fiscalNumber {fiscal:?}: {e}"),
        )
    })?;
    let email = login
        .attributes
        .get("email")
        .and_then(|e| match Email::parse(e) {
            Ok(e) => Some(e),
            Err(err) => {
                tracing::warn!(error = %err, "SPID e-mail attribute not usable; ignored");
                None
            }
        });
    let identity = CitizenIdentity {
        codice_fiscale,
        given_name: login.attributes.get("name").cloned(),
        family_name: login.attributes.get("familyName").cloned(),
        email,
    };
    let done = Login {
        ente_id: pending.ente_id,
        person: Person::Citizen(identity),
        level: login.level,
        provider: Provider::Spid(SpidAssertion {
            idp: pending.idp,
            assertion_id: login.assertion_id,
            assertion_expires: login.assertion_expires,
            logout: LogoutSubject {
                name_id: login.name_id,
                name_qualifier: login.name_qualifier,
                session_index: login.session_index,
            },
        }),
    };
    Ok((pending.next_path, done))
}

/// `POST /spid/logout` — ends the session here at once and, for a SPID session, sends the
/// browser to the IdP with a signed LogoutRequest; the IdP's LogoutResponse comes back to
/// `/spid/slo`.
#[tracing::instrument(skip_all)]
pub async fn logout(
    state: web::Data<AppState>,
    session: MaybeSession,
) -> Result<HttpResponse, ApiError> {
    let sp = sp(&state)?;
    let after = sp.after_logout_path.clone();
    let Some(session) = session.0 else {
        return Ok(see_other(&state, &after));
    };
    let ttl = sp.request_ttl;
    let location = blocking(
        &state,
        move |conn, st| -> Result<Option<String>, ApiError> {
            let sp = st.spid.as_ref().ok_or(ApiError::NotFound)?;
            let subject = store::session_subject(conn, &session.id_hash)?;
            SessionManager::logout(conn, &session, "spid")?;
            tracing::info!("session ended by logout");
            let Some((idp_id, subject)) = subject else {
                return Ok(None);
            };
            let Some(slo) = sp.idps.get(&idp_id).and_then(|i| i.slo_redirect()) else {
                tracing::warn!(
                    idp = idp_id,
                    "the IdP has no HTTP-Redirect single logout endpoint"
                );
                return Ok(None);
            };
            let id = new_id()?;
            let relay_state = random_hex(16)?;
            let ts = chrono::SubsecRound::trunc_subsecs(now(), 0);
            let xml = messages::logout_request(&id, ts, &slo, &sp.entity_id, &subject);
            let query = signed_query("SAMLRequest", &xml, Some(&relay_state), &sp.key)?;
            store::save_logout(
                conn,
                &PendingLogout {
                    id,
                    relay_state,
                    idp: idp_id.clone(),
                    next_path: sp.after_logout_path.clone(),
                    expires_at: ts + ttl,
                },
            )?;
            tracing::info!(idp = idp_id, "SPID LogoutRequest sent");
            Ok(Some(url_with_query(&slo, &query)))
        },
    )
    .await?;
    Ok(match location {
        Some(url) => HttpResponse::Found()
            .cookie(state.sessions.removal_cookie())
            .insert_header((header::LOCATION, url))
            .finish(),
        None => see_other(&state, &after),
    })
}

fn see_other(state: &AppState, location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .cookie(state.sessions.removal_cookie())
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

#[derive(Debug, Deserialize)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn slo_refused(reason: &str) -> ApiError {
    tracing::warn!(reason, "SPID logout message refused");
    problem(
        StatusCode::FORBIDDEN,
        ProblemType::SpidLogoutInvalid,
        "Uscita non riuscita",
        "Il messaggio di uscita ricevuto dal gestore dell'identità non è valido. Per \
         sicurezza chiudere il browser.",
    )
}

/// `GET /spid/slo` — a logout message by HTTP-Redirect.
pub async fn slo_redirect_binding(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    sp(&state)?;
    let query = req.query_string().to_owned();
    handle_slo(state, move |ctx| logout::read_redirect(&query, ctx)).await
}

/// `POST /spid/slo` — a logout message by HTTP-POST.
pub async fn slo_post_binding(
    state: web::Data<AppState>,
    form: web::Form<SloForm>,
) -> Result<HttpResponse, ApiError> {
    sp(&state)?;
    let form = form.into_inner();
    let b64 = match (form.saml_request, form.saml_response) {
        (Some(m), None) | (None, Some(m)) => m,
        _ => {
            return Err(slo_refused(
                "exactly one of SAMLRequest and SAMLResponse is required",
            ))
        }
    };
    let relay = form.relay_state;
    handle_slo(state, move |ctx| logout::read_post(&b64, relay, ctx)).await
}

async fn handle_slo<F>(state: web::Data<AppState>, read: F) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&logout::Context<'_>) -> Result<Incoming, String> + Send + 'static,
{
    enum Outcome {
        /// Send the browser there (our LogoutResponse to the IdP, or the page after logout).
        Redirect(u16, String),
    }
    let outcome = blocking(&state, move |conn, st| -> Result<Outcome, ApiError> {
        let sp = st.spid.as_ref().ok_or(ApiError::NotFound)?;
        let ts = now();
        let ctx = logout::Context {
            registry: &sp.idps,
            slo_url: &sp.slo_url,
            now: ts,
            skew: sp.skew,
            max_age: sp.request_ttl,
        };
        match read(&ctx).map_err(|e| slo_refused(&e))? {
            Incoming::Request(r) => {
                let ended = store::end_sessions(conn, &r.idp, &r.name_id, &r.session_indexes)?;
                tracing::info!(
                    idp = r.idp,
                    sessions = ended,
                    "SPID logout requested by the IdP"
                );
                let idp = sp.idps.get(&r.idp).ok_or(ApiError::NotFound)?;
                let slo = idp
                    .slo_redirect()
                    .ok_or_else(|| slo_refused("the IdP has no HTTP-Redirect logout endpoint"))?;
                let xml = messages::logout_response(
                    &new_id()?,
                    chrono::SubsecRound::trunc_subsecs(ts, 0),
                    &slo,
                    &r.id,
                    &sp.entity_id,
                    STATUS_SUCCESS,
                );
                let query = signed_query("SAMLResponse", &xml, r.relay_state.as_deref(), &sp.key)?;
                Ok(Outcome::Redirect(302, url_with_query(&slo, &query)))
            }
            Incoming::Response(r) => {
                let pending = store::take_logout(conn, &r.in_response_to)?
                    .ok_or_else(|| slo_refused("LogoutResponse to no pending LogoutRequest"))?;
                if pending.idp != r.idp {
                    return Err(slo_refused("LogoutResponse from another IdP"));
                }
                if r.relay_state.as_deref() != Some(pending.relay_state.as_str()) {
                    return Err(slo_refused("RelayState does not match the LogoutRequest's"));
                }
                if ts >= pending.expires_at {
                    return Err(slo_refused("LogoutResponse after the request expired"));
                }
                if r.success {
                    tracing::info!(idp = r.idp, "SPID single logout completed");
                } else {
                    // The session here is already gone; the IdP's may live on.
                    tracing::warn!(idp = r.idp, status = r.status, "the IdP did not log out");
                }
                Ok(Outcome::Redirect(303, pending.next_path))
            }
        }
    })
    .await?;
    let Outcome::Redirect(code, location) = outcome;
    let mut res = if code == 302 {
        HttpResponse::Found()
    } else {
        HttpResponse::SeeOther()
    };
    Ok(res
        .cookie(state.sessions.removal_cookie())
        .insert_header((header::LOCATION, location))
        .finish())
}
