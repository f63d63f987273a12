-- Reverting is for development databases: it refuses (NOT NULL) once a FOIA act or a
-- booking waits for an external register's number.
ALTER TABLE foia_reviews ALTER COLUMN registration_id SET NOT NULL;
ALTER TABLE foia_counterparties ALTER COLUMN registration_id SET NOT NULL;
ALTER TABLE protocol_requests DROP CONSTRAINT protocol_requests_one_owner;
ALTER TABLE protocol_requests DROP COLUMN booking_id;
ALTER TABLE protocol_requests ALTER COLUMN instance_id SET NOT NULL;
ALTER TABLE bookings DROP COLUMN registration_id;
ALTER TABLE aoo DROP COLUMN register_code;
