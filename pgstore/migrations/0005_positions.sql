-- Positions come from a sequence, not from the head row: a write no longer
-- holds a store-wide lock until it commits, so appends to different
-- sessions commit side by side (CONTRACT Z1). Records may now commit out
-- of position order; a reader of more than one session learns how far it
-- may read from the horizon (horizon.go), which only moves past a position
-- once the transaction that took it has ended.
CREATE SEQUENCE {{schema}}.positions AS bigint MINVALUE 1;
SELECT setval({{positions}}, greatest(position, 1), position > 0) FROM {{schema}}.head;

-- take_position takes the next position for the calling transaction.
-- First the transaction gets its ID, and shows, until it ends, the
-- application_name that marks a holder of this schema's positions: the
-- horizon (horizon.go) waits for the holders it saw to end before it
-- passes a position that is not visible.
CREATE FUNCTION {{schema}}.take_position() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_current_xact_id();
	PERFORM set_config('application_name', {{holder}}, true);
	RETURN nextval({{positions}});
END
$$;

-- A removed app: or user: key keeps its row, with a NULL value, for as
-- long as a write at an earlier position may still commit: writes to the
-- state that sessions share now commit in any order, and the position on
-- the row decides which one the state keeps, as the fold's order does.
ALTER TABLE {{schema}}.app_state ALTER COLUMN value DROP NOT NULL;
ALTER TABLE {{schema}}.user_state ALTER COLUMN value DROP NOT NULL;

DROP FUNCTION {{schema}}.create_session(bytea, bytea, bytea, bytea, text, bytea[], bytea[], smallint[], text, text);
DROP FUNCTION {{schema}}.append_event(bytea, bytea, bytea, bigint, bytea, bytea, text, bytea[], bytea[], smallint[], text, text, bigint);
DROP FUNCTION {{schema}}.write_state(bytea, bytea, bytea, bytea[], bytea[], smallint[], bigint);
-- The head goes, so that a replica running older code fails rather than
-- handing out positions the sequence hands out too.
DROP TABLE {{schema}}.head;

-- write_state folds a record's state writes at position p_pos: p_keys[i]
-- (without its prefix) is set to p_values[i], or removed when that is
-- NULL, in the scope p_scopes[i] names: 0 the session's own state, 1 the
-- app's, 2 the user's. A session's writes come in position order (each
-- holds the session's row), so they apply as they come. The app's and the
-- user's come from many sessions in the order their transactions reach
-- the row, so a write applies only over a row of an earlier position, and
-- a removal leaves its row with a NULL value to keep that position: the
-- last write by position wins, as in the fold.
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
			INSERT INTO {{schema}}.app_state AS a (app, key, value, position) VALUES (p_app, p_keys[i], p_values[i], p_pos)
				ON CONFLICT (app, key) DO UPDATE SET value = excluded.value, position = excluded.position
				WHERE a.position < excluded.position;
		WHEN 2 THEN
			INSERT INTO {{schema}}.user_state AS u (app, user_id, key, value, position) VALUES (p_app, p_user, p_keys[i], p_values[i], p_pos)
				ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value, position = excluded.position
				WHERE u.position < excluded.position;
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
	-- The session's row first: a creator or a deleter of the same session
	-- still at work holds it, and the insert waits for its end. The
	-- position is taken after that, so the session's records take
	-- positions in the order they commit.
	INSERT INTO {{schema}}.sessions (app, user_id, session_id, created, version, updated)
		VALUES (p_app, p_user, p_session, 0, 0, p_time) ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		status := 1;
		RETURN;
	END IF;
	pos := {{schema}}.take_position();
	UPDATE {{schema}}.sessions SET created = pos WHERE app = p_app AND user_id = p_user AND session_id = p_session;
	INSERT INTO {{schema}}.records (position, kind, app, user_id, session_id, seq, event_id, body)
		VALUES (pos, 1, p_app, p_user, p_session, 0, NULL, p_body);
	PERFORM {{schema}}.write_state(p_app, p_user, p_session, p_keys, p_values, p_scopes, pos);
	SELECT array_agg(m.key), array_agg(m.value) INTO keys, vals FROM (
		SELECT s.key, s.value FROM {{schema}}.session_state s
			WHERE s.app = p_app AND s.user_id = p_user AND s.session_id = p_session
		UNION ALL SELECT 'app:'::bytea || a.key, a.value FROM {{schema}}.app_state a
			WHERE a.app = p_app AND a.value IS NOT NULL
		UNION ALL SELECT 'user:'::bytea || u.key, u.value FROM {{schema}}.user_state u
			WHERE u.app = p_app AND u.user_id = p_user AND u.value IS NOT NULL) m;
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
-- It takes the position once it holds the session's row, so a session's
-- events take positions in the order they commit.
CREATE FUNCTION {{schema}}.append_event(
	p_app bytea, p_user bytea, p_session bytea, p_seq bigint, p_event_id bytea, p_body bytea, p_time text,
	p_keys bytea[], p_values bytea[], p_scopes smallint[], p_channel text, p_payload text, p_incarnation bigint,
	OUT status smallint, OUT pos bigint, OUT seq bigint, OUT created bigint, OUT version bigint, OUT stored bytea)
LANGUAGE plpgsql AS $$
BEGIN
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
	pos := {{schema}}.take_position();
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

-- lock_batch takes, before a batch of appends that commit together runs,
-- the locks its appends will take, in one order that every write follows:
-- the sessions' rows, then the app's state rows, then the users' (each in
-- the order the caller sorted them, byte by byte). A batch then never
-- waits for a lock while it holds one that a write ahead of it in that
-- order waits for, so batches of different replicas never deadlock. A
-- state row that does not exist yet is made first, with no value (as if
-- removed) and position 0, before every write of it.
CREATE FUNCTION {{schema}}.lock_batch(
	p_apps bytea[], p_users bytea[], p_sessions bytea[],
	p_state_apps bytea[], p_state_users bytea[], p_state_keys bytea[], p_state_scopes smallint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. coalesce(array_length(p_sessions, 1), 0) LOOP
		PERFORM 1 FROM {{schema}}.sessions
			WHERE app = p_apps[i] AND user_id = p_users[i] AND session_id = p_sessions[i] FOR UPDATE;
	END LOOP;
	FOR i IN 1 .. coalesce(array_length(p_state_keys, 1), 0) LOOP
		IF p_state_scopes[i] = 1 THEN
			INSERT INTO {{schema}}.app_state (app, key, value, position) VALUES (p_state_apps[i], p_state_keys[i], NULL, 0)
				ON CONFLICT (app, key) DO NOTHING;
			PERFORM 1 FROM {{schema}}.app_state WHERE app = p_state_apps[i] AND key = p_state_keys[i] FOR UPDATE;
		ELSE
			INSERT INTO {{schema}}.user_state (app, user_id, key, value, position)
				VALUES (p_state_apps[i], p_state_users[i], p_state_keys[i], NULL, 0)
				ON CONFLICT (app, user_id, key) DO NOTHING;
			PERFORM 1 FROM {{schema}}.user_state
				WHERE app = p_state_apps[i] AND user_id = p_state_users[i] AND key = p_state_keys[i] FOR UPDATE;
		END IF;
	END LOOP;
END
$$;
