//! State shared by the OpenID Connect logins (CIE federation, staff single sign-on): the
//! pending authorization requests, keyed by `state` and answered once, and the OIDC side of
//! CIE sessions (the access token revoked at logout). Random values and PKCE come from the
//! `openidconnect` crate.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge};

use crate::db::schema::{cie_sessions, oidc_authorizations};
use crate::db::{now, DbConn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_authorizations)]
pub struct PendingAuthorization {
    pub state: String,
    pub kind: String,
    pub ente_id: i64,
    pub provider: String,
    pub nonce: String,
    pub code_verifier: String,
    pub level: i32,
    pub next_path: String,
    pub browser_binding: String,
    pub expires_at: NaiveDateTime,
}

/// Fresh `state`, `nonce` (each 43 characters: 256 random bits, base64url) and PKCE S256
/// (verifier, challenge).
pub fn fresh_secrets() -> (String, String, String, String) {
    let state = CsrfToken::new_random_len(32).secret().clone();
    let nonce = Nonce::new_random_len(32).secret().clone();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    (
        state,
        nonce,
        verifier.secret().clone(),
        challenge.as_str().to_owned(),
    )
}

pub fn save(conn: &mut DbConn, p: &PendingAuthorization) -> QueryResult<()> {
    diesel::insert_into(oidc_authorizations::table)
        .values(p)
        .execute(conn)
        .map(drop)
}

/// Takes (deletes) the pending authorization of a `state`; `None` when unknown, already
/// used, or of another kind.
pub fn take(
    conn: &mut DbConn,
    state: &str,
    kind: &str,
) -> QueryResult<Option<PendingAuthorization>> {
    crate::db::write_tx(conn, |conn| {
        let found = oidc_authorizations::table
            .find(state)
            .select(PendingAuthorization::as_select())
            .first(conn)
            .optional()?;
        if found.is_some() {
            let n = diesel::delete(oidc_authorizations::table.find(state)).execute(conn)?;
            if n != 1 {
                return Ok(None);
            }
        }
        Ok(found.filter(|p| p.kind == kind))
    })
}

pub fn save_cie_session(
    conn: &mut DbConn,
    session_id_hash: &str,
    provider: &str,
    subject: &str,
    access_token: &str,
) -> QueryResult<()> {
    diesel::insert_into(cie_sessions::table)
        .values((
            cie_sessions::session_id_hash.eq(session_id_hash),
            cie_sessions::provider.eq(provider),
            cie_sessions::subject.eq(subject),
            cie_sessions::access_token.eq(access_token),
        ))
        .execute(conn)
        .map(drop)
}

/// The OP and access token of a CIE session.
pub fn cie_session(
    conn: &mut DbConn,
    session_id_hash: &str,
) -> QueryResult<Option<(String, String)>> {
    cie_sessions::table
        .find(session_id_hash)
        .select((cie_sessions::provider, cie_sessions::access_token))
        .first(conn)
        .optional()
}

pub fn purge_expired(conn: &mut DbConn) -> QueryResult<usize> {
    diesel::delete(oidc_authorizations::table.filter(oidc_authorizations::expires_at.lt(now())))
        .execute(conn)
}
