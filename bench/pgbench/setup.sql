-- The floor for an append on this server: what pgbench reaches with one
-- transaction per append that does the least a durable append does, an
-- UPDATE of the session's row (its version) and an INSERT of a record of
-- the size of a sessionlog record, into a table keyed like pgstore's log
-- (position, plus a unique index on session and sequence number). Each
-- pgbench client appends to a session of its own, as the Go benchmarks'
-- writers do. Run from the bench directory:
--
--	psql "$SESSIONLOG_POSTGRES_DSN" -f pgbench/setup.sql
--	pgbench -n -f pgbench/append.sql -c 1 -j 1 -T 20 "$SESSIONLOG_POSTGRES_DSN"
--	pgbench -n -f pgbench/append.sql -c 16 -j 2 -T 20 "$SESSIONLOG_POSTGRES_DSN"
--	psql "$SESSIONLOG_POSTGRES_DSN" -c 'DROP SCHEMA bench_pgbench CASCADE'
DROP SCHEMA IF EXISTS bench_pgbench CASCADE;
CREATE SCHEMA bench_pgbench;
CREATE TABLE bench_pgbench.sessions (
	app        bytea  NOT NULL,
	user_id    bytea  NOT NULL,
	session_id bytea  NOT NULL,
	version    bigint NOT NULL,
	updated    text   NOT NULL,
	PRIMARY KEY (app, user_id, session_id)
);
CREATE TABLE bench_pgbench.records (
	position   bigserial PRIMARY KEY,
	kind       smallint  NOT NULL,
	app        bytea     NOT NULL,
	user_id    bytea     NOT NULL,
	session_id bytea     NOT NULL,
	seq        bigint    NOT NULL,
	event_id   bytea,
	body       bytea     NOT NULL
);
CREATE UNIQUE INDEX ON bench_pgbench.records (app, user_id, session_id, seq);
-- pgbench numbers its clients from 0.
INSERT INTO bench_pgbench.sessions (app, user_id, session_id, version, updated)
SELECT 'app', 'u', convert_to('s' || c, 'UTF8'), 0, '' FROM generate_series(0, 63) c;
