-- The read model: everything Load and List serve, written in the same
-- transaction as the record that changes it, so that a replica folds
-- nothing itself and serves every read from these tables. The state of the
-- three scopes is folded by one function, write_state. A database that
-- holds records already is brought up to date by the upgrade step of this
-- version (upgrade.go), which folds its live sessions' records into
-- session_state and sessions.updated; 0003 then makes updated required.

-- session_state holds each live session's own state: the keys without a
-- scope prefix, as app_state and user_state hold the app's and the user's.
-- A session's rows go with it when it is deleted. value is JSON.
CREATE TABLE {{schema}}.session_state (
	app        bytea  NOT NULL,
	user_id    bytea  NOT NULL,
	session_id bytea  NOT NULL,
	key        bytea  NOT NULL,
	value      bytea  NOT NULL,
	position   bigint NOT NULL,
	PRIMARY KEY (app, user_id, session_id, key)
);

-- updated is the session's last update time: its creation time, then each
-- event's time, in the form sessionlog writes times (RFC 3339 in UTC with up
-- to nine fractional digits, finer than timestamptz keeps; SQL readers can
-- cast it to timestamptz). List's order, by user ID and then session ID in
-- byte order, is the order of the sessions' primary key (app, user_id,
-- session_id): bytea compares bytes as Go compares strings.
ALTER TABLE {{schema}}.sessions ADD COLUMN updated text;

-- app_freed and user_freed hold, per app and per user in an app, the last
-- position of the records a deletion freed there. An app or user reader
-- whose position is below it would skip those records without knowing, so
-- it gets ErrCompacted instead, naming that position. Deletions before this
-- version are counted as freeing everything before them.
CREATE TABLE {{schema}}.app_freed (
	app      bytea  PRIMARY KEY,
	position bigint NOT NULL
);
CREATE TABLE {{schema}}.user_freed (
	app      bytea  NOT NULL,
	user_id  bytea  NOT NULL,
	position bigint NOT NULL,
	PRIMARY KEY (app, user_id)
);
INSERT INTO {{schema}}.app_freed (app, position)
	SELECT app, max(position) - 1 FROM {{schema}}.records WHERE kind = 3 GROUP BY app;
INSERT INTO {{schema}}.user_freed (app, user_id, position)
	SELECT app, user_id, max(position) - 1 FROM {{schema}}.records WHERE kind = 3 GROUP BY app, user_id;

-- The functions of version 1 wrote no session state: they go, so that a
-- replica running older code fails instead of writing around the read model.
DROP FUNCTION {{schema}}.append_event(bytea, bytea, bytea, bigint, bytea, bytea, bytea[], bytea[], boolean[], text, text, bigint);
DROP FUNCTION {{schema}}.write_state(bytea, bytea, bytea[], bytea[], boolean[], bigint);

