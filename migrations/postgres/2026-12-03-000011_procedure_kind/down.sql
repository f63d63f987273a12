ALTER TABLE services DROP COLUMN procedure_settings;
ALTER TABLE services DROP COLUMN procedure_kind;
