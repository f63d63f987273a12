//! API tokens: how the ente's other systems (its records system, its intranet, a regional
//! data hub) call Sportello without a person behind the request.
//!
//! An administrator creates a token with a name, scopes and an expiry; its secret is shown
//! once and the database keeps only its SHA-256 (a 256-bit random secret needs no slow hash).
//! A request carries it as `Authorization: Bearer spt_…`. A token belongs to one ente and is
//! refused on any other ente's host; an expired or revoked token is refused like an unknown
//! one (the log says which).

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{api_tokens as t, staff_users};
use crate::db::DbConn;
use crate::domain::FieldError;

/// What a token may do. Each endpoint open to tokens names the one scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
pub enum Scope {
    /// List and read submitted instances, their documents and attachments.
    #[serde(rename = "instances:read")]
    InstancesRead,
    /// Read the protocol register (registrations, classification, annulments).
    #[serde(rename = "protocol:read")]
    ProtocolRead,
    /// Read the whole catalog, unpublished services included.
    #[serde(rename = "catalog:read")]
    CatalogRead,
    /// Change the catalog's service cards and publish or withdraw services.
    #[serde(rename = "catalog:write")]
    CatalogWrite,
    /// Read the audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    pub const ALL: [Self; 5] = [
        Self::InstancesRead,
        Self::ProtocolRead,
        Self::CatalogRead,
        Self::CatalogWrite,
        Self::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InstancesRead => "instances:read",
            Self::ProtocolRead => "protocol:read",
            Self::CatalogRead => "catalog:read",
            Self::CatalogWrite => "catalog:write",
            Self::AuditRead => "audit:read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// What the scope allows, in Italian (the OpenAPI document's scope descriptions).
    pub fn description(self) -> &'static str {
        match self {
            Self::InstancesRead => {
                "Elencare e leggere le pratiche presentate, documenti e allegati"
            }
            Self::ProtocolRead => "Leggere il registro di protocollo",
            Self::CatalogRead => "Leggere il catalogo dei servizi, anche non pubblicati",
            Self::CatalogWrite => "Modificare le schede dei servizi, pubblicarli o ritirarli",
            Self::AuditRead => "Leggere il registro degli accessi e delle operazioni",
        }
    }
}

/// The prefix of every secret: recognisable by secret scanners and in logs.
pub const SECRET_PREFIX: &str = "spt_";
/// How many characters of the secret lists show (the prefix and 8 hex digits).
const SHOWN: usize = 12;
/// The longest life of a token (days).
pub const MAX_DAYS: i64 = 730;
/// `last_used_at` is written at most once a minute per token, not on every request.
const USE_RESOLUTION_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token not found")]
    NotFound,
    #[error("invalid token request")]
    Invalid(Vec<FieldError>),
    /// Unknown, expired, revoked, or another ente's: the caller is told only that it is not
    /// valid; the reason is for the log.
    #[error("token not valid: {0}")]
    NotValid(&'static str),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::db::DbError> for TokenError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}

/// `POST /api/v1/admin/tokens`
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Which system uses it (e.g. "Gestionale documentale"), 1–100 characters.
    pub name: String,
    /// At least one of `instances:read`, `protocol:read`, `catalog:read`, `catalog:write`,
    /// `audit:read`.
    pub scopes: Vec<String>,
    /// Days until it expires: 1–730, default 365.
    pub expires_in_days: Option<i64>,
}

/// A token as lists show it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// Who created it (username).
    pub created_by: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    /// Last use, to the minute.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

/// The answer to a creation: the secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Send it as `Authorization: Bearer <token>`. Not shown again: store it now.
    pub token: String,
    pub details: TokenView,
}

/// `GET /api/v1/admin/tokens`
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
}

