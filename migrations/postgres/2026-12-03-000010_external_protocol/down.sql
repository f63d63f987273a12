-- The guard as migration 000006 left it.
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
DROP TABLE protocol_requests;
ALTER TABLE protocol_registrations DROP COLUMN external_system;
ALTER TABLE aoo DROP CONSTRAINT aoo_external_check;
ALTER TABLE aoo DROP COLUMN external;
ALTER TABLE aoo DROP COLUMN register;
