-- Every filing of an AOO with an external register goes to the ente's system (issue #12 §5):
-- besides an instance's submission and its messages, the FOIA acts (the notices to the
-- counter-interested parties, their answers, the request for review and its decision) and
-- the registration of bookings. Until the system answers, their rows name no registration;
-- a booking's request belongs to no instance. And the register's code in the segnatura
-- (`CodiceRegistro`) is the AOO's. Keep in step with
-- migrations/sqlite/2026-12-06-000061_external_acts/up.sql.

ALTER TABLE aoo ADD COLUMN register_code TEXT NOT NULL DEFAULT 'PROTOCOLLO'
    CHECK (length(register_code) BETWEEN 1 AND 16);

-- A booking's registration (when its service registers bookings), as a FOIA act's or a
-- message's row names its own: what its segnatura and the personal area read.
ALTER TABLE bookings ADD COLUMN registration_id BIGINT REFERENCES protocol_registrations (id);

ALTER TABLE protocol_requests ALTER COLUMN instance_id DROP NOT NULL;
ALTER TABLE protocol_requests ADD COLUMN booking_id TEXT REFERENCES bookings (id);
ALTER TABLE protocol_requests ADD CONSTRAINT protocol_requests_one_owner
    CHECK ((instance_id IS NULL) <> (booking_id IS NULL));

ALTER TABLE foia_counterparties ALTER COLUMN registration_id DROP NOT NULL;
ALTER TABLE foia_reviews ALTER COLUMN registration_id DROP NOT NULL;
