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
DROP TABLE registration_filing_history;
DROP INDEX protocol_registrations_review;
-- SQLite cannot drop a column that references another table: reviewed_by and fascicolo_id
-- stay, unused (and fascicoli with them).
ALTER TABLE protocol_registrations DROP COLUMN reviewed_at;
ALTER TABLE protocol_registrations DROP COLUMN classification;
DROP TABLE fascicolo_counters;
ALTER TABLE services DROP COLUMN default_class;
DROP TABLE classes;