/// The system a valid token stands for.
#[derive(Debug, Clone)]
pub struct Principal {
    pub ente_id: i64,
    pub token_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

fn iso(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_scopes(stored: &str) -> Vec<Scope> {
    stored.split(' ').filter_map(Scope::parse).collect()
}

type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

fn view(
    (id, name, prefix, scopes, by, created, expires, revoked, used): Row,
    now: NaiveDateTime,
) -> TokenView {
    let status = if revoked.is_some() {
        "revoked"
    } else if expires <= now {
        "expired"
    } else {
        "active"
    };
    TokenView {
        id,
        name,
        prefix,
        scopes: parse_scopes(&scopes),
        status: status.into(),
        created_by: by,
        created_at: iso(created),
        expires_at: iso(expires),
        revoked_at: revoked.map(iso),
        last_used_at: used.map(iso),
    }
}

macro_rules! token_rows {
    ($ente_id:expr) => {
        t::table
            .left_join(staff_users::table)
            .filter(t::ente_id.eq($ente_id))
            .select((
                t::id,
                t::name,
                t::prefix,
                t::scopes,
                staff_users::username.nullable(),
                t::created_at,
                t::expires_at,
                t::revoked_at,
                t::last_used_at,
            ))
    };
}

fn load_view(
    conn: &mut DbConn,
    ente_id: i64,
    id: &str,
    now: NaiveDateTime,
) -> Result<TokenView, TokenError> {
    let row: Row = token_rows!(ente_id)
        .filter(t::id.eq(id))
        .first(conn)
        .optional()?
        .ok_or(TokenError::NotFound)?;
    Ok(view(row, now))
}

/// Checks a creation request: the name, known scopes (at least one), the expiry.
fn check(req: &NewToken) -> Result<(String, Vec<Scope>, i64), TokenError> {
    let mut errors = Vec::new();
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "/name",
            "Indicare il nome del sistema che userà il token (da 1 a 100 caratteri).",
        ));
    }
    let mut scopes = Vec::new();
    for (i, s) in req.scopes.iter().enumerate() {
        match Scope::parse(s) {
            Some(x) if !scopes.contains(&x) => scopes.push(x),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("/scopes/{i}"),
                format!(
                    "Ambito sconosciuto: si può indicare {}.",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ),
            )),
        }
    }
    if req.scopes.is_empty() {
        errors.push(FieldError::new("/scopes", "Indicare almeno un ambito."));
    }
    let days = req.expires_in_days.unwrap_or(365);
    if !(1..=MAX_DAYS).contains(&days) {
        errors.push(FieldError::new(
            "/expires_in_days",
            "La durata va da 1 a 730 giorni.",
        ));
    }
    if !errors.is_empty() {
        return Err(TokenError::Invalid(errors));
    }
    scopes.sort();
    Ok((name, scopes, days))
}

/// Creates a token for the ente; the answer carries its secret, which is not kept.
pub fn create(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    req: &NewToken,
    now: NaiveDateTime,
) -> Result<CreatedToken, TokenError> {
    let (name, scopes, days) = check(req)?;
    let secret = format!("{SECRET_PREFIX}{}", crate::auth::random_hex(32)?);
    let id = uuid::Uuid::new_v4().to_string();
    let stored: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    diesel::insert_into(t::table)
        .values((
            t::id.eq(&id),
            t::ente_id.eq(ente_id),
            t::name.eq(&name),
            t::prefix.eq(&secret[..SHOWN]),
            t::secret_sha256.eq(crate::text::sha256_hex(secret.as_bytes())),
            t::scopes.eq(stored.join(" ")),
            t::created_by.eq(staff_user_id),
            t::created_at.eq(now),
            t::expires_at.eq(now + Duration::days(days)),
        ))
        .execute(conn)?;
    tracing::info!(token = %id, name = %name, scopes = %stored.join(" "), days, "API token created");
    let actor = crate::audit::Actor::staff(conn, staff_user_id)?;
    crate::audit::record(
        conn,
        crate::audit::Entry::new(
            ente_id,
            actor,
            crate::audit::Action::TokenCreated,
            "token",
            id.clone(),
        )
        .with(serde_json::json!({ "name": name, "scopes": stored, "days": days })),
    )?;
    Ok(CreatedToken {
        token: secret,
        details: load_view(conn, ente_id, &id, now)?,
    })
}

