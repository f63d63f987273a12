//! The OpenID Connect endpoints: CIE (`/.well-known/openid-federation`, `/cie/login`,
//! `/cie/callback`, `/cie/logout`, `/api/v1/auth/cie/providers`) and staff single sign-on
//! (`/auth/staff/login`, `/auth/staff/callback`). A refused login answers 4xx (502 when the
//! OP cannot be reached or trusted) with a plain Italian page or problem+json; the reason is
//! in the log.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::cie::{self, federation, CieRp, Expected};
use crate::auth::oidc::{self, PendingAuthorization};
use crate::auth::session::{NewSession, SessionManager, Subject};
use crate::auth::{AuthLevel, AuthMethod};
use crate::citizens::{self, CitizenIdentity};
use crate::db::now;
use crate::domain::codice_fiscale::CodiceFiscale;
use crate::domain::email::Email;
use crate::http::extract::{blocking, AppState, CurrentEnte, MaybeSession};
use crate::http::flow::{
    other_browser, parse_level, parse_next, problem, FlowCookie, OIDC_FLOW, RETRY,
};
use crate::http::problem::ApiError;
use crate::http::problem::ProblemType;
use crate::http::spid::logged_in;
use crate::org;

const CIE_FAILED: &str = "Accesso con CIE non riuscito";
const STAFF_FAILED: &str = "Accesso degli operatori non riuscito";

fn refused(title: &str, slug: ProblemType, detail: &str, reason: &str) -> ApiError {
    tracing::warn!(reason, problem = %slug, "OIDC login refused");
    problem(StatusCode::FORBIDDEN, slug, title, detail)
}

fn rp(state: &AppState) -> Result<&CieRp, ApiError> {
    state.cie.as_ref().ok_or(ApiError::NotFound)
}

fn untrusted(reason: &str) -> ApiError {
    tracing::warn!(reason, "CIE provider not usable");
    problem(
        StatusCode::BAD_GATEWAY,
        ProblemType::CieProviderUntrusted,
        CIE_FAILED,
        "Il gestore dell'identità CIE non è raggiungibile o non risulta affidabile in questo \
         momento. Riprovare più tardi.",
    )
}

/// `GET /.well-known/openid-federation` — our signed entity configuration.
pub async fn entity_configuration(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rp = rp(&state)?;
    let jwt = federation::entity_configuration(&rp.description, &rp.keys)?;
    Ok(HttpResponse::Ok()
        .content_type(federation::EC_CONTENT_TYPE)
        .body(jwt))
}

/// `GET /api/v1/auth/cie/providers` — the OPs offered for "Entra con CIE".
pub async fn providers(state: web::Data<AppState>) -> HttpResponse {
    let list = state
        .cie
        .as_ref()
        .map(|rp| rp.providers.clone())
        .unwrap_or_default();
    HttpResponse::Ok().json(crate::auth::view::CieProviders { providers: list })
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    op: Option<String>,
    next: Option<String>,
    level: Option<String>,
}

