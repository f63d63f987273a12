//! Login-independent session endpoints (`/auth/logout`, `/api/v1/me`) and the development
//! login (`/auth/dev/login`), which exists only when `auth.dev_login = true`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::login::{self, Login, Person, Provider};
use crate::auth::session::SessionManager;
use crate::auth::AuthLevel;
use crate::citizens::CitizenIdentity;
use crate::domain::codice_fiscale::CodiceFiscale;
use crate::domain::email::Email;
use crate::domain::FieldError;
use crate::http::extract::{AppState, Authenticated, CurrentEnte, MaybeSession};
use crate::http::problem::ApiError;
use crate::org;

/// Who to log in as: a citizen by `codice_fiscale` (with optional names, e-mail and
/// `level`), or a staff member by `staff_username`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLoginRequest {
    pub codice_fiscale: Option<String>,
    pub staff_username: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    /// SPID level to pretend (1–3); 2 when absent.
    pub level: Option<i32>,
}

/// Who the development login will log in, after parsing.
enum DevSubject {
    Citizen(CitizenIdentity),
    Staff(String),
}

impl DevLoginRequest {
    fn parse(self) -> Result<(DevSubject, AuthLevel), ApiError> {
        let mut errors = Vec::new();
        let level = match self.level.map(AuthLevel::try_from).transpose() {
            Ok(l) => l.unwrap_or(AuthLevel::L2),
            Err(m) => {
                errors.push(FieldError::new("/level", m));
                AuthLevel::L2
            }
        };
        let cf = match self
            .codice_fiscale
            .as_deref()
            .map(CodiceFiscale::parse_spid)
        {
            Some(Ok(cf)) => Some(cf),
            Some(Err(e)) => {
                errors.push(FieldError::new("/codice_fiscale", e.to_string()));
                None
            }
            None => None,
        };
        let email = match self.email.as_deref().map(Email::parse) {
            Some(Ok(e)) => Some(e),
            Some(Err(e)) => {
                errors.push(FieldError::new("/email", e.to_string()));
                None
            }
            None => None,
        };
        let staff = self
            .staff_username
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if staff.is_none() && cf.is_none() && errors.is_empty() {
            errors.push(FieldError::new(
                "/codice_fiscale",
                "Indicare il codice fiscale (o il nome utente di un operatore).",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let subject = match (staff, cf) {
            (Some(username), _) => DevSubject::Staff(username),
            (None, Some(codice_fiscale)) => DevSubject::Citizen(CitizenIdentity {
                codice_fiscale,
                given_name: self.given_name,
                family_name: self.family_name,
                email,
            }),
            (None, None) => return Err(ApiError::Validation(errors)),
        };
        Ok((subject, level))
    }
}

/// `POST /auth/dev/login` — opens exactly the session a SPID/CIE login opens, without an
/// identity provider. Any previous session of the browser is ended first (a login always
/// gets a new session id: no session fixation).
#[tracing::instrument(skip_all)]
pub async fn dev_login(
    state: web::Data<AppState>,
    ente: CurrentEnte,
    previous: MaybeSession,
    body: web::Json<DevLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let (subject, level) = body.into_inner().parse()?;
    let ente = ente.0;
    let st = state.clone();
    let (token, me) = state
        .db
        .run(move |conn| {
            let person = match subject {
                DevSubject::Citizen(who) => Person::Citizen(who),
                DevSubject::Staff(username) => {
                    let user = org::find_staff_by_username(conn, ente.id, &username)?
                        .filter(|u| u.active)
                        .ok_or_else(|| {
                            ApiError::Validation(vec![FieldError::new(
                                "/staff_username",
                                "Operatore sconosciuto o non attivo.",
                            )])
                        })?;
                    Person::Staff(user.id)
                }
            };
            let done = Login {
                ente_id: ente.id,
                person,
                level,
                provider: Provider::Dev,
            };
            let (token, session) = login::complete(conn, &st.sessions, previous.0.as_ref(), done)?;
            Ok::<_, ApiError>((token, describe_session(conn, &session)?))
        })
        .await?;
    tracing::warn!("development login used");
    Ok(HttpResponse::Ok()
        .cookie(state.sessions.cookie_for(&token))
        .json(me))
}

fn describe_session(
    conn: &mut crate::db::DbConn,
    session: &crate::auth::session::Session,
) -> Result<crate::auth::view::SessionView, ApiError> {
    crate::auth::view::describe(conn, session)?.ok_or(ApiError::Unauthorized)
}

/// `GET /api/v1/me` — who is logged in.
#[tracing::instrument(skip_all)]
pub async fn me(
    state: web::Data<AppState>,
    session: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let session = session.0;
    let body = state
        .db
        .run(move |conn| describe_session(conn, &session))
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /auth/logout` — ends the session on the server and clears the cookie. Always 204.
#[tracing::instrument(skip_all)]
pub async fn logout(
    state: web::Data<AppState>,
    session: MaybeSession,
) -> Result<HttpResponse, ApiError> {
    if let Some(s) = session.0 {
        state
            .db
            .run(move |conn| SessionManager::logout(conn, &s, "local").map_err(ApiError::from))
            .await?;
        tracing::info!("session ended by logout");
    }
    Ok(HttpResponse::NoContent()
        .cookie(state.sessions.removal_cookie())
        .finish())
}

/// `GET /spid/metadata` — the SP's signed SAML metadata (exists only when SPID is enabled).
pub async fn spid_metadata(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let xml = state
        .spid
        .as_ref()
        .map(|sp| sp.metadata.clone())
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .body(xml))
}

/// `GET /api/v1/auth/spid/idps` — the identity providers for the "Entra con SPID" button.
pub async fn spid_idps(state: web::Data<AppState>) -> HttpResponse {
    let idps = state
        .spid
        .as_ref()
        .map(|sp| {
            sp.idps
                .list()
                .into_iter()
                .map(|i| crate::auth::view::IdpCard {
                    entity_id: i.entity_id.clone(),
                    name: i.name.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    HttpResponse::Ok().json(crate::auth::view::IdpList { idps })
}
