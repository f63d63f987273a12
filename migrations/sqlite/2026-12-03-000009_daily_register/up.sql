-- The daily register (registro giornaliero di protocollo) and the generic job leases that let
-- one of several app instances run a periodic job. Keep in step with
-- migrations/postgres/2026-12-03-000009_daily_register/up.sql.

-- One document per AOO, Italian calendar day and format, kept in the row (a day's register
-- is small text); `sha256` is the digest of `content`, checked again on every download.
CREATE TABLE daily_registers (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    aoo_id BIGINT NOT NULL REFERENCES aoo (id),
    register_date DATE NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('json', 'csv')),
    sha256 TEXT NOT NULL,
    entries_count INTEGER NOT NULL,
    annulments_count INTEGER NOT NULL,
    content TEXT NOT NULL,
    produced_at TIMESTAMP NOT NULL,
    produced_by TEXT NOT NULL,
    UNIQUE (aoo_id, register_date, format)
);

-- A produced register is never edited nor deleted.
CREATE TRIGGER daily_registers_no_update BEFORE UPDATE ON daily_registers
BEGIN
    SELECT RAISE(ABORT, 'daily registers are immutable');
END;
CREATE TRIGGER daily_registers_no_delete BEFORE DELETE ON daily_registers
BEGIN
    SELECT RAISE(ABORT, 'daily registers cannot be deleted');
END;

-- A day's entries and the day's annulments are read by time.
CREATE INDEX protocol_registrations_registered ON protocol_registrations (aoo_id, registered_at);
CREATE INDEX protocol_registrations_annulled ON protocol_registrations (aoo_id, annulled_at);

-- Who runs a job now: a holder claims the name until `expires_at` (see db::claim_lease).
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
