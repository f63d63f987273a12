-- OpenID Connect login state (CIE federation and staff single sign-on). Keep in step with
-- migrations/sqlite/2026-11-23-000004_oidc/up.sql.

-- Authorization requests sent and not yet answered, keyed by `state`: any app instance can
-- finish the login; each is answered once (deleted when its callback arrives).
CREATE TABLE oidc_authorizations (
    state TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('cie', 'staff')),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    next_path TEXT NOT NULL,
    -- SHA-256 of the random value in the browser's login cookie (no login CSRF).
    browser_binding TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oidc_authorizations_expiry ON oidc_authorizations (expires_at);

-- The OIDC side of a CIE session: the OP and the access token to revoke at logout.
CREATE TABLE cie_sessions (
    session_id_hash TEXT PRIMARY KEY REFERENCES sessions (id_hash) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    access_token TEXT NOT NULL
);
