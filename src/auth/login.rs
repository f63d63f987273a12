//! Completing a login, whatever the method: what the SPID ACS, the CIE callback, staff
//! single sign-on and the development login each do once the identity provider's answer has
//! been checked. In one transaction: the SPID assertion recorded against replay, the citizen
//! found or created, the browser's previous session replaced by a new one (a login always
//! gets a new session id: no fixation) and what the provider's logout will need kept beside
//! it. Either all of it is written or none: a refused replay or a failed write leaves the
//! previous session and the database as they were.
//!
//! It knows nothing of HTTP: the handlers check the answer, call [`complete`] and turn the
//! token into a cookie; `http::problem` maps [`LoginError`].

use chrono::NaiveDateTime;
use diesel::{QueryDsl, RunQueryDsl};

use crate::auth::session::{NewSession, Session, SessionManager, Subject};
use crate::auth::spid::messages::LogoutSubject;
use crate::auth::spid::store;
use crate::auth::{oidc, AuthLevel, AuthMethod};
use crate::citizens::{self, CitizenIdentity};
use crate::db::{write_tx, DbConn, DbError};

/// A login whose identity provider's answer has been verified.
#[derive(Debug, Clone)]
pub struct Login {
    pub ente_id: i64,
    pub person: Person,
    pub level: AuthLevel,
    pub provider: Provider,
}

/// Who logs in.
#[derive(Debug, Clone)]
pub enum Person {
    /// A citizen as the identity provider describes them: found by codice fiscale, or
    /// created, and their contact data kept current.
    Citizen(CitizenIdentity),
    /// A staff user already found (and checked active) by the caller, which decides how an
    /// unknown account is refused.
    Staff(i64),
}

/// Who vouched for the login, and what its logout will need. It decides the session's
/// method and `idp`, so the two cannot disagree.
#[derive(Debug, Clone)]
pub enum Provider {
    Spid(SpidAssertion),
    Cie(CieGrant),
    /// Staff single sign-on at this OpenID Provider (nothing kept: its logout is local).
    StaffSso {
        issuer: String,
    },
    /// The development login: no identity provider.
    Dev,
}

/// What a SPID assertion leaves behind: its id (single use, until it expires) and the
/// NameID and session index the IdP's single logout will name.
#[derive(Debug, Clone)]
pub struct SpidAssertion {
    pub idp: String,
    pub assertion_id: String,
    pub assertion_expires: NaiveDateTime,
    pub logout: LogoutSubject,
}

/// What a CIE login leaves behind: the OP's subject and the access token revoked at logout.
#[derive(Debug, Clone)]
pub struct CieGrant {
    pub provider: String,
    pub subject: String,
    pub access_token: String,
}

impl Provider {
    pub fn method(&self) -> AuthMethod {
        match self {
            Self::Spid(_) => AuthMethod::Spid,
            Self::Cie(_) => AuthMethod::Cie,
            Self::StaffSso { .. } => AuthMethod::StaffSso,
            Self::Dev => AuthMethod::Dev,
        }
    }

    /// The identity provider the session records (SPID entity id, CIE OP, staff issuer).
    pub fn idp(&self) -> Option<&str> {
        match self {
            Self::Spid(a) => Some(&a.idp),
            Self::Cie(g) => Some(&g.provider),
            Self::StaffSso { issuer } => Some(issuer),
            Self::Dev => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The SPID assertion was already used to log in.
    #[error("assertion ID already used (replay)")]
    AssertionReplayed,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for LoginError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Opens the session of a verified login, ending the browser's `previous` one, all in one
/// transaction (see the module's documentation). Returns the new session's token (for its
/// cookie) and the session.
pub fn complete(
    conn: &mut DbConn,
    sessions: &SessionManager,
    previous: Option<&Session>,
    login: Login,
) -> Result<(String, Session), LoginError> {
    let Login {
        ente_id,
        person,
        level,
        provider,
    } = login;
    write_tx(conn, |conn| {
        if let Provider::Spid(a) = &provider {
            if !store::record_assertion(conn, &a.idp, &a.assertion_id, a.assertion_expires)? {
                return Err(LoginError::AssertionReplayed);
            }
        }
        let subject = match &person {
            Person::Citizen(who) => Subject::Citizen(citizens::upsert(conn, ente_id, who)?.id),
            Person::Staff(id) => Subject::Staff(*id),
        };
        let new = NewSession {
            ente_id,
            subject,
            method: provider.method(),
            level,
            idp: provider.idp().map(str::to_owned),
        };
        let (token, session) = sessions.replace(conn, previous, &new)?;
        match &provider {
            Provider::Spid(a) => store::save_session(conn, &session.id_hash, &a.idp, &a.logout)?,
            Provider::Cie(g) => oidc::save_cie_session(
                conn,
                &session.id_hash,
                &g.provider,
                &g.subject,
                &g.access_token,
            )?,
            Provider::StaffSso { .. } | Provider::Dev => {}
        }
        let actor = match subject {
            Subject::Citizen(id) => crate::audit::Actor::Citizen(id),
            Subject::Staff(id) => crate::audit::Actor::Staff(
                crate::db::schema::staff_users::table
                    .find(id)
                    .select(crate::db::schema::staff_users::username)
                    .first(conn)?,
            ),
        };
        crate::audit::record(
            conn,
            crate::audit::Entry::new(
                ente_id,
                actor,
                crate::audit::Action::LoginSucceeded,
                "session",
                session.id_hash.chars().take(16).collect::<String>(),
            )
            .with(serde_json::json!({
                "method": provider.method().as_str(),
                "level": level.get(),
                "idp": provider.idp(),
            })),
        )?;
        Ok((token, session))
    })
}
