DROP TABLE outbox;
DROP TABLE instance_events;
DROP TABLE attachments;
DROP TABLE instances;
DROP TABLE protocol_registrations;
DROP TABLE protocol_counters;
DROP TABLE form_definitions;
ALTER TABLE services DROP COLUMN routing;
