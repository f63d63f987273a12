//! SPID login state in the database, so that any app instance behind the proxy can finish a
//! login or a logout started by another: pending AuthnRequests and LogoutRequests (each
//! answered once), assertions already used (replay), and the SAML side of SPID sessions.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::messages::LogoutSubject;
use crate::db::schema::{
    sessions, spid_assertions, spid_authn_requests, spid_logout_requests, spid_sessions,
};
use crate::db::{now, DbConn};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = spid_authn_requests)]
pub struct PendingLogin {
    pub id: String,
    pub relay_state: String,
    pub ente_id: i64,
    pub idp: String,
    pub level: i32,
    pub next_path: String,
    pub browser_binding: String,
    pub issue_instant: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn save_login(conn: &mut DbConn, p: &PendingLogin) -> QueryResult<()> {
    diesel::insert_into(spid_authn_requests::table)
        .values(p)
        .execute(conn)
        .map(drop)
}

/// Takes the pending login a response answers: the row is deleted, so a request is answered
/// once whatever the outcome. `None` when unknown or already answered.
pub fn take_login(conn: &mut DbConn, request_id: &str) -> QueryResult<Option<PendingLogin>> {
    crate::db::write_tx(conn, |conn| {
        let found = spid_authn_requests::table
            .find(request_id)
            .select(PendingLogin::as_select())
            .first(conn)
            .optional()?;
        if found.is_some() {
            let n = diesel::delete(spid_authn_requests::table.find(request_id)).execute(conn)?;
            if n != 1 {
                return Ok(None);
            }
        }
        Ok(found)
    })
}

/// Records an assertion as used; false when it was already (a replay).
pub fn record_assertion(
    conn: &mut DbConn,
    idp: &str,
    assertion_id: &str,
    expires_at: NaiveDateTime,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(spid_assertions::table)
        .values((
            spid_assertions::idp.eq(idp),
            spid_assertions::assertion_id.eq(assertion_id),
            spid_assertions::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Links a new session to the IdP's NameID and session index (for single logout).
pub fn save_session(
    conn: &mut DbConn,
    session_id_hash: &str,
    idp: &str,
    subject: &LogoutSubject,
) -> QueryResult<()> {
    diesel::insert_into(spid_sessions::table)
        .values((
            spid_sessions::session_id_hash.eq(session_id_hash),
            spid_sessions::idp.eq(idp),
            spid_sessions::name_id.eq(&subject.name_id),
            spid_sessions::name_qualifier.eq(&subject.name_qualifier),
            spid_sessions::session_index.eq(&subject.session_index),
        ))
        .execute(conn)
        .map(drop)
}

/// The IdP and subject of a SPID session.
pub fn session_subject(
    conn: &mut DbConn,
    session_id_hash: &str,
) -> QueryResult<Option<(String, LogoutSubject)>> {
    Ok(spid_sessions::table
        .find(session_id_hash)
        .select((
            spid_sessions::idp,
            spid_sessions::name_id,
            spid_sessions::name_qualifier,
            spid_sessions::session_index,
        ))
        .first::<(String, String, Option<String>, Option<String>)>(conn)
        .optional()?
        .map(|(idp, name_id, name_qualifier, session_index)| {
            (
                idp,
                LogoutSubject {
                    name_id,
                    name_qualifier,
                    session_index,
                },
            )
        }))
}

/// Ends the sessions an IdP's LogoutRequest names (all of the NameID's when it gives no
/// session index). Returns how many.
pub fn end_sessions(
    conn: &mut DbConn,
    idp: &str,
    name_id: &str,
    session_indexes: &[String],
) -> QueryResult<usize> {
    crate::db::write_tx(conn, |conn| {
        let mut q = spid_sessions::table
            .filter(spid_sessions::idp.eq(idp))
            .filter(spid_sessions::name_id.eq(name_id))
            .select(spid_sessions::session_id_hash)
            .into_boxed();
        if !session_indexes.is_empty() {
            q = q.filter(spid_sessions::session_index.eq_any(session_indexes));
        }
        let ids: Vec<String> = q.load(conn)?;
        diesel::delete(spid_sessions::table.filter(spid_sessions::session_id_hash.eq_any(&ids)))
            .execute(conn)?;
        diesel::delete(sessions::table.filter(sessions::id_hash.eq_any(&ids))).execute(conn)
    })
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = spid_logout_requests)]
pub struct PendingLogout {
    pub id: String,
    pub relay_state: String,
    pub idp: String,
    pub next_path: String,
    pub expires_at: NaiveDateTime,
}

pub fn save_logout(conn: &mut DbConn, p: &PendingLogout) -> QueryResult<()> {
    diesel::insert_into(spid_logout_requests::table)
        .values(p)
        .execute(conn)
        .map(drop)
}

pub fn take_logout(conn: &mut DbConn, id: &str) -> QueryResult<Option<PendingLogout>> {
    crate::db::write_tx(conn, |conn| {
        let found = spid_logout_requests::table
            .find(id)
            .select(PendingLogout::as_select())
            .first(conn)
            .optional()?;
        if found.is_some() {
            diesel::delete(spid_logout_requests::table.find(id)).execute(conn)?;
        }
        Ok(found)
    })
}

/// Deletes expired pending requests and remembered assertions; returns how many rows.
pub fn purge_expired(conn: &mut DbConn) -> QueryResult<usize> {
    let ts = now();
    Ok(
        diesel::delete(spid_authn_requests::table.filter(spid_authn_requests::expires_at.lt(ts)))
            .execute(conn)?
            + diesel::delete(spid_assertions::table.filter(spid_assertions::expires_at.lt(ts)))
                .execute(conn)?
            + diesel::delete(
                spid_logout_requests::table.filter(spid_logout_requests::expires_at.lt(ts)),
            )
            .execute(conn)?,
    )
}