/// The ente's tokens, newest first.
pub fn list(conn: &mut DbConn, ente_id: i64, now: NaiveDateTime) -> Result<TokenList, TokenError> {
    let rows: Vec<Row> = token_rows!(ente_id)
        .order((t::created_at.desc(), t::id))
        .load(conn)?;
    Ok(TokenList {
        items: rows.into_iter().map(|r| view(r, now)).collect(),
    })
}

/// Revokes a token of the ente (again: no change). Effective at the next request.
pub fn revoke(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    id: &str,
    now: NaiveDateTime,
) -> Result<TokenView, TokenError> {
    let n = diesel::update(
        t::table
            .filter(t::id.eq(id))
            .filter(t::ente_id.eq(ente_id))
            .filter(t::revoked_at.is_null()),
    )
    .set(t::revoked_at.eq(now))
    .execute(conn)?;
    let v = load_view(conn, ente_id, id, now)?;
    if n > 0 {
        tracing::info!(token = %id, name = %v.name, "API token revoked");
        let actor = crate::audit::Actor::staff(conn, staff_user_id)?;
        crate::audit::record(
            conn,
            crate::audit::Entry::new(
                ente_id,
                actor,
                crate::audit::Action::TokenRevoked,
                "token",
                id,
            ),
        )?;
    }
    Ok(v)
}

/// The system a bearer secret stands for on this ente's host, or why not.
pub fn authenticate(
    conn: &mut DbConn,
    ente_id: i64,
    secret: &str,
    now: NaiveDateTime,
) -> Result<Principal, TokenError> {
    if !secret.starts_with(SECRET_PREFIX) {
        return Err(TokenError::NotValid("not a Sportello token"));
    }
    let hash = crate::text::sha256_hex(secret.as_bytes());
    type Found = (
        String,
        i64,
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let found: Option<Found> = t::table
        .filter(t::secret_sha256.eq(&hash))
        .select((
            t::id,
            t::ente_id,
            t::name,
            t::scopes,
            t::expires_at,
            t::revoked_at,
            t::last_used_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, owner, name, scopes, expires, revoked, used)) = found else {
        return Err(TokenError::NotValid("unknown token"));
    };
    if owner != ente_id {
        tracing::warn!(token = %id, "API token of another ente refused");
        return Err(TokenError::NotValid("token of another ente"));
    }
    if revoked.is_some() {
        return Err(TokenError::NotValid("revoked token"));
    }
    if expires <= now {
        return Err(TokenError::NotValid("expired token"));
    }
    if used.is_none_or(|u| now - u >= Duration::seconds(USE_RESOLUTION_SECONDS)) {
        diesel::update(t::table.find(&id))
            .set(t::last_used_at.eq(now))
            .execute(conn)?;
    }
    Ok(Principal {
        ente_id,
        token_id: id,
        name,
        scopes: parse_scopes(&scopes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, scopes: &[&str], days: Option<i64>) -> NewToken {
        NewToken {
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_in_days: days,
        }
    }

    #[test]
    fn scopes_round_trip_and_unknown_ones_are_refused() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let Err(TokenError::Invalid(errors)) = check(&req(
            "Gestionale",
            &["instances:read", "instances:delete"],
            None,
        )) else {
            panic!("an unknown scope must be refused");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pointer, "/scopes/1");
    }

    #[test]
    fn a_request_needs_a_name_a_scope_and_a_bounded_life() {
        let Err(TokenError::Invalid(errors)) = check(&req(" ", &[], Some(731))) else {
            panic!("refused");
        };
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/name", "/scopes", "/expires_in_days"]);
        let (name, scopes, days) = check(&req(
            " Protocollo ",
            &["protocol:read", "audit:read", "protocol:read"],
            None,
        ))
        .unwrap();
        assert_eq!(name, "Protocollo");
        assert_eq!(scopes, [Scope::ProtocolRead, Scope::AuditRead]);
        assert_eq!(days, 365);
    }
}
