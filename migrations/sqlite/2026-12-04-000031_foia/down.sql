-- Reverting is for development databases: it refuses (CHECK) once an instance is
-- awaiting counter-interested parties or deferred.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TABLE foia_reviews;
DROP TABLE foia_counterparties;
DROP TABLE foia_counterparty_notices;
DROP TABLE foia_requests;

CREATE TABLE instances_new (
    id TEXT PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    form_id BIGINT NOT NULL REFERENCES form_definitions (id),
    citizen_id BIGINT NOT NULL REFERENCES citizens (id),
    status TEXT NOT NULL CHECK (status IN (
        'draft', 'submitted', 'in_progress', 'awaiting_integration', 'decided', 'closed',
        'withdrawn', 'annulled', 'silence_assent')),
    data TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    submitted_at TIMESTAMP,
    office_id BIGINT REFERENCES offices (id),
    document TEXT,
    document_digest TEXT,
    registration_id BIGINT REFERENCES protocol_registrations (id),
    due_date DATE,
    submit_key TEXT,
    version BIGINT NOT NULL DEFAULT 0,
    assignee_id BIGINT REFERENCES staff_users (id),
    outcome TEXT
        CHECK (outcome IS NULL OR outcome IN ('accolta', 'parzialmente_accolta', 'respinta')),
    decided_at TIMESTAMP,
    closed_at TIMESTAMP,
    suspended_days INTEGER NOT NULL DEFAULT 0,
    integration_expired BOOLEAN NOT NULL DEFAULT FALSE,
    rated BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (citizen_id, submit_key)
);
INSERT INTO instances_new (
    id, ente_id, service_id, form_id, citizen_id, status, data, created_at, updated_at,
    expires_at, submitted_at, office_id, document, document_digest, registration_id, due_date,
    submit_key, version, assignee_id, outcome, decided_at, closed_at, suspended_days,
    integration_expired, rated)
SELECT
    id, ente_id, service_id, form_id, citizen_id, status, data, created_at, updated_at,
    expires_at, submitted_at, office_id, document, document_digest, registration_id, due_date,
    submit_key, version, assignee_id, outcome, decided_at, closed_at, suspended_days,
    integration_expired, rated
FROM instances;
DROP TABLE instances;
ALTER TABLE instances_new RENAME TO instances;
CREATE INDEX instances_citizen ON instances (citizen_id, created_at);
CREATE INDEX instances_queue ON instances (office_id, status, submitted_at);
CREATE INDEX instances_expiry ON instances (status, expires_at);
CREATE INDEX instances_due ON instances (office_id, due_date);

-- A submitted instance's document is frozen.
CREATE TRIGGER instances_document_frozen BEFORE UPDATE ON instances
WHEN OLD.document IS NOT NULL
    AND (NEW.document IS NOT OLD.document
        OR NEW.document_digest IS NOT OLD.document_digest
        OR NEW.data IS NOT OLD.data
        OR (OLD.registration_id IS NOT NULL AND NEW.registration_id IS NOT OLD.registration_id))
BEGIN
    SELECT RAISE(ABORT, 'the document of a submitted instance cannot change');
END;

ALTER TABLE enti DROP COLUMN transparency_officer;
COMMIT;
PRAGMA foreign_keys = ON;
