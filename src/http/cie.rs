//! The CIE endpoints (OpenID Connect Federation): `/.well-known/openid-federation`,
//! `/cie/login`, `/cie/callback`, `/cie/logout` and `/api/v1/auth/cie/providers`. A refused
//! login answers 4xx (502 when the OP cannot be reached or trusted) with a plain Italian page
//! or problem+json; the reason is in the log. Staff single sign-on, the other OpenID Connect
//! login, is in `http::staff_sso`; what the two share is in `http::flow`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::cie::{self, federation, CieRp, Expected};
use crate::auth::login::{self, CieGrant, Login, Person, Provider};
use crate::auth::oidc::{self, PendingAuthorization};
use crate::auth::session::SessionManager;
use crate::auth::AuthLevel;
use crate::citizens::CitizenIdentity;
use crate::db::now;
use crate::domain::codice_fiscale::CodiceFiscale;
use crate::domain::email::Email;
use crate::http::extract::{blocking, AppState, CurrentEnte, MaybeSession};
use crate::http::flow::{
    logged_in, parse_level, parse_next, problem, provider_error, refused, take_pending,
    CallbackQuery, OIDC_FLOW, RETRY,
};
use crate::http::problem::ApiError;
use crate::http::problem::ProblemType;

const CIE_FAILED: &str = "Accesso con CIE non riuscito";

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
        given_name: who.given_name,
        family_name: who.family_name,
        email,
    };
    let level = who.level;
    let done = Login {
        ente_id: pending.ente_id,
        person: Person::Citizen(identity),
        level,
        provider: Provider::Cie(CieGrant {
            provider: pending.provider,
            subject: who.subject,
            access_token,
        }),
    };
    let next = pending.next_path;
    let token = blocking(&state, move |conn, st| {
        let (token, _) = login::complete(conn, &st.sessions, previous.0.as_ref(), done)?;
        tracing::info!(level = level.get(), "CIE login completed");
        Ok::<_, ApiError>(token)
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
            SessionManager::logout(conn, &session, "cie")?;
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
