-- FOIA back office (issue #13 §3): counter-interested parties, the deferral outcome, the
-- review (riesame) and the public register's subject line. Keep in step with
-- migrations/postgres/2026-12-04-000031_foia/up.sql.
--
-- SQLite cannot change a CHECK constraint, so `instances` is rebuilt as in
-- 2026-12-02-000005_backoffice (foreign keys off, new table, copy, drop, rename): its status
-- gains `awaiting_counterparties`, its outcome `differita`.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

-- The transparency officer (RPCT) of the ente: a staff member's username (ente.toml).
ALTER TABLE enti ADD COLUMN transparency_officer TEXT;

CREATE TABLE instances_new (
    id TEXT PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    form_id BIGINT NOT NULL REFERENCES form_definitions (id),
    citizen_id BIGINT NOT NULL REFERENCES citizens (id),
    status TEXT NOT NULL CHECK (status IN (
        'draft', 'submitted', 'in_progress', 'awaiting_integration', 'decided', 'closed',
        'withdrawn', 'annulled', 'silence_assent', 'awaiting_counterparties')),
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
        CHECK (outcome IS NULL OR outcome IN ('accolta', 'parzialmente_accolta', 'respinta',
            'differita')),
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

-- The FOIA record of an instance of a FOIA service: the subject line the public register
-- shows (edited by staff so that it carries no personal data; NULL: the neutral default),
-- and the art. 5-bis limit the decision cited.
CREATE TABLE foia_requests (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    public_subject TEXT CHECK (public_subject IS NULL OR length(public_subject) BETWEEN 1 AND 300),
    subject_edited_by BIGINT REFERENCES staff_users (id),
    subject_edited_at TIMESTAMP,
    decision_limit TEXT,
    updated_at TIMESTAMP NOT NULL
);

-- The one notice to the counter-interested parties (D.Lgs. 33/2013 art. 5 c. 5): the term
-- is suspended from `suspended_from` until every party answered or `answer_by` (the 10th
-- day, included) passed; `resumed_on` is the day the term runs again (excluded from the
-- suspension). The primary key says "once".
CREATE TABLE foia_counterparty_notices (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    notified_at TIMESTAMP NOT NULL,
    notified_by BIGINT NOT NULL REFERENCES staff_users (id),
    suspended_from DATE NOT NULL,
    answer_by DATE NOT NULL,
    resumed_on DATE,
    resumed_because TEXT CHECK (resumed_because IS NULL OR resumed_because IN ('answers', 'expiry')),
    CHECK ((resumed_on IS NULL) = (resumed_because IS NULL))
);

-- A counter-interested party: as the operator gave it, its outgoing registration, and its
-- answer (an incoming registration) when staff records it.
CREATE TABLE foia_counterparties (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES foia_counterparty_notices (instance_id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    position INTEGER NOT NULL CHECK (position >= 1),
    name TEXT NOT NULL CHECK (length(name) > 0),
    address TEXT,
    email TEXT,
    registration_id BIGINT NOT NULL REFERENCES protocol_registrations (id),
    answered_at TIMESTAMP,
    opposed BOOLEAN,
    answer_text TEXT,
    answer_registration_id BIGINT REFERENCES protocol_registrations (id),
    UNIQUE (instance_id, position),
    CHECK ((answered_at IS NULL) = (opposed IS NULL))
);

-- The request for review (riesame, D.Lgs. 33/2013 art. 5 c. 7) to the transparency officer,
-- once per instance, and the officer's decision (due within 20 days).
CREATE TABLE foia_reviews (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    requested_at TIMESTAMP NOT NULL,
    ground TEXT NOT NULL CHECK (ground IN ('refused', 'partly_granted', 'deferred', 'no_answer')),
    reason TEXT NOT NULL CHECK (length(reason) > 0),
    due_date DATE NOT NULL,
    registration_id BIGINT NOT NULL REFERENCES protocol_registrations (id),
    decided_at TIMESTAMP,
    decided_by BIGINT REFERENCES staff_users (id),
    outcome TEXT CHECK (outcome IS NULL
        OR outcome IN ('accolta', 'parzialmente_accolta', 'respinta', 'differita')),
    decision_limit TEXT,
    motivation TEXT,
    decision_registration_id BIGINT REFERENCES protocol_registrations (id),
    CHECK ((decided_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX foia_reviews_ente ON foia_reviews (ente_id, decided_at);

COMMIT;
PRAGMA foreign_keys = ON;
