-- Reverting is for development databases: it refuses (NOT NULL) once a FOIA act or a
-- booking waits for an external register's number.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE protocol_requests_old (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    aoo_id BIGINT NOT NULL REFERENCES aoo (id),
    instance_id TEXT NOT NULL REFERENCES instances (id),
    idempotency_key TEXT NOT NULL UNIQUE,
    adapter TEXT NOT NULL CHECK (adapter IN ('rest', 'pec')),
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'registered', 'failed')),
    message_id TEXT,
    registration_id BIGINT REFERENCES protocol_registrations (id),
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((status = 'registered') = (registration_id IS NOT NULL))
);
INSERT INTO protocol_requests_old SELECT
    id, ente_id, aoo_id, instance_id, idempotency_key, adapter, payload, status, message_id,
    registration_id, last_error, created_at, updated_at
FROM protocol_requests;
DROP TABLE protocol_requests;
ALTER TABLE protocol_requests_old RENAME TO protocol_requests;
CREATE INDEX protocol_requests_instance ON protocol_requests (instance_id);
CREATE INDEX protocol_requests_message ON protocol_requests (message_id);

CREATE TABLE foia_counterparties_old (
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
INSERT INTO foia_counterparties_old SELECT * FROM foia_counterparties;
DROP TABLE foia_counterparties;
ALTER TABLE foia_counterparties_old RENAME TO foia_counterparties;

CREATE TABLE foia_reviews_old (
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
INSERT INTO foia_reviews_old SELECT * FROM foia_reviews;
DROP TABLE foia_reviews;
ALTER TABLE foia_reviews_old RENAME TO foia_reviews;
CREATE INDEX foia_reviews_ente ON foia_reviews (ente_id, decided_at);

ALTER TABLE bookings DROP COLUMN registration_id;
ALTER TABLE aoo DROP COLUMN register_code;

COMMIT;
PRAGMA foreign_keys = ON;
