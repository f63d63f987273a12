-- External protocol systems (issue #12 §5): an AOO's register is the built-in one or an
-- external system reached through an adapter (PEC/e-mail with Allegato 6 messages, or REST).
-- A submission to an external AOO writes a registration request (and its outbox job) in its
-- transaction; the number the external system returns is recorded as a registration marked
-- with the system. Keep in step with migrations/postgres/2026-12-03-000010_external_protocol.

ALTER TABLE aoo ADD COLUMN register TEXT NOT NULL DEFAULT 'builtin'
    CHECK (register IN ('builtin', 'external'));
-- The adapter and its parameters (JSON, no secrets: those are files named here).
ALTER TABLE aoo ADD COLUMN external TEXT CHECK (register = 'builtin' OR external IS NOT NULL);

-- Which external system gave the number (NULL: the built-in register).
ALTER TABLE protocol_registrations ADD COLUMN external_system TEXT;

CREATE TABLE protocol_requests (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    aoo_id BIGINT NOT NULL REFERENCES aoo (id),
    instance_id TEXT NOT NULL REFERENCES instances (id),
    -- What the external system sees as the idempotency key: `<instance id>:submission`.
    idempotency_key TEXT NOT NULL UNIQUE,
    -- `rest` or `pec`.
    adapter TEXT NOT NULL CHECK (adapter IN ('rest', 'pec')),
    -- What to register and what to tell the citizen and the office once registered (JSON).
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'registered', 'failed')),
    -- The Message-ID of the last PEC message sent for it.
    message_id TEXT,
    registration_id BIGINT REFERENCES protocol_registrations (id),
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((status = 'registered') = (registration_id IS NOT NULL))
);
CREATE INDEX protocol_requests_instance ON protocol_requests (instance_id);
CREATE INDEX protocol_requests_message ON protocol_requests (message_id);

-- As 2026-12-03-000007_protocol_review left it, and the external marker cannot change either.
DROP TRIGGER protocol_registrations_only_annulment;
CREATE TRIGGER protocol_registrations_only_annulment BEFORE UPDATE ON protocol_registrations
WHEN OLD.annulled_at IS NOT NULL
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
    OR NEW.external_system IS NOT OLD.external_system
    OR ((NEW.annulled_at IS NOT OLD.annulled_at
            OR NEW.annulment_reason IS NOT OLD.annulment_reason
            OR NEW.annulled_by IS NOT OLD.annulled_by
            OR NEW.annulment_act IS NOT OLD.annulment_act)
        AND (NEW.annulled_at IS NULL
            OR NEW.annulment_reason IS NULL
            OR NEW.annulled_by IS NULL
            OR NEW.annulment_act IS NULL))
BEGIN
    SELECT RAISE(ABORT, 'protocol registrations are immutable: only their filing and a first annulment may change');
END;