/// `GET /cie/login?[op=<entity id>][&next=…][&level=1|2|3]` — resolves the OP's trust chain
/// and sends the browser to its authorization endpoint with a signed request object.
#[tracing::instrument(skip_all, fields(op))]
pub async fn login(
    state: web::Data<AppState>,
    ente: CurrentEnte,
    req: HttpRequest,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, ApiError> {
    let rp = rp(&state)?;
    let q = q.into_inner();
    let op_id = match q.op.as_deref().map(|o| o.trim().trim_end_matches('/')) {
        Some(o) if !o.is_empty() => o.to_owned(),
        _ if rp.providers.len() == 1 => rp.providers[0].clone(),
        _ => String::new(),
    };
    tracing::Span::current().record("op", op_id.as_str());
    if !rp.providers.contains(&op_id) {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            ProblemType::CieUnknownProvider,
            "Gestore dell'identità sconosciuto",
            "Il gestore dell'identità indicato non è tra quelli accettati da questo servizio.",
        ));
    }
    let level = parse_level(q.level.as_deref(), rp.default_level)?;
    let next = parse_next(q.next, &rp.after_login_path)?;
    let op = rp
        .resolver
        .resolve(&op_id)
        .await
        .map_err(|e| untrusted(&format!("{e:#}")))?;
    let (state_value, nonce, verifier, challenge) = oidc::fresh_secrets();
    let url = rp
        .authorization_url(&op, level, &state_value, &nonce, &challenge)
        .map_err(|e| untrusted(&format!("{e:#}")))?;
    let (browser_binding, flow_cookie) = OIDC_FLOW.start(
        &req,
        state.settings.session.cookie_secure,
        rp.request_ttl_secs,
    )?;
    let pending = PendingAuthorization {
        browser_binding,
        state: state_value,
        kind: "cie".into(),
        ente_id: ente.0.id,
        provider: op_id,
        nonce,
        code_verifier: verifier,
        level: level.get(),
        next_path: next,
        expires_at: now() + chrono::Duration::seconds(rp.request_ttl_secs),
    };
    blocking(&state, move |conn, _| {
        oidc::save(conn, &pending).map_err(ApiError::from)
    })
    .await?;
    tracing::info!(level = level.get(), "CIE authorization request sent");
    Ok(HttpResponse::Found()
        .cookie(flow_cookie)
        .insert_header((header::LOCATION, url))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Takes the pending authorization of a callback (single use) and checks it is in date.
async fn take_pending(
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

fn provider_error(title: &str, error: &str, description: Option<&str>) -> ApiError {
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

/// `GET /cie/callback` — the OP's answer: `state` and `iss` checked, code exchanged with
/// `private_key_jwt`, ID token and userinfo verified, then the citizen session.
#[tracing::instrument(skip_all, fields(op))]
pub async fn callback(
    state: web::Data<AppState>,
    previous: MaybeSession,
    req: HttpRequest,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let rp = rp(&state)?;
    let q = q.into_inner();
    let pending = take_pending(&state, &req, q.state.clone(), "cie", CIE_FAILED).await?;
    tracing::Span::current().record("op", pending.provider.as_str());
    if q.iss.as_deref().map(|i| i.trim_end_matches('/')) != Some(pending.provider.as_str()) {
        return Err(refused(
            CIE_FAILED,
            ProblemType::CieResponseInvalid,
            RETRY,
            &format!(
                "callback iss {:?} is not the OP {}",
                q.iss, pending.provider
            ),
        ));
    }
    if let Some(error) = q.error.as_deref() {
        return Err(provider_error(
            CIE_FAILED,
            error,
            q.error_description.as_deref(),
        ));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(refused(
            CIE_FAILED,
            ProblemType::CieResponseInvalid,
            RETRY,
            "callback without code",
        ));
    };
    let op = rp
        .resolver
        .resolve(&pending.provider)
        .await
        .map_err(|e| untrusted(&format!("{e:#}")))?;
    let invalid =
        |reason: String| refused(CIE_FAILED, ProblemType::CieResponseInvalid, RETRY, &reason);
    let (access_token, id_token) = rp
        .token(&op, &code, &pending.code_verifier)
        .await
        .map_err(|e| invalid(format!("{e:#}")))?;
    let op_jwks = op.jwks().map_err(|e| untrusted(&format!("{e:#}")))?;
    let level = AuthLevel::try_from(pending.level).map_err(anyhow::Error::msg)?;
    let expected = Expected {
        issuer: &op.entity_id,
        client_id: rp.client_id(),
        nonce: &pending.nonce,
        level,
        now: federation::unix_now(),
        skew: rp.skew_secs,
    };
    let (id_claims, level) = cie::check_id_token(&id_token, &op_jwks, &expected, &access_token)
        .map_err(|e| invalid(format!("{e:#}")))?;
    let sub = id_claims
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_owned();
    let body = rp
        .userinfo(&op, &access_token)
        .await
        .map_err(|e| invalid(format!("{e:#}")))?;
    let userinfo = cie::open_userinfo(&body, &rp.keys, &op_jwks, &sub)
        .map_err(|e| invalid(format!("{e:#}")))?;
    let who = cie::identity(&id_claims, &userinfo, level).map_err(|e| invalid(format!("{e:#}")))?;
    let codice_fiscale = CodiceFiscale::parse_spid(&who.fiscal_number).map_err(|e| {
        refused(
            CIE_FAILED,
            ProblemType::CieIdentityInvalid,
            "Il codice fiscale ricevuto dal gestore dell'identità non è valido: non è possibile \
             completare l'accesso.",
            &format!("fiscal_number {:?}: {e}", who.fiscal_number),
        )
    })?;
    let email = who.email.as_deref().and_then(|e| Email::parse(e).ok());
    let identity = CitizenIdentity {
        codice_fiscale,
        given_name: who.given_name.clone(),
        family_name: who.family_name.clone(),
        email,
    };
    let next = pending.next_path.clone();
    let provider = pending.provider.clone();
    let token = blocking(&state, move |conn, st| -> Result<String, ApiError> {
        crate::db::write_tx(conn, |conn| {
            let citizen = citizens::upsert(conn, pending.ente_id, &identity)?;
            let (token, session) = st.sessions.replace(
                conn,
                previous.0.as_ref(),
                &NewSession {
                    ente_id: pending.ente_id,
                    subject: Subject::Citizen(citizen.id),
                    method: AuthMethod::Cie,
                    level: who.level,
                    idp: Some(provider.clone()),
                },
            )?;
            oidc::save_cie_session(
                conn,
                &session.id_hash,
                &provider,
                &who.subject,
                &access_token,
            )?;
            tracing::info!(level = who.level.get(), "CIE login completed");
            Ok(token)
        })
    })
    .await?;
    Ok(logged_in(&state, &token, next))
}

/// `POST /cie/logout` — ends the session here and revokes its access token at the OP
/// (RFC 7009 with `private_key_jwt`); a failed revocation is logged, the logout stands.
#[tracing::instrument(skip_all)]
pub async fn logout(
    state: web::Data<AppState>,
    session: MaybeSession,
) -> Result<HttpResponse, ApiError> {
    let rp = rp(&state)?;
    let after = rp.after_logout_path.clone();
    if let Some(session) = session.0 {
        let found = blocking(&state, move |conn, _| -> Result<_, ApiError> {
            let found = oidc::cie_session(conn, &session.id_hash)?;
            SessionManager::destroy(conn, &session.id_hash)?;
            Ok(found)
        })
        .await?;
        tracing::info!("session ended by logout");
        if let Some((provider, access_token)) = found {
            let outcome = match rp.resolver.resolve(&provider).await {
                Ok(op) => rp.revoke(&op, &access_token).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => tracing::info!(op = provider, "CIE access token revoked"),
                Err(e) => {
                    tracing::warn!(op = provider, error = %format!("{e:#}"), "CIE token revocation failed")
                }
            }
        }
    }
    Ok(HttpResponse::SeeOther()
        .cookie(state.sessions.removal_cookie())
        .insert_header((header::LOCATION, after))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct StaffLoginQuery {
    next: Option<String>,
}

/// `GET /auth/staff/login[?next=…]` — staff single sign-on at the ente's OpenID Provider.
#[tracing::instrument(skip_all)]
pub async fn staff_login(
    state: web::Data<AppState>,
    ente: CurrentEnte,
    req: HttpRequest,
    q: web::Query<StaffLoginQuery>,
) -> Result<HttpResponse, ApiError> {
    let sso = state.staff_sso.as_ref().ok_or(ApiError::NotFound)?;
    let next = parse_next(q.into_inner().next, &sso.after_login_path)?;
    let (url, state_value, nonce, verifier) = sso.start().await.map_err(|e| {
        tracing::warn!(error = %format!("{e:#}"), "staff OpenID Provider not usable");
        problem(
            StatusCode::BAD_GATEWAY,
            ProblemType::StaffSsoUnavailable,
            STAFF_FAILED,
            "Il servizio di accesso dell'ente non è raggiungibile. Riprovare più tardi.",
        )
    })?;
    let (browser_binding, flow_cookie) = OIDC_FLOW.start(
        &req,
        state.settings.session.cookie_secure,
        sso.request_ttl_secs,
    )?;
    let pending = PendingAuthorization {
        browser_binding,
        state: state_value,
        kind: "staff".into(),
        ente_id: ente.0.id,
        provider: sso.issuer.clone(),
        nonce,
        code_verifier: verifier,
        level: AuthLevel::L2.get(),
        next_path: next,
        expires_at: now() + chrono::Duration::seconds(sso.request_ttl_secs),
    };
    blocking(&state, move |conn, _| {
        oidc::save(conn, &pending).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Found()
        .cookie(flow_cookie)
        .insert_header((header::LOCATION, url))
        .finish())
}

/// `GET /auth/staff/callback` — code exchanged, ID token verified, the staff account found by
/// the configured claim; unknown or inactive accounts are refused.
#[tracing::instrument(skip_all)]
pub async fn staff_callback(
    state: web::Data<AppState>,
    previous: MaybeSession,
    req: HttpRequest,
    q: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let sso = state.staff_sso.as_ref().ok_or(ApiError::NotFound)?;
    let q = q.into_inner();
    let pending = take_pending(&state, &req, q.state.clone(), "staff", STAFF_FAILED).await?;
    if let Some(iss) = q.iss.as_deref() {
        if iss.trim_end_matches('/') != sso.issuer.trim_end_matches('/') {
            return Err(refused(
                STAFF_FAILED,
                ProblemType::StaffResponseInvalid,
                RETRY,
                "callback iss is not the OP",
            ));
        }
    }
    if let Some(error) = q.error.as_deref() {
        return Err(provider_error(
            STAFF_FAILED,
            error,
            q.error_description.as_deref(),
        ));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(refused(
            STAFF_FAILED,
            ProblemType::StaffResponseInvalid,
            RETRY,
            "callback without code",
        ));
    };
    let who = sso
        .finish(&code, &pending.code_verifier, &pending.nonce)
        .await
        .map_err(|e| {
            refused(
                STAFF_FAILED,
                ProblemType::StaffResponseInvalid,
                RETRY,
                &format!("{e:#}"),
            )
        })?;
    let by_email = sso.match_claim == "email";
    let next = pending.next_path.clone();
    let token = blocking(&state, move |conn, st| -> Result<String, ApiError> {
        let user = if by_email {
            org::find_staff_by_email(conn, pending.ente_id, &who.matched_value)?
        } else {
            org::find_staff_by_username(conn, pending.ente_id, &who.matched_value)?
        }
        .filter(|u| u.active)
        .ok_or_else(|| {
            refused(
                STAFF_FAILED,
                ProblemType::StaffUnknown,
                "Questo account non corrisponde a un operatore attivo dell'ente. Rivolgersi \
                 all'amministratore del servizio.",
                &format!("no active staff user matches {}", who.matched_value),
            )
        })?;
        crate::db::write_tx(conn, |conn| {
            let (token, _) = st.sessions.replace(
                conn,
                previous.0.as_ref(),
                &NewSession {
                    ente_id: pending.ente_id,
                    subject: Subject::Staff(user.id),
                    method: AuthMethod::StaffSso,
                    level: AuthLevel::L2,
                    idp: Some(pending.provider.clone()),
                },
            )?;
            tracing::info!(staff = user.username, "staff single sign-on completed");
            Ok::<_, ApiError>(token)
        })
    })
    .await?;
    Ok(logged_in(&state, &token, next))
}
