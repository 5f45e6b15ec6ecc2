-- The log: one row a record, in position order. Keys and bodies are bytea,
-- not text or jsonb, because a session key or a state value may hold any
-- bytes (a NUL byte, invalid UTF-8) that text and jsonb refuse, and two
-- different keys must never compare equal.

-- head holds the last position handed out. Every write takes its row lock
-- to get the next position and keeps it until it commits, so records commit
-- in position order and a reader that sees position p sees every record
-- before it.
CREATE TABLE {{schema}}.head (
	one      boolean PRIMARY KEY DEFAULT true CHECK (one),
	position bigint  NOT NULL
);
INSERT INTO {{schema}}.head (position) VALUES (0);

-- sessions holds the live sessions: their incarnation (the position of the
-- creation record) and their version (the last sequence number).
CREATE TABLE {{schema}}.sessions (
	app        bytea  NOT NULL,
	user_id    bytea  NOT NULL,
	session_id bytea  NOT NULL,
	created    bigint NOT NULL,
	version    bigint NOT NULL,
	PRIMARY KEY (app, user_id, session_id)
);

-- records: kind 1 created, 2 event appended, 3 deleted, 4 state retained.
-- body is the record as JSON (its position is the column's).
CREATE TABLE {{schema}}.records (
	position   bigint   PRIMARY KEY,
	kind       smallint NOT NULL CHECK (kind BETWEEN 1 AND 4),
	app        bytea    NOT NULL,
	user_id    bytea    NOT NULL,
	session_id bytea    NOT NULL,
	seq        bigint   NOT NULL DEFAULT 0,
	event_id   bytea,
	body       bytea    NOT NULL
);
-- The database itself keeps a session's sequence without gaps or repeats
-- (optimistic concurrency) and its event IDs unique (idempotent retries).
-- A deleted session's events are removed, so these hold per incarnation.
CREATE UNIQUE INDEX records_session_seq ON {{schema}}.records (app, user_id, session_id, seq) WHERE kind = 2;
CREATE UNIQUE INDEX records_session_event ON {{schema}}.records (app, user_id, session_id, event_id) WHERE kind = 2;
CREATE INDEX records_app ON {{schema}}.records (app, position);
CREATE INDEX records_user ON {{schema}}.records (app, user_id, position);

-- app_state and user_state hold the live app and user state, written in
-- the same transaction as the record that changes them, for SQL readers.
-- value is JSON.
CREATE TABLE {{schema}}.app_state (
	app      bytea  NOT NULL,
	key      bytea  NOT NULL,
	value    bytea  NOT NULL,
	position bigint NOT NULL,
	PRIMARY KEY (app, key)
);
CREATE TABLE {{schema}}.user_state (
	app      bytea  NOT NULL,
	user_id  bytea  NOT NULL,
	key      bytea  NOT NULL,
	value    bytea  NOT NULL,
	position bigint NOT NULL,
	PRIMARY KEY (app, user_id, key)
);
