-- pgbench baseline for docs/BENCHMARKS.md: the writes of one submission (instance update,
-- two outbox rows, history rows) and the serialised protocol counter with its registration,
-- in one transaction. Tables: see the set-up lines in docs/BENCHMARKS.md.
\set iid random(1, 200000)
BEGIN;
UPDATE inst SET status = 'submitted', doc = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' WHERE id = :iid;
INSERT INTO outbox(payload) VALUES ('receipt'), ('notice');
INSERT INTO ev(iid, kind) VALUES (:iid, 'submitted'), (:iid, 'routed');
WITH c AS (INSERT INTO counter VALUES (1, 2026, 1) ON CONFLICT (aoo, year) DO UPDATE SET n = counter.n + 1 RETURNING n) INSERT INTO reg(aoo, year, n, subject, digest) SELECT 1, 2026, n, 's', 'd' FROM c;
COMMIT;
