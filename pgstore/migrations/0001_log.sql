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

-- write_state applies a record's app: and user: writes (keys without their
-- prefix; a NULL value removes the key) at position p_pos. Every write of
-- state goes through it, in the transaction of its record.
CREATE FUNCTION {{schema}}.write_state(
	p_app bytea, p_user bytea, p_keys bytea[], p_values bytea[], p_user_scoped boolean[], p_pos bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
		IF p_user_scoped[i] AND p_values[i] IS NULL THEN
			DELETE FROM {{schema}}.user_state WHERE app = p_app AND user_id = p_user AND key = p_keys[i];
		ELSIF p_user_scoped[i] THEN
			INSERT INTO {{schema}}.user_state (app, user_id, key, value, position) VALUES (p_app, p_user, p_keys[i], p_values[i], p_pos)
				ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value, position = excluded.position;
		ELSIF p_values[i] IS NULL THEN
			DELETE FROM {{schema}}.app_state WHERE app = p_app AND key = p_keys[i];
		ELSE
			INSERT INTO {{schema}}.app_state (app, key, value, position) VALUES (p_app, p_keys[i], p_values[i], p_pos)
				ON CONFLICT (app, key) DO UPDATE SET value = excluded.value, position = excluded.position;
		END IF;
	END LOOP;
END
$$;

-- append_event appends one event record, in one statement, so that many
-- appends can go to the server in one round trip and commit together (one
-- WAL flush for all of them). It returns a status instead of raising, so
-- that one append's refusal leaves the others of its batch alone:
-- 0 appended (at position), 1 no such session (or not the incarnation
-- p_incarnation names, unless it is 0), 2 duplicate event ID (the stored
-- record's position and body), 3 stale (the session's version).
-- It takes the head lock before the session's row, as every write does, so
-- that writers never wait for each other in a cycle.
CREATE FUNCTION {{schema}}.append_event(
	p_app bytea, p_user bytea, p_session bytea, p_seq bigint, p_event_id bytea, p_body bytea,
	p_keys bytea[], p_values bytea[], p_user_scoped boolean[], p_channel text, p_payload text, p_incarnation bigint,
	OUT status smallint, OUT pos bigint, OUT created bigint, OUT version bigint, OUT stored bytea)
LANGUAGE plpgsql AS $$
BEGIN
	SELECT h.position INTO pos FROM {{schema}}.head h FOR UPDATE;
	SELECT s.created, s.version INTO created, version FROM {{schema}}.sessions s
		WHERE s.app = p_app AND s.user_id = p_user AND s.session_id = p_session FOR UPDATE;
	IF NOT FOUND OR (p_incarnation <> 0 AND created <> p_incarnation) THEN
		status := 1;
		RETURN;
	END IF;
	SELECT r.position, r.body INTO pos, stored FROM {{schema}}.records r
		WHERE r.kind = 2 AND r.app = p_app AND r.user_id = p_user AND r.session_id = p_session AND r.event_id = p_event_id;
	IF FOUND THEN
		status := 2;
		RETURN;
	END IF;
	IF p_seq <> version + 1 THEN
		status := 3;
		RETURN;
	END IF;
	UPDATE {{schema}}.head SET position = position + 1 RETURNING position INTO pos;
	INSERT INTO {{schema}}.records (position, kind, app, user_id, session_id, seq, event_id, body)
		VALUES (pos, 2, p_app, p_user, p_session, p_seq, p_event_id, p_body);
	UPDATE {{schema}}.sessions SET version = p_seq
		WHERE app = p_app AND user_id = p_user AND session_id = p_session;
	PERFORM {{schema}}.write_state(p_app, p_user, p_keys, p_values, p_user_scoped, pos);
	IF p_channel IS NOT NULL THEN
		PERFORM pg_notify(p_channel, p_payload);
	END IF;
	status := 0;
END
$$;
