-- The protocol clerk's review (DPR 445/2000 art. 56, AgID Linee guida 2021 §3.1): the ente's
-- titolario (classification scheme), fascicoli, and per registration its classification,
-- fascicolo and review. These are not among the register's immutable fields (art. 53): they
-- may be corrected, each change written in registration_filing_history.
-- Keep in step with migrations/postgres/2026-12-03-000007_protocol_review/up.sql.

-- Titles ("I") and classes ("I.1") of the ente's titolario. Entries the bundle no longer has
-- are deactivated, never deleted: registrations keep naming them.
CREATE TABLE classes (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    parent_code TEXT,
    position INTEGER NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, code)
);

-- The class a service's registrations get when they are made.
ALTER TABLE services ADD COLUMN default_class TEXT;

-- Numbers of fascicoli: one sequence per ente, year and class.
CREATE TABLE fascicolo_counters (
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    year INTEGER NOT NULL,
    class_code TEXT NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (ente_id, year, class_code)
);

CREATE TABLE fascicoli (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    aoo_id BIGINT NOT NULL REFERENCES aoo (id),
    year INTEGER NOT NULL,
    class_code TEXT NOT NULL,
    number BIGINT NOT NULL CHECK (number > 0),
    subject TEXT NOT NULL CHECK (length(trim(subject)) > 0),
    office_id BIGINT NOT NULL REFERENCES offices (id),
    created_at TIMESTAMP NOT NULL,
    created_by BIGINT NOT NULL REFERENCES staff_users (id),
    UNIQUE (ente_id, year, class_code, number)
);
CREATE INDEX fascicoli_aoo ON fascicoli (aoo_id, year, class_code);

ALTER TABLE protocol_registrations ADD COLUMN classification TEXT;
ALTER TABLE protocol_registrations ADD COLUMN fascicolo_id BIGINT REFERENCES fascicoli (id);
ALTER TABLE protocol_registrations ADD COLUMN reviewed_at TIMESTAMP;
ALTER TABLE protocol_registrations ADD COLUMN reviewed_by BIGINT REFERENCES staff_users (id);
CREATE INDEX protocol_registrations_review ON protocol_registrations (aoo_id, reviewed_at, registered_at);

-- Who changed what of a registration's filing, and when. Append-only.
CREATE TABLE registration_filing_history (
    id INTEGER PRIMARY KEY,
    registration_id BIGINT NOT NULL REFERENCES protocol_registrations (id),
    at TIMESTAMP NOT NULL,
    staff_user_id BIGINT NOT NULL REFERENCES staff_users (id),
    field TEXT NOT NULL CHECK (field IN ('classification', 'fascicolo', 'reviewed')),
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX registration_filing_history_reg ON registration_filing_history (registration_id, id);
CREATE TRIGGER registration_filing_history_no_update BEFORE UPDATE ON registration_filing_history
BEGIN
    SELECT RAISE(ABORT, 'the filing history cannot change');
END;
CREATE TRIGGER registration_filing_history_no_delete BEFORE DELETE ON registration_filing_history
BEGIN
    SELECT RAISE(ABORT, 'the filing history cannot change');
END;

-- The register's fields (art. 53) never change; the annulment fields change once, all
-- together, naming reason, author and act; classification, fascicolo and review may change
-- until the entry is annulled, and then nothing does.
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
