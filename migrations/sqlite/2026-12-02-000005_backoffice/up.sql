-- The back office. Keep in step with migrations/postgres/2026-12-02-000005_backoffice/up.sql.
--
-- SQLite cannot change a CHECK constraint, so `instances` is rebuilt (the documented
-- procedure: foreign keys off, new table, copy, drop, rename, foreign_key_check). Foreign keys
-- can only be switched off outside a transaction, hence metadata.toml's
-- run_in_transaction = false and the explicit BEGIN … COMMIT around the whole change.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

ALTER TABLE enti ADD COLUMN patron_day TEXT CHECK (patron_day IS NULL OR length(patron_day) = 5);
ALTER TABLE services ADD COLUMN legal_term_unit TEXT NOT NULL DEFAULT 'calendar_days'
    CHECK (legal_term_unit IN ('calendar_days', 'working_days'));
ALTER TABLE services ADD COLUMN silence_assent BOOLEAN NOT NULL DEFAULT FALSE;

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
INSERT INTO instances_new (id, ente_id, service_id, form_id, citizen_id, status, data,
    created_at, updated_at, expires_at, submitted_at, office_id, document, document_digest,
    registration_id, due_date, submit_key)
SELECT id, ente_id, service_id, form_id, citizen_id, status, data, created_at, updated_at,
    expires_at, submitted_at, office_id, document, document_digest, registration_id, due_date,
    submit_key
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

-- DPR 445/2000 art. 53: the sender of an incoming entry, the recipient of an outgoing one.
ALTER TABLE protocol_registrations ADD COLUMN recipient TEXT;
CREATE TRIGGER protocol_registrations_out_has_recipient BEFORE INSERT ON protocol_registrations
WHEN NEW.direction = 'out' AND NEW.recipient IS NULL
BEGIN
    SELECT RAISE(ABORT, 'an outgoing registration names its recipient');
END;

DROP TRIGGER protocol_registrations_only_annulment;
CREATE TRIGGER protocol_registrations_only_annulment BEFORE UPDATE ON protocol_registrations
WHEN OLD.annulled_at IS NOT NULL
    OR NEW.annulled_at IS NULL
    OR NEW.annulment_reason IS NULL
    OR NEW.annulled_by IS NULL
    OR NEW.id IS NOT OLD.id
    OR NEW.ente_id IS NOT OLD.ente_id
    OR NEW.aoo_id IS NOT OLD.aoo_id
    OR NEW.year IS NOT OLD.year
    OR NEW.number IS NOT OLD.number
    OR NEW.registered_at IS NOT OLD.registered_at
    OR NEW.direction IS NOT OLD.direction
    OR NEW.sender IS NOT OLD.sender
    OR NEW.recipient IS NOT OLD.recipient
    OR NEW.subject IS NOT OLD.subject
    OR NEW.document_digest IS NOT OLD.document_digest
    OR NEW.attachments_count IS NOT OLD.attachments_count
    OR NEW.attachments_description IS NOT OLD.attachments_description
    OR NEW.instance_id IS NOT OLD.instance_id
BEGIN
    SELECT RAISE(ABORT, 'protocol registrations are immutable: only a first annulment is allowed');
END;

-- Internal notes of the office: never shown to the citizen.
CREATE TABLE instance_notes (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    staff_user_id BIGINT NOT NULL REFERENCES staff_users (id),
    at TIMESTAMP NOT NULL,
    body TEXT NOT NULL CHECK (length(body) > 0)
);
CREATE INDEX instance_notes_instance ON instance_notes (instance_id, id);

-- What the office and the citizen tell each other about an instance: messages, the request
-- for integration and its answer, the decision, the withdrawal. Each formal one carries its
-- protocol registration.
CREATE TABLE instance_messages (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    at TIMESTAMP NOT NULL,
    sender TEXT NOT NULL CHECK (sender IN ('office', 'citizen')),
    staff_user_id BIGINT REFERENCES staff_users (id),
    kind TEXT NOT NULL CHECK (kind IN ('message', 'integration_request', 'integration_answer',
                                       'decision', 'withdrawal')),
    body TEXT NOT NULL,
    -- JSON: the data of an integration answer.
    data TEXT,
    registration_id BIGINT REFERENCES protocol_registrations (id),
    CHECK ((sender = 'office') = (staff_user_id IS NOT NULL))
);
CREATE INDEX instance_messages_instance ON instance_messages (instance_id, id);

-- The one request for integration an instance may have (L. 241/1990 art. 2 c. 7: the term is
-- suspended once, for at most 30 days): the primary key says "once".
CREATE TABLE integration_requests (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    requested_at TIMESTAMP NOT NULL,
    requested_by BIGINT NOT NULL REFERENCES staff_users (id),
    days INTEGER NOT NULL CHECK (days BETWEEN 1 AND 30),
    -- Italian date: the term is suspended from this day …
    suspended_from DATE NOT NULL,
    -- … and the citizen may answer until this day (included).
    answer_by DATE NOT NULL,
    message_id BIGINT NOT NULL REFERENCES instance_messages (id),
    answered_at TIMESTAMP,
    answer_message_id BIGINT REFERENCES instance_messages (id),
    -- The frozen answer (RFC 8785 JSON) and its SHA-256, registered as incoming.
    answer_document TEXT,
    answer_digest TEXT,
    expired_at TIMESTAMP
);

-- Documents of an instance outside its submission: staff attachments to a request for
-- integration, the citizen's answer attachments, the reply to the decision. Uploaded first,
-- then bound to the message that sends them (unbound ones are swept after a day).
CREATE TABLE instance_documents (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    uploaded_by TEXT NOT NULL CHECK (uploaded_by IN ('office', 'citizen')),
    filename TEXT NOT NULL,
    mime TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    message_id BIGINT REFERENCES instance_messages (id)
);
CREATE INDEX instance_documents_instance ON instance_documents (instance_id);

-- Satisfaction ratings. On purpose no column names a citizen, an instance or a time finer
-- than the month; the id is random. "Already rated" is `instances.rated`.
CREATE TABLE service_ratings (
    id TEXT PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    month TEXT NOT NULL CHECK (length(month) = 7),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    reason TEXT NOT NULL,
    comment TEXT CHECK (comment IS NULL OR length(comment) <= 200)
);
CREATE INDEX service_ratings_service ON service_ratings (service_id, month);

COMMIT;
PRAGMA foreign_keys = ON;
