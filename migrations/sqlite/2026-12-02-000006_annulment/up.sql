-- Annulment of protocol registrations (DPR 445/2000 art. 54): the reference of the act that
-- authorizes it, and the right to annul, given to protocol clerks one by one. Keep in step
-- with migrations/postgres/2026-12-02-000006_annulment/up.sql.

ALTER TABLE staff_roles ADD COLUMN can_annul BOOLEAN NOT NULL DEFAULT FALSE
    CHECK (NOT can_annul OR role = 'protocol_clerk');

ALTER TABLE protocol_registrations ADD COLUMN annulment_act TEXT;

-- As before, and an annulment names its authorizing act.
DROP TRIGGER protocol_registrations_only_annulment;
CREATE TRIGGER protocol_registrations_only_annulment BEFORE UPDATE ON protocol_registrations
WHEN OLD.annulled_at IS NOT NULL
    OR NEW.annulled_at IS NULL
    OR NEW.annulment_reason IS NULL
    OR NEW.annulled_by IS NULL
    OR NEW.annulment_act IS NULL
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
