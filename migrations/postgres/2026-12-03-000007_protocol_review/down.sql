CREATE OR REPLACE FUNCTION protocol_registrations_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'protocol registrations cannot be deleted';
    END IF;
    IF OLD.annulled_at IS NOT NULL
        OR NEW.annulled_at IS NULL
        OR NEW.annulment_reason IS NULL
        OR NEW.annulled_by IS NULL
        OR NEW.annulment_act IS NULL
        OR (NEW.id, NEW.ente_id, NEW.aoo_id, NEW.year, NEW.number, NEW.registered_at,
            NEW.direction, NEW.sender, NEW.recipient, NEW.subject, NEW.document_digest,
            NEW.attachments_count, NEW.attachments_description, NEW.instance_id)
           IS DISTINCT FROM
           (OLD.id, OLD.ente_id, OLD.aoo_id, OLD.year, OLD.number, OLD.registered_at,
            OLD.direction, OLD.sender, OLD.recipient, OLD.subject, OLD.document_digest,
            OLD.attachments_count, OLD.attachments_description, OLD.instance_id)
    THEN
        RAISE EXCEPTION 'protocol registrations are immutable: only a first annulment is allowed';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
DROP TABLE registration_filing_history;
DROP FUNCTION registration_filing_history_guard();
ALTER TABLE protocol_registrations DROP COLUMN reviewed_by;
ALTER TABLE protocol_registrations DROP COLUMN reviewed_at;
ALTER TABLE protocol_registrations DROP COLUMN fascicolo_id;
ALTER TABLE protocol_registrations DROP COLUMN classification;
DROP TABLE fascicoli;
DROP TABLE fascicolo_counters;
ALTER TABLE services DROP COLUMN default_class;
DROP TABLE classes;
