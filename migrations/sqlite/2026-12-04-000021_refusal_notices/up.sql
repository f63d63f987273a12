-- The preavviso di rigetto (L. 241/1990 art. 10-bis) of a residence declaration (issue #13):
-- one per instance (the primary key says "once"); while it stands, the 45 days of
-- silence-assent (DL 5/2012 art. 5) are suspended, so the daily job leaves the instance to
-- the office. The text sent to the citizen is the message it names. Keep in step with
-- migrations/postgres/2026-12-04-000021_refusal_notices.

CREATE TABLE refusal_notices (
    instance_id TEXT PRIMARY KEY REFERENCES instances (id),
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    sent_at TIMESTAMP NOT NULL,
    sent_by BIGINT NOT NULL REFERENCES staff_users (id),
    -- Italian date: the citizen may send observations until this day (included, 10 days).
    observations_by DATE NOT NULL,
    message_id BIGINT NOT NULL REFERENCES instance_messages (id)
);
