DROP TABLE service_ratings;
DROP TABLE instance_documents;
DROP TABLE integration_requests;
DROP TABLE instance_messages;
DROP TABLE instance_notes;
CREATE OR REPLACE FUNCTION protocol_registrations_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'protocol registrations cannot be deleted';
    END IF;
    IF OLD.annulled_at IS NOT NULL
        OR NEW.annulled_at IS NULL
        OR NEW.annulment_reason IS NULL
        OR NEW.annulled_by IS NULL
        OR (NEW.id, NEW.ente_id, NEW.aoo_id, NEW.year, NEW.number, NEW.registered_at,
            NEW.direction, NEW.sender, NEW.subject, NEW.document_digest,
            NEW.attachments_count, NEW.attachments_description, NEW.instance_id)
           IS DISTINCT FROM
           (OLD.id, OLD.ente_id, OLD.aoo_id, OLD.year, OLD.number, OLD.registered_at,
            OLD.direction, OLD.sender, OLD.subject, OLD.document_digest,
            OLD.attachments_count, OLD.attachments_description, OLD.instance_id)
    THEN
        RAISE EXCEPTION 'protocol registrations are immutable: only a first annulment is allowed';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
ALTER TABLE protocol_registrations DROP CONSTRAINT protocol_registrations_recipient_check;
ALTER TABLE protocol_registrations DROP COLUMN recipient;
DROP INDEX instances_due;
ALTER TABLE instances DROP COLUMN rated;
ALTER TABLE instances DROP COLUMN integration_expired;
ALTER TABLE instances DROP COLUMN suspended_days;
ALTER TABLE instances DROP COLUMN closed_at;
ALTER TABLE instances DROP COLUMN decided_at;
ALTER TABLE instances DROP COLUMN outcome;
ALTER TABLE instances DROP COLUMN assignee_id;
ALTER TABLE instances DROP COLUMN version;
ALTER TABLE instances DROP CONSTRAINT instances_status_check;
ALTER TABLE instances ADD CONSTRAINT instances_status_check CHECK (status IN ('draft', 'submitted'));
ALTER TABLE services DROP COLUMN silence_assent;
ALTER TABLE services DROP COLUMN legal_term_unit;
ALTER TABLE enti DROP COLUMN patron_day;
