-- API tokens of the ente's other systems (issue #15): the secret's SHA-256, never the secret.
-- Keep in step with migrations/sqlite/2026-12-05-000051_api_tokens.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    name TEXT NOT NULL,
    -- The first characters of the secret, shown in lists to recognise it.
    prefix TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    -- Space-separated, sorted: instances:read protocol:read catalog:read catalog:write audit:read
    scopes TEXT NOT NULL,
    created_by BIGINT REFERENCES staff_users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP
);
CREATE INDEX api_tokens_ente ON api_tokens (ente_id, created_at);
