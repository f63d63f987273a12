-- The tamper-evident audit log (issue #15): one hash chain per ente. Keep in step with
-- migrations/postgres/2026-12-05-000041_audit_log.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    -- 1, 2, 3 … within the ente, without gaps.
    seq BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    -- citizen, staff, token, system
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('citizen', 'staff', 'token', 'system')),
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    client_ip TEXT,
    request_id TEXT,
    -- Canonical JSON (RFC 8785), as hashed.
    details TEXT NOT NULL,
    -- SHA-256 (hex) of the ente's previous entry; 64 zeros for its first.
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (ente_id, seq)
);
CREATE INDEX audit_log_at ON audit_log (ente_id, at);

-- The head of each ente's chain: taken (row lock) by every append, so appends of one ente
-- are serialized and the chain never forks; verify compares it with the last entry.
CREATE TABLE audit_heads (
    ente_id BIGINT PRIMARY KEY REFERENCES enti (id),
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
