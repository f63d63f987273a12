-- Instances, forms, protocol register, outbox. Same tables as the postgres/ twin;
-- only identity columns and the immutability triggers are written per backend.

-- Routing rules of a service (JSON, office ids resolved at load time).
ALTER TABLE services ADD COLUMN routing TEXT NOT NULL DEFAULT '{"default_office_id":null,"rules":[]}';

CREATE TABLE form_definitions (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (service_id, version)
);

CREATE TABLE protocol_counters (
    aoo_id BIGINT NOT NULL REFERENCES aoo (id),
    year INTEGER NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (aoo_id, year)
);

CREATE TABLE protocol_registrations (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    aoo_id BIGINT NOT NULL REFERENCES aoo (id),
    year INTEGER NOT NULL,
    number BIGINT NOT NULL CHECK (number > 0),
    registered_at TIMESTAMP NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out', 'internal')),
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    document_digest TEXT NOT NULL,
    attachments_count INTEGER NOT NULL,
    attachments_description TEXT NOT NULL,
    instance_id TEXT,
    annulled_at TIMESTAMP,
    annulled_by TEXT,
    annulment_reason TEXT,
    UNIQUE (aoo_id, year, number)
);

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    form_id BIGINT NOT NULL REFERENCES form_definitions (id),
    citizen_id BIGINT NOT NULL REFERENCES citizens (id),
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted')),
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
    UNIQUE (citizen_id, submit_key)
);
CREATE INDEX instances_citizen ON instances (citizen_id, created_at);
CREATE INDEX instances_queue ON instances (office_id, status, submitted_at);
CREATE INDEX instances_expiry ON instances (status, expires_at);

CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    filename TEXT NOT NULL,
    description TEXT,
    kind TEXT NOT NULL,
    mime TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX attachments_instance ON attachments (instance_id);

CREATE TABLE instance_events (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX instance_events_instance ON instance_events (instance_id, id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    locked_by TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- A protocol registration is never deleted and never edited; the only change allowed is its
-- annulment (once, with a reason) — DPR 445/2000 art. 54.
CREATE TRIGGER protocol_registrations_no_delete BEFORE DELETE ON protocol_registrations
BEGIN
    SELECT RAISE(ABORT, 'protocol registrations cannot be deleted');
END;

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
    OR NEW.subject IS NOT OLD.subject
    OR NEW.document_digest IS NOT OLD.document_digest
    OR NEW.attachments_count IS NOT OLD.attachments_count
    OR NEW.attachments_description IS NOT OLD.attachments_description
    OR NEW.instance_id IS NOT OLD.instance_id
BEGIN
    SELECT RAISE(ABORT, 'protocol registrations are immutable: only a first annulment is allowed');
END;

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