-- write_state folds a record's state writes at position p_pos: p_keys[i]
-- (without its prefix) is set to p_values[i], or removed when that is
-- NULL, in the scope p_scopes[i] names: 0 the session's own state, 1 the
-- app's, 2 the user's. Every write of state goes through it, in the
-- transaction of its record, which holds the head lock: writes are folded
-- in position order, so the last write wins in every scope.
CREATE FUNCTION {{schema}}.write_state(
	p_app bytea, p_user bytea, p_session bytea, p_keys bytea[], p_values bytea[], p_scopes smallint[], p_pos bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
		CASE p_scopes[i]
		WHEN 0 THEN
			IF p_values[i] IS NULL THEN
				DELETE FROM {{schema}}.session_state
					WHERE app = p_app AND user_id = p_user AND session_id = p_session AND key = p_keys[i];
			ELSE
				INSERT INTO {{schema}}.session_state (app, user_id, session_id, key, value, position)
					VALUES (p_app, p_user, p_session, p_keys[i], p_values[i], p_pos)
					ON CONFLICT (app, user_id, session_id, key) DO UPDATE SET value = excluded.value, position = excluded.position;
			END IF;
		WHEN 1 THEN
			IF p_values[i] IS NULL THEN
				DELETE FROM {{schema}}.app_state WHERE app = p_app AND key = p_keys[i];
			ELSE
				INSERT INTO {{schema}}.app_state (app, key, value, position) VALUES (p_app, p_keys[i], p_values[i], p_pos)
					ON CONFLICT (app, key) DO UPDATE SET value = excluded.value, position = excluded.position;
			END IF;
		WHEN 2 THEN
			IF p_values[i] IS NULL THEN
				DELETE FROM {{schema}}.user_state WHERE app = p_app AND user_id = p_user AND key = p_keys[i];
			ELSE
				INSERT INTO {{schema}}.user_state (app, user_id, key, value, position) VALUES (p_app, p_user, p_keys[i], p_values[i], p_pos)
					ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value, position = excluded.position;
			END IF;
		END CASE;
	END LOOP;
END
$$;

-- create_session creates a session in one statement (one round trip):
-- status 0 created at position pos, with the session's merged state in
-- keys and vals (its own keys, then the app's and the user's under their
-- app: and user: prefixes); 1 the session exists (nothing written).
CREATE FUNCTION {{schema}}.create_session(
	p_app bytea, p_user bytea, p_session bytea, p_body bytea, p_time text,
	p_keys bytea[], p_values bytea[], p_scopes smallint[], p_channel text, p_payload text,
	OUT status smallint, OUT pos bigint, OUT keys bytea[], OUT vals bytea[])
LANGUAGE plpgsql AS $$
BEGIN
	-- The head lock first, as every write takes it: every creator and
	-- every deleter of this session waits here, so the check below sees
	-- what the last of them committed.
	PERFORM 1 FROM {{schema}}.head h FOR UPDATE;
	PERFORM 1 FROM {{schema}}.sessions s WHERE s.app = p_app AND s.user_id = p_user AND s.session_id = p_session;
	IF FOUND THEN
		status := 1;
		RETURN;
	END IF;
	UPDATE {{schema}}.head SET position = position + 1 RETURNING position INTO pos;
	INSERT INTO {{schema}}.sessions (app, user_id, session_id, created, version, updated)
		VALUES (p_app, p_user, p_session, pos, 0, p_time);
	INSERT INTO {{schema}}.records (position, kind, app, user_id, session_id, seq, event_id, body)
		VALUES (pos, 1, p_app, p_user, p_session, 0, NULL, p_body);
	PERFORM {{schema}}.write_state(p_app, p_user, p_session, p_keys, p_values, p_scopes, pos);
	SELECT array_agg(m.key), array_agg(m.value) INTO keys, vals FROM (
		SELECT s.key, s.value FROM {{schema}}.session_state s
			WHERE s.app = p_app AND s.user_id = p_user AND s.session_id = p_session
		UNION ALL SELECT 'app:'::bytea || a.key, a.value FROM {{schema}}.app_state a WHERE a.app = p_app
		UNION ALL SELECT 'user:'::bytea || u.key, u.value FROM {{schema}}.user_state u
			WHERE u.app = p_app AND u.user_id = p_user) m;
	IF p_channel IS NOT NULL THEN
		PERFORM pg_notify(p_channel, p_payload);
	END IF;
	status := 0;
END
$$;

-- append_event appends one event record, in one statement, so that many
-- appends can go to the server in one round trip and commit together (one
-- WAL flush for all of them). It returns a status instead of raising, so
-- that one append's refusal leaves the others of its batch alone:
-- 0 appended (at pos, with sequence number seq: p_seq, or the session's
-- version + 1 when p_seq is 0), 1 no such session (or not the incarnation
-- p_incarnation names, unless it is 0), 2 duplicate event ID (the stored
-- record's pos, seq and body), 3 stale (the session's version).
-- It takes the head lock before the session's row, as every write does, so
-- that writers never wait for each other in a cycle.
CREATE FUNCTION {{schema}}.append_event(
	p_app bytea, p_user bytea, p_session bytea, p_seq bigint, p_event_id bytea, p_body bytea, p_time text,
	p_keys bytea[], p_values bytea[], p_scopes smallint[], p_channel text, p_payload text, p_incarnation bigint,
	OUT status smallint, OUT pos bigint, OUT seq bigint, OUT created bigint, OUT version bigint, OUT stored bytea)
LANGUAGE plpgsql AS $$
BEGIN
	SELECT h.position INTO pos FROM {{schema}}.head h FOR UPDATE;
	SELECT s.created, s.version INTO created, version FROM {{schema}}.sessions s
		WHERE s.app = p_app AND s.user_id = p_user AND s.session_id = p_session FOR UPDATE;
	IF NOT FOUND OR (p_incarnation <> 0 AND created <> p_incarnation) THEN
		status := 1;
		RETURN;
	END IF;
	SELECT r.position, r.seq, r.body INTO pos, seq, stored FROM {{schema}}.records r
		WHERE r.kind = 2 AND r.app = p_app AND r.user_id = p_user AND r.session_id = p_session AND r.event_id = p_event_id;
	IF FOUND THEN
		status := 2;
		RETURN;
	END IF;
	IF p_seq = 0 THEN
		seq := version + 1;
	ELSIF p_seq <> version + 1 THEN
		status := 3;
		RETURN;
	ELSE
		seq := p_seq;
	END IF;
	UPDATE {{schema}}.head SET position = position + 1 RETURNING position INTO pos;
	INSERT INTO {{schema}}.records (position, kind, app, user_id, session_id, seq, event_id, body)
		VALUES (pos, 2, p_app, p_user, p_session, seq, p_event_id, p_body);
	UPDATE {{schema}}.sessions SET version = seq, updated = p_time
		WHERE app = p_app AND user_id = p_user AND session_id = p_session;
	PERFORM {{schema}}.write_state(p_app, p_user, p_session, p_keys, p_values, p_scopes, pos);
	IF p_channel IS NOT NULL THEN
		PERFORM pg_notify(p_channel, p_payload);
	END IF;
	status := 0;
END
$$;
