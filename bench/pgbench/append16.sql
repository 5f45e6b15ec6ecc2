-- The floor for a batch of 16 appends: the 16 sessions' versions in one
-- UPDATE and their 16 records (as append.sql writes one) in one INSERT, one
-- transaction, and no read model: what the server does at least for the
-- log alone when appends travel together. Each transaction takes one of
-- four groups of 16 sessions. See setup.sql; run from the bench directory:
--
--	pgbench -n -f pgbench/append16.sql -c 1 -j 1 -T 10 "$SESSIONLOG_POSTGRES_DSN"
\set b random(0, 3)
BEGIN;
WITH s AS (
	UPDATE bench_pgbench.sessions SET version = version + 1, updated = now()::text
	WHERE app = 'app' AND user_id = 'u' AND session_id = ANY (ARRAY(SELECT convert_to('s' || (:b * 16 + g), 'UTF8') FROM generate_series(0, 15) g))
	RETURNING session_id, version
)
INSERT INTO bench_pgbench.records (kind, app, user_id, session_id, seq, event_id, body)
SELECT 2, 'app', 'u', s.session_id, s.version, convert_to('e' || s.version, 'UTF8'),
	convert_to(format('{"position":0,"kind":"eventAppended","key":{"appName":"app","userId":"u","id":"%s"},"seq":%s,"event":{"id":"e%s","author":"agent","timestamp":"%s","content":{"parts":[{"text":"It is sunny."}],"role":"model"},"actions":{"stateDelta":{"app:a":%s,"k":%s,"user:u":%s}}},"time":"%s"}',
		s.session_id, s.version, s.version, now(), s.version, s.version, s.version, now()), 'UTF8')
FROM s;
END;
