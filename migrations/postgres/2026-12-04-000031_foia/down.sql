-- Reverting is for development databases: it refuses (CHECK) once an instance is
-- awaiting counter-interested parties or deferred.
DROP TABLE foia_reviews;
DROP TABLE foia_counterparties;
DROP TABLE foia_counterparty_notices;
DROP TABLE foia_requests;
ALTER TABLE instances DROP CONSTRAINT instances_outcome_check;
ALTER TABLE instances ADD CONSTRAINT instances_outcome_check CHECK (outcome IS NULL
    OR outcome IN ('accolta', 'parzialmente_accolta', 'respinta'));
ALTER TABLE instances DROP CONSTRAINT instances_status_check;
ALTER TABLE instances ADD CONSTRAINT instances_status_check CHECK (status IN (
    'draft', 'submitted', 'in_progress', 'awaiting_integration', 'decided', 'closed',
    'withdrawn', 'annulled', 'silence_assent'));
ALTER TABLE enti DROP COLUMN transparency_officer;
