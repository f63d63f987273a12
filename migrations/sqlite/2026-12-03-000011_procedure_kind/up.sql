-- The procedure kind of a service (issue #13): the rules a JSON Schema cannot express live
-- in src/procedures/<kind>.rs and run at step validation and at submission; the kind's own
-- settings (deadlines, tariffs, ...) come from the service's [procedure] table in the bundle,
-- stored as JSON. Keep in step with migrations/postgres/2026-12-03-000011_procedure_kind.

ALTER TABLE services ADD COLUMN procedure_kind TEXT
    CHECK (procedure_kind IN ('residenza', 'tari', 'foia'));
ALTER TABLE services ADD COLUMN procedure_settings TEXT;
