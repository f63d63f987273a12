//! Server-side sessions. The cookie carries only a random 256-bit token, encrypted and
//! authenticated (AES-256-GCM, `cookie`'s private jar, key derived from `session.secret`);
//! the database keeps the SHA-256 of the token with who is logged in, how, and until when.
//! So a logout really ends the session, any app instance behind the proxy can serve any
//! request, and a stolen database does not yield usable cookies.
//!
//! Expiry is decided here, on the server: idle timeout (no request for a while) and absolute
//! timeout (from login). The cookie itself is a browser-session cookie.

use chrono::{Duration, NaiveDateTime};
use cookie::{Cookie, CookieJar, Key, SameSite};
use diesel::prelude::*;
use sha2::{Digest, Sha512};

use crate::auth::{AuthLevel, AuthMethod};
use crate::config::SessionSettings;
use crate::db::schema::sessions;
use crate::db::{now, DbConn};

/// A session is only written back ("touched") when it was last seen this long ago, so that
/// reads do not turn every request into a write.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// Who a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Citizen(i64),
    Staff(i64),
}

/// A live session, as loaded for a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub ente_id: i64,
    pub subject: Subject,
    pub method: AuthMethod,
    pub level: AuthLevel,
    pub idp: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id_hash: String,
    ente_id: i64,
    citizen_id: Option<i64>,
    staff_user_id: Option<i64>,
    auth_method: String,
    auth_level: i32,
    idp: Option<String>,
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

/// What a login creates.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub ente_id: i64,
    pub subject: Subject,
    pub method: AuthMethod,
    pub level: AuthLevel,
    pub idp: Option<String>,
}

/// Cookie handling and expiry policy, built once from the settings.
#[derive(Clone)]
pub struct SessionManager {
    key: Key,
    cookie_name: String,
    secure: bool,
    idle: Duration,
    absolute: Duration,
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("cookie_name", &self.cookie_name)
            .finish_non_exhaustive()
    }
}

/// The database key of a session: the SHA-256 of its token.
pub fn hash_token(token: &str) -> String {
    crate::text::sha256_hex(token.as_bytes())
}

impl SessionManager {
    pub fn new(settings: &SessionSettings) -> anyhow::Result<Self> {
        let secret = settings.secret()?;
        // 64 bytes of key material for cookie's private jar, bound to this purpose.
        let mut hasher = Sha512::new();
        hasher.update(b"sportello session cookie v1\0");
        hasher.update(secret.expose().as_bytes());
        let key = Key::try_from(hasher.finalize().as_slice())
            .map_err(|e| anyhow::anyhow!("cannot derive the cookie key: {e:?}"))?;
        Ok(Self {
            key,
            cookie_name: settings.cookie_name.clone(),
            secure: settings.cookie_secure,
            idle: Duration::minutes(i64::from(settings.idle_timeout_minutes)),
            absolute: Duration::minutes(i64::from(settings.absolute_timeout_minutes)),
        })
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// A fresh random token (256 bits from the OS).
    pub fn new_token() -> anyhow::Result<String> {
        crate::auth::random_hex(32)
    }

    /// The token inside a request's session cookie, if the cookie decrypts.
    pub fn token_from_cookie(&self, value: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(self.cookie_name.clone(), value.to_owned()));
        jar.private(&self.key)
            .get(&self.cookie_name)
            .map(|c| c.value().to_owned())
    }

