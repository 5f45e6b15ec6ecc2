-- One append: the session's version goes up by one and a record of about
-- 300 bytes (a sessionlog event record's size) goes in at that sequence
-- number, in one transaction. See setup.sql.
BEGIN;
WITH s AS (
	UPDATE bench_pgbench.sessions SET version = version + 1, updated = now()::text
	WHERE app = 'app' AND user_id = 'u' AND session_id = convert_to('s' || :client_id, 'UTF8')
	RETURNING version
)
INSERT INTO bench_pgbench.records (kind, app, user_id, session_id, seq, event_id, body)
SELECT 2, 'app', 'u', convert_to('s' || :client_id, 'UTF8'), s.version, convert_to('e' || s.version, 'UTF8'),
	convert_to(format('{"position":0,"kind":"eventAppended","key":{"appName":"app","userId":"u","id":"s%s"},"seq":%s,"event":{"id":"e%s","author":"agent","timestamp":"%s","content":{"parts":[{"text":"It is sunny."}],"role":"model"},"actions":{"stateDelta":{"app:a":%s,"k":%s,"user:u":%s}}},"time":"%s"}',
		:client_id, s.version, s.version, now(), s.version, s.version, s.version, now()), 'UTF8')
FROM s;
END;
