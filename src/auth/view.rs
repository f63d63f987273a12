//! Who is logged in, as the API tells the browser (`GET /api/v1/me`, the development
//! login's answer).

use serde::Serialize;
use utoipa::ToSchema;

use super::session::{Session, Subject};
use super::{AuthLevel, AuthMethod};
use crate::citizens;
use crate::db::DbConn;
use crate::org::{self, RoleGrant};

/// The person of a session.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Person {
    /// A citizen, identified by SPID or CIE.
    Citizen {
        codice_fiscale: String,
        given_name: Option<String>,
        family_name: Option<String>,
        email: Option<String>,
    },
    /// A member of the ente's staff.
    Staff {
        username: String,
        full_name: String,
        email: Option<String>,
        roles: Vec<RoleGrant>,
    },
}

/// A session: who, how they logged in, until when.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub person: Person,
    pub auth_method: AuthMethod,
    pub auth_level: AuthLevel,
    /// The identity provider (SPID IdP or CIE/staff OpenID Provider), when there was one.
    pub idp: Option<String>,
    #[schema(format = DateTime)]
    pub logged_in_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// The view of `session`; `None` when its person no longer exists (the session is then
/// as good as none).
pub fn describe(conn: &mut DbConn, session: &Session) -> diesel::QueryResult<Option<SessionView>> {
    let person = match session.subject {
        Subject::Citizen(id) => match citizens::find(conn, session.ente_id, id)? {
            Some(c) => Person::Citizen {
                codice_fiscale: c.codice_fiscale,
                given_name: c.given_name,
                family_name: c.family_name,
                email: c.email,
            },
            None => return Ok(None),
        },
        Subject::Staff(id) => match org::find_staff(conn, session.ente_id, id)? {
            Some(u) => Person::Staff {
                roles: org::staff_grants(conn, u.id)?,
                username: u.username,
                full_name: u.full_name,
                email: u.email,
            },
            None => return Ok(None),
        },
    };
    Ok(Some(SessionView {
        person,
        auth_method: session.method,
        auth_level: session.level,
        idp: session.idp.clone(),
        logged_in_at: session.created_at.and_utc().to_rfc3339(),
        expires_at: session.expires_at.and_utc().to_rfc3339(),
    }))
}

/// An identity provider offered on the "Entra con SPID" button.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdpCard {
    pub entity_id: String,
    /// The organisation's display name (Italian when given).
    pub name: String,
}

/// The SPID identity providers accepted, by name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdpList {
    pub idps: Vec<IdpCard>,
}

/// The CIE OpenID Providers offered (entity ids).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CieProviders {
    pub providers: Vec<String>,
}
