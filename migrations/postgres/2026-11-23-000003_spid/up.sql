-- SPID (SAML2) login state. Keep in step with migrations/sqlite/2026-11-23-000003_spid/up.sql.

-- AuthnRequests sent and not yet answered: any app instance can finish the login, and each
-- request is answered once (the row is deleted when a response for it arrives).
CREATE TABLE spid_authn_requests (
    id TEXT PRIMARY KEY,
    relay_state TEXT NOT NULL UNIQUE,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    idp TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    next_path TEXT NOT NULL,
    -- SHA-256 of the random value in the browser's login cookie: the response must come
    -- back through the browser that started the login (no login CSRF).
    browser_binding TEXT NOT NULL,
    issue_instant TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX spid_authn_requests_expiry ON spid_authn_requests (expires_at);

-- Assertions already used to log in, kept until they expire: a replayed assertion is refused.
CREATE TABLE spid_assertions (
    idp TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (idp, assertion_id)
);
CREATE INDEX spid_assertions_expiry ON spid_assertions (expires_at);

-- The SAML side of a SPID session, for single logout in both directions.
CREATE TABLE spid_sessions (
    session_id_hash TEXT PRIMARY KEY REFERENCES sessions (id_hash) ON DELETE CASCADE,
    idp TEXT NOT NULL,
    name_id TEXT NOT NULL,
    name_qualifier TEXT,
    session_index TEXT
);
CREATE INDEX spid_sessions_subject ON spid_sessions (idp, name_id);

-- LogoutRequests sent to an IdP, until its LogoutResponse arrives.
CREATE TABLE spid_logout_requests (
    id TEXT PRIMARY KEY,
    relay_state TEXT NOT NULL UNIQUE,
    idp TEXT NOT NULL,
    next_path TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
