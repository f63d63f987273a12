//! Staff single sign-on at the ente's OpenID Provider: `/auth/staff/login` and
//! `/auth/staff/callback` (exist only when `staff_sso.enabled`). The staff account is found
//! by the configured claim; unknown or inactive accounts are refused. A refused login
//! answers 4xx (502 when the OP cannot be reached) with a plain Italian page or
//! problem+json; the reason is in the log.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::login::{self, Login, Person, Provider};
use crate::auth::oidc::{self, PendingAuthorization};
use crate::auth::AuthLevel;
use crate::db::now;
use crate::http::extract::{blocking, AppState, CurrentEnte, MaybeSession};
use crate::http::flow::{
    logged_in, parse_next, problem, provider_error, refused, take_pending, CallbackQuery,
    OIDC_FLOW, RETRY,
};
use crate::http::problem::{ApiError, ProblemType};
use crate::org;

const STAFF_FAILED: &str = "Accesso degli operatori non riuscito";

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
    let issuer = pending.provider;
    let next = pending.next_path;
    let ente_id = pending.ente_id;
    let token = blocking(&state, move |conn, st| -> Result<String, ApiError> {
        let user = if by_email {
            org::find_staff_by_email(conn, ente_id, &who.matched_value)?
        } else {
            org::find_staff_by_username(conn, ente_id, &who.matched_value)?
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
        let done = Login {
            ente_id,
            person: Person::Staff(user.id),
            level: AuthLevel::L2,
            provider: Provider::StaffSso { issuer },
        };
        let (token, _) = login::complete(conn, &st.sessions, previous.0.as_ref(), done)?;
        tracing::info!(staff = user.username, "staff single sign-on completed");
        Ok(token)
    })
    .await?;
    Ok(logged_in(&state, &token, next))
}
