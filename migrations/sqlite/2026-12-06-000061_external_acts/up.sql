-- Every filing of an AOO with an external register goes to the ente's system (issue #12 §5):
-- besides an instance's submission and its messages, the FOIA acts (the notices to the
-- counter-interested parties, their answers, the request for review and its decision) and
-- the registration of bookings. Until the system answers, their rows name no registration;
-- a booking's request belongs to no instance. And the register's code in the segnatura
-- (`CodiceRegistro`) is the AOO's. Keep in step with
-- migrations/postgres/2026-12-06-000061_external_acts/up.sql.
--
-- SQLite cannot drop a NOT NULL, so the three tables are rebuilt as in 2026-12-04-000031_foia
-- (foreign keys off, new table, copy, drop, rename); nothing references them.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

ALTER TABLE aoo ADD COLUMN register_code TEXT NOT NULL DEFAULT 'PROTOCOLLO'
    CHECK (length(register_code) BETWEEN 1 AND 16);

-- A booking's registration (when its service registers bookings), as a FOIA act's or a
-- message's row names its own: what its segnatura and the personal area read.
ALTER TABLE bookings ADD COLUMN registration_id BIGINT REFERENCES protocol_registrations (id);

CREATE TABLE protocol_requests_new (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    aoo_id BIGINT NOT NULL REFERENCES aoo (id),
    -- The instance whose act it registers, or the booking (`booking_id`; exactly one).
    instance_id TEXT REFERENCES instances (id),
    -- What the external system sees as the idempotency key: `<instance id>:submission`,
    -- `<instance id>:message:<n>`, `<instance id>:<act>`, `booking:<booking id>`.
    idempotency_key TEXT NOT NULL UNIQUE,
    adapter TEXT NOT NULL CHECK (adapter IN ('rest', 'pec')),
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'registered', 'failed')),
    message_id TEXT,
    registration_id BIGINT REFERENCES protocol_registrations (id),
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- Last, where PostgreSQL's ALTER TABLE puts it: both backends list the same columns.
    booking_id TEXT REFERENCES bookings (id),
    CHECK ((status = 'registered') = (registration_id IS NOT NULL)),
    CHECK ((instance_id IS NULL) <> (booking_id IS NULL))
);
INSERT INTO protocol_requests_new (
    id, ente_id, aoo_id, instance_id, idempotency_key, adapter, payload, status, message_id,
    registration_id, last_error, created_at, updated_at)
SELECT
    id, ente_id, aoo_id, instance_id, idempotency_key, adapter, payload, status, message_id,
    registration_id, last_error, created_at, updated_at
FROM protocol_requests;
DROP TABLE protocol_requests;
ALTER TABLE protocol_requests_new RENAME TO protocol_requests;
CREATE INDEX protocol_requests_instance ON protocol_requests (instance_id);
CREATE INDEX protocol_requests_message ON protocol_requests (message_id);

CREATE TABLE foia_counterparties_new (
    id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES foia_counterparty_notices (instance_id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    position INTEGER NOT NULL CHECK (position >= 1),
    name TEXT NOT NULL CHECK (length(name) > 0),
    address TEXT,
    email TEXT,
    -- NULL while the AOO's external register has not numbered the notice.
    registration_id BIGINT REFERENCES protocol_registrations (id),
    answered_at TIMESTAMP,
    opposed BOOLEAN,
    answer_text TEXT,
    answer_registration_id BIGINT REFERENCES protocol_registrations (id),
    UNIQUE (instance_id, position),
    CHECK ((answered_at IS NULL) = (opposed IS NULL))
);
INSERT INTO foia_counterparties_new SELECT
    id, instance_id, ente_id, position, name, address, email, registration_id, answered_at,
    opposed, answer_text, answer_registration_id
FROM foia_counterparties;
DROP TABLE foia_counterparties;
ALTER TABLE foia_counterparties_new RENAME TO foia_counterparties;

CREATE TABLE foia_reviews_new (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    requested_at TIMESTAMP NOT NULL,
    ground TEXT NOT NULL CHECK (ground IN ('refused', 'partly_granted', 'deferred', 'no_answer')),
    reason TEXT NOT NULL CHECK (length(reason) > 0),
    due_date DATE NOT NULL,
    -- NULL while the AOO's external register has not numbered the request.
    registration_id BIGINT REFERENCES protocol_registrations (id),
    decided_at TIMESTAMP,
    decided_by BIGINT REFERENCES staff_users (id),
    outcome TEXT CHECK (outcome IS NULL
        OR outcome IN ('accolta', 'parzialmente_accolta', 'respinta', 'differita')),
    decision_limit TEXT,
    motivation TEXT,
    decision_registration_id BIGINT REFERENCES protocol_registrations (id),
    CHECK ((decided_at IS NULL) = (outcome IS NULL))
);
INSERT INTO foia_reviews_new SELECT
    instance_id, ente_id, requested_at, ground, reason, due_date, registration_id, decided_at,
    decided_by, outcome, decision_limit, motivation, decision_registration_id
FROM foia_reviews;
DROP TABLE foia_reviews;
ALTER TABLE foia_reviews_new RENAME TO foia_reviews;
CREATE INDEX foia_reviews_ente ON foia_reviews (ente_id, decided_at);

COMMIT;
PRAGMA foreign_keys = ON;
