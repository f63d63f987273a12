-- The guard as 2026-12-03-000007_protocol_review left it.
CREATE OR REPLACE FUNCTION protocol_registrations_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'protocol registrations cannot be deleted';
    END IF;
    IF OLD.annulled_at IS NOT NULL
        OR (NEW.id, NEW.ente_id, NEW.aoo_id, NEW.year, NEW.number, NEW.registered_at,
            NEW.direction, NEW.sender, NEW.recipient, NEW.subject, NEW.document_digest,
            NEW.attachments_count, NEW.attachments_description, NEW.instance_id)
           IS DISTINCT FROM
           (OLD.id, OLD.ente_id, OLD.aoo_id, OLD.year, OLD.number, OLD.registered_at,
            OLD.direction, OLD.sender, OLD.recipient, OLD.subject, OLD.document_digest,
            OLD.attachments_count, OLD.attachments_description, OLD.instance_id)
        OR ((NEW.annulled_at, NEW.annulment_reason, NEW.annulled_by, NEW.annulment_act)
                IS DISTINCT FROM
                (OLD.annulled_at, OLD.annulment_reason, OLD.annulled_by, OLD.annulment_act)
            AND (NEW.annulled_at IS NULL
                OR NEW.annulment_reason IS NULL
                OR NEW.annulled_by IS NULL
                OR NEW.annulment_act IS NULL))
    THEN
        RAISE EXCEPTION 'protocol registrations are immutable: only their filing and a first annulment may change';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
DROP TABLE protocol_requests;
ALTER TABLE protocol_registrations DROP COLUMN external_system;
ALTER TABLE aoo DROP CONSTRAINT aoo_external_check;
ALTER TABLE aoo DROP COLUMN external;
ALTER TABLE aoo DROP COLUMN register;