    /// The `Set-Cookie` for a new session.
    pub fn cookie_for(&self, token: &str) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(self.cookie_name.clone(), token.to_owned()));
        let value = jar
            .get(&self.cookie_name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        Cookie::build(self.cookie_name.clone(), value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish()
    }

    /// The `Set-Cookie` that removes the session cookie from the browser.
    pub fn removal_cookie(&self) -> Cookie<'static> {
        let mut c = Cookie::build(self.cookie_name.clone(), "")
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish();
        c.make_removal();
        c
    }

    /// Stores a new session and returns its token. The caller sends [`Self::cookie_for`].
    pub fn create(&self, conn: &mut DbConn, new: &NewSession) -> anyhow::Result<(String, Session)> {
        let token = Self::new_token()?;
        let id_hash = hash_token(&token);
        let ts = now();
        let expires_at = ts + self.absolute;
        let (citizen_id, staff_user_id) = match new.subject {
            Subject::Citizen(id) => (Some(id), None),
            Subject::Staff(id) => (None, Some(id)),
        };
        diesel::insert_into(sessions::table)
            .values((
                sessions::id_hash.eq(&id_hash),
                sessions::ente_id.eq(new.ente_id),
                sessions::citizen_id.eq(citizen_id),
                sessions::staff_user_id.eq(staff_user_id),
                sessions::auth_method.eq(new.method.as_str()),
                sessions::auth_level.eq(new.level.get()),
                sessions::idp.eq(&new.idp),
                sessions::created_at.eq(ts),
                sessions::last_seen_at.eq(ts),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        tracing::info!(
            auth_method = new.method.as_str(),
            auth_level = new.level.get(),
            "session created"
        );
        let session = Session {
            id_hash,
            ente_id: new.ente_id,
            subject: new.subject,
            method: new.method,
            level: new.level,
            idp: new.idp.clone(),
            created_at: ts,
            expires_at,
        };
        Ok((token, session))
    }

    /// The live session of a token, or None. An expired session is deleted on sight.
    pub fn lookup(&self, conn: &mut DbConn, token: &str) -> QueryResult<Option<Session>> {
        let id_hash = hash_token(token);
        let Some(row) = sessions::table
            .find(&id_hash)
            .select(SessionRow::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(None);
        };
        let ts = now();
        if ts >= row.expires_at || ts >= row.last_seen_at + self.idle {
            diesel::delete(sessions::table.find(&id_hash)).execute(conn)?;
            tracing::info!(
                reason = if ts >= row.expires_at {
                    "absolute"
                } else {
                    "idle"
                },
                "session expired"
            );
            return Ok(None);
        }
        if ts - row.last_seen_at >= Duration::seconds(TOUCH_INTERVAL_SECS) {
            diesel::update(sessions::table.find(&id_hash))
                .set(sessions::last_seen_at.eq(ts))
                .execute(conn)?;
        }
        let subject = match (row.citizen_id, row.staff_user_id) {
            (Some(c), None) => Subject::Citizen(c),
            (None, Some(s)) => Subject::Staff(s),
            // The table's CHECK constraint makes this impossible; treat it as no session.
            _ => return Ok(None),
        };
        let (Some(method), Ok(level)) = (
            AuthMethod::parse(&row.auth_method),
            AuthLevel::try_from(row.auth_level),
        ) else {
            return Ok(None);
        };
        Ok(Some(Session {
            id_hash: row.id_hash,
            ente_id: row.ente_id,
            subject,
            method,
            level,
            idp: row.idp,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }))
    }

    /// A login: ends the browser's previous session (if any) and opens a new one, so a login
    /// always gets a new session id (no fixation). Run it inside the login's transaction.
    pub fn replace(
        &self,
        conn: &mut DbConn,
        previous: Option<&Session>,
        new: &NewSession,
    ) -> anyhow::Result<(String, Session)> {
        if let Some(old) = previous {
            Self::destroy(conn, &old.id_hash)?;
        }
        self.create(conn, new)
    }

    /// Ends a session (logout). Unknown tokens are fine: logging out twice is not an error.
    pub fn destroy(conn: &mut DbConn, id_hash: &str) -> QueryResult<usize> {
        diesel::delete(sessions::table.find(id_hash)).execute(conn)
    }

    /// Ends a session at its owner's request and writes the logout in the audit log (`how`:
    /// `local`, `spid`, `cie`), in one transaction.
    pub fn logout(conn: &mut DbConn, session: &Session, how: &str) -> QueryResult<usize> {
        crate::db::write_tx(conn, |conn| {
            let n = Self::destroy(conn, &session.id_hash)?;
            if n > 0 {
                let actor = match session.subject {
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
                        session.ente_id,
                        actor,
                        crate::audit::Action::Logout,
                        "session",
                        session.id_hash.chars().take(16).collect::<String>(),
                    )
                    .with(serde_json::json!({ "how": how })),
                )?;
            }
            Ok(n)
        })
    }

    /// Deletes every expired session; returns how many.
    pub fn purge_expired(&self, conn: &mut DbConn) -> QueryResult<usize> {
        let ts = now();
        diesel::delete(
            sessions::table.filter(
                sessions::expires_at
                    .le(ts)
                    .or(sessions::last_seen_at.le(ts - self.idle)),
            ),
        )
        .execute(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn manager() -> SessionManager {
        SessionManager::new(&SessionSettings {
            secret: Some(Secret::new("x".repeat(40))),
            secret_file: None,
            cookie_name: "s".into(),
            cookie_secure: true,
            idle_timeout_minutes: 30,
            absolute_timeout_minutes: 480,
        })
        .expect("manager")
    }

    #[test]
    fn cookie_round_trips_and_hides_the_token() {
        let m = manager();
        let token = SessionManager::new_token().expect("token");
        let cookie = m.cookie_for(&token);
        assert!(!cookie.value().contains(&token));
        assert!(cookie.http_only().unwrap_or(false));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(
            m.token_from_cookie(cookie.value()).as_deref(),
            Some(token.as_str())
        );
    }

    #[test]
    fn tampered_or_foreign_cookie_is_rejected() {
        let m = manager();
        let cookie = m.cookie_for("abc");
        let mut value = cookie.value().to_owned();
        value.pop();
        value.push(if cookie.value().ends_with('A') {
            'B'
        } else {
            'A'
        });
        assert_eq!(m.token_from_cookie(&value), None);
        assert_eq!(m.token_from_cookie("abc"), None);
        let other = SessionManager::new(&SessionSettings {
            secret: Some(Secret::new("y".repeat(40))),
            ..SessionSettings {
                secret: None,
                secret_file: None,
                cookie_name: "s".into(),
                cookie_secure: true,
                idle_timeout_minutes: 30,
                absolute_timeout_minutes: 480,
            }
        })
        .expect("manager");
        assert_eq!(other.token_from_cookie(cookie.value()), None);
    }

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = SessionManager::new_token().expect("a");
        let b = SessionManager::new_token().expect("b");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_token("abc"), hash_token("abc"));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
