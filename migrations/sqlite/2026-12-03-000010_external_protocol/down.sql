-- The guard as 2026-12-03-000007_protocol_review left it.
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
DROP TABLE protocol_requests;
ALTER TABLE protocol_registrations DROP COLUMN external_system;
ALTER TABLE aoo DROP COLUMN external;
ALTER TABLE aoo DROP COLUMN register;
