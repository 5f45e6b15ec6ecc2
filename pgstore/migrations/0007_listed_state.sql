-- A session's row carries its own state, encoded, so that a page of List
-- is one range scan of sessions: reading each session's keys from
-- session_state as well cost as much again as the page's rows. The
-- column is derived: session_state stays what Load reads and what every
-- write of state changes, and each write of a session's keys re-encodes
-- them into its row in the same transaction (write_state, append_event
-- and append_events below; the fold functions they call are the only
-- writers of session_state but for a deletion, which takes the row too,
-- and version 2's upgrade, which ran before this one). Verify compares
-- what List serves with the log's fold, so a column that disagreed would
-- show. An append that writes one of a session's own keys encodes all of
-- them again: a session with a large state of its own pays that on each
-- such append.

-- encode_state is the session's own state as sessions.state holds it:
-- each key (without a prefix) and its value, each as a 4-byte big-endian
-- length followed by its bytes; empty when the session has no keys. The
-- pairs come in the order the scan meets them (the key's, through the
-- primary key): a reader needs no order, and sorting them would cost every
-- append a sort of its own. It returns one row so that a statement that reads it in
-- its FROM list has it inlined and planned with the statement: a scalar
-- SQL function would be planned at every call, and a PL/pgSQL one costs a
-- call.
CREATE FUNCTION {{schema}}.encode_state(p_app bytea, p_user bytea, p_session bytea)
RETURNS TABLE (state bytea) LANGUAGE sql STABLE AS $$
	SELECT coalesce(string_agg(int4send(length(key)) || key || int4send(length(value)) || value, ''::bytea), ''::bytea)
	FROM {{schema}}.session_state WHERE app = p_app AND user_id = p_user AND session_id = p_session
$$;

ALTER TABLE {{schema}}.sessions ADD COLUMN state bytea NOT NULL DEFAULT ''::bytea;
UPDATE {{schema}}.sessions s SET state = (SELECT e.state FROM {{schema}}.encode_state(s.app, s.user_id, s.session_id) e)
WHERE EXISTS (SELECT FROM {{schema}}.session_state t WHERE t.app = s.app AND t.user_id = s.user_id AND t.session_id = s.session_id);

-- write_states and write_state of version 6 become fold_states and
-- fold_state. write_state, which creations and the store's own
-- statements call, now folds, then encodes the session's own keys into
-- its row when it wrote any; a batch of appends folds with fold_states
-- and encodes as it updates the sessions' rows (append_events below).
ALTER FUNCTION {{schema}}.write_states(bytea[], bytea[], bytea[], bytea[], bytea[], smallint[], bigint[]) RENAME TO fold_states;
ALTER FUNCTION {{schema}}.write_state(bytea, bytea, bytea, bytea[], bytea[], smallint[], bigint) RENAME TO fold_state;

CREATE FUNCTION {{schema}}.write_state(
	p_app bytea, p_user bytea, p_session bytea, p_keys bytea[], p_values bytea[], p_scopes smallint[], p_pos bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM {{schema}}.fold_state(p_app, p_user, p_session, p_keys, p_values, p_scopes, p_pos);
	IF 0 = ANY(p_scopes) THEN
		UPDATE {{schema}}.sessions SET state = (SELECT e.state FROM {{schema}}.encode_state(p_app, p_user, p_session) e)
			WHERE app = p_app AND user_id = p_user AND session_id = p_session;
	END IF;
END
$$;

-- The two appends, as in version 6, except that each folds its state
-- writes first and then updates the session's row once, with its own
-- state encoded when the append wrote any of its keys, where write_state
-- would update it a second time, one more row version per append.
CREATE OR REPLACE FUNCTION {{schema}}.append_events(
	p_apps bytea[], p_users bytea[], p_sessions bytea[], p_seqs bigint[], p_event_ids bytea[], p_bodies bytea[],
	p_times text[], p_incarnations bigint[], p_of int[], p_keys bytea[], p_values bytea[], p_scopes smallint[])
RETURNS TABLE (n int, status smallint, pos bigint, seq bigint, created bigint, version bigint, stored bytea)
LANGUAGE plpgsql AS $$
DECLARE
	l_n bigint[];
	l_created bigint[];
	l_version bigint[];
	r_status smallint[];
	r_pos bigint[];
	r_seq bigint[];
	r_created bigint[];
	r_version bigint[];
	r_stored bytea[];
BEGIN
	-- Each session's row is looked up through its primary key, in key
	-- order, and locked as it is found: a plan that reads the table whole
	-- would lock rows in the order it meets them.
	SELECT array_agg(x.n), array_agg(x.created), array_agg(x.version) INTO l_n, l_created, l_version FROM (
		SELECT i.n, s.created, s.version
		FROM (SELECT * FROM unnest(p_apps, p_users, p_sessions) WITH ORDINALITY AS i(app, user_id, session_id, n)
			ORDER BY app, user_id, session_id) i
		CROSS JOIN LATERAL (SELECT s.created, s.version FROM {{schema}}.sessions s
			WHERE s.app = i.app AND s.user_id = i.user_id AND s.session_id = i.session_id FOR UPDATE) s) x;

	-- The transaction becomes a holder of positions (see take_position)
	-- once, before it takes any.
	PERFORM pg_current_xact_id();
	PERFORM set_config('application_name', {{holder}}, true);

	-- 1 no such session (or not the incarnation named), 2 duplicate event
	-- ID, 3 stale, 0 appended at a position taken now.
	WITH c AS (
		SELECT i.n, i.seq, l.created, l.version, d.position AS d_pos, d.seq AS d_seq, d.body AS d_body,
			CASE WHEN l.n IS NULL OR (i.inc <> 0 AND l.created <> i.inc) THEN 1
				WHEN d.position IS NOT NULL THEN 2
				WHEN i.seq <> 0 AND i.seq <> l.version + 1 THEN 3
				ELSE 0 END::smallint AS status
		FROM unnest(p_apps, p_users, p_sessions, p_event_ids, p_seqs, p_incarnations)
			WITH ORDINALITY AS i(app, user_id, session_id, event_id, seq, inc, n)
		LEFT JOIN unnest(l_n, l_created, l_version) AS l(n, created, version) ON l.n = i.n
		LEFT JOIN LATERAL (SELECT r.position, r.seq, r.body FROM {{schema}}.records r
			WHERE r.kind = 2 AND r.app = i.app AND r.user_id = i.user_id AND r.session_id = i.session_id
				AND r.event_id = i.event_id
			LIMIT 1) d ON true -- LIMIT keeps the lookup a probe of the index, never a join to the whole table
	), o AS (
		SELECT c.*, CASE WHEN c.status = 0 THEN nextval({{positions}}) ELSE c.d_pos END AS r_pos
		FROM c ORDER BY c.n
	)
	SELECT array_agg(o.status ORDER BY o.n), array_agg(o.r_pos ORDER BY o.n),
		array_agg(CASE WHEN o.status = 0 THEN o.version + 1 ELSE o.d_seq END ORDER BY o.n),
		array_agg(o.created ORDER BY o.n), array_agg(o.version ORDER BY o.n), array_agg(o.d_body ORDER BY o.n)
	INTO r_status, r_pos, r_seq, r_created, r_version, r_stored FROM o;

	INSERT INTO {{schema}}.records (position, kind, app, user_id, session_id, seq, event_id, body)
	SELECT a.pos, 2, a.app, a.user_id, a.session_id, a.seq, a.event_id, a.body
	FROM unnest(r_status, r_pos, r_seq, p_apps, p_users, p_sessions, p_event_ids, p_bodies)
		AS a(status, pos, seq, app, user_id, session_id, event_id, body)
	WHERE a.status = 0;

	PERFORM {{schema}}.fold_states(array_agg(p_apps[w.i]), array_agg(p_users[w.i]), array_agg(p_sessions[w.i]),
		array_agg(w.key), array_agg(w.value), array_agg(w.scope), array_agg(r_pos[w.i]))
	FROM unnest(p_of, p_keys, p_values, p_scopes) AS w(i, key, value, scope)
	WHERE r_status[w.i] = 0;

	-- Every row is there, locked above: the insert finds it through the
	-- primary key and updates it, where an UPDATE joined to the batch
	-- could read the table whole. A session whose own keys the batch
	-- wrote gets them encoded; another keeps the state its row has.
	INSERT INTO {{schema}}.sessions AS s (app, user_id, session_id, created, version, updated, state)
	SELECT a.app, a.user_id, a.session_id, a.created, a.seq, a.time,
		CASE WHEN EXISTS (SELECT FROM unnest(p_of, p_scopes) AS w(i, scope) WHERE w.i = a.n AND w.scope = 0)
			THEN (SELECT e.state FROM {{schema}}.encode_state(a.app, a.user_id, a.session_id) e)
			ELSE (SELECT o.state FROM {{schema}}.sessions o WHERE o.app = a.app AND o.user_id = a.user_id AND o.session_id = a.session_id) END
	FROM unnest(r_status, r_seq, r_created, p_apps, p_users, p_sessions, p_times) WITH ORDINALITY
		AS a(status, seq, created, app, user_id, session_id, time, n)
	WHERE a.status = 0
	ON CONFLICT (app, user_id, session_id) DO UPDATE SET version = excluded.version, updated = excluded.updated, state = excluded.state;

	RETURN QUERY SELECT r.n::int, r.status, r.pos, r.seq, r.created, r.version, r.stored
	FROM unnest(r_status, r_pos, r_seq, r_created, r_version, r_stored) WITH ORDINALITY AS r(status, pos, seq, created, version, stored, n);
END
$$;


CREATE OR REPLACE FUNCTION {{schema}}.append_event(
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
	IF p_seq <> 0 AND p_seq <> version + 1 THEN
		-- Stale, unless this is a retry of an event stored already.
		SELECT r.position, r.seq, r.body INTO pos, seq, stored FROM {{schema}}.records r
			WHERE r.kind = 2 AND r.app = p_app AND r.user_id = p_user AND r.session_id = p_session AND r.event_id = p_event_id;
		status := CASE WHEN FOUND THEN 2 ELSE 3 END;
		RETURN;
	END IF;
	seq := version + 1;
	PERFORM pg_current_xact_id(); -- a holder of positions (see take_position)
	PERFORM set_config('application_name', {{holder}}, true);
	INSERT INTO {{schema}}.records (position, kind, app, user_id, session_id, seq, event_id, body)
		VALUES (nextval({{positions}}), 2, p_app, p_user, p_session, seq, p_event_id, p_body)
		ON CONFLICT (app, user_id, session_id, event_id) WHERE kind = 2 DO NOTHING
		RETURNING position INTO pos;
	IF NOT FOUND THEN
		SELECT r.position, r.seq, r.body INTO pos, seq, stored FROM {{schema}}.records r
			WHERE r.kind = 2 AND r.app = p_app AND r.user_id = p_user AND r.session_id = p_session AND r.event_id = p_event_id;
		status := 2;
		RETURN;
	END IF;
	PERFORM {{schema}}.fold_state(p_app, p_user, p_session, p_keys, p_values, p_scopes, pos);
	UPDATE {{schema}}.sessions SET version = seq, updated = p_time,
			state = CASE WHEN 0 = ANY(p_scopes) THEN (SELECT e.state FROM {{schema}}.encode_state(p_app, p_user, p_session) e) ELSE state END
		WHERE app = p_app AND user_id = p_user AND session_id = p_session;
	IF p_channel IS NOT NULL THEN
		PERFORM pg_notify(p_channel, p_payload);
	END IF;
	status := 0;
END
$$;

-- Replaced, they plan as version 6 set them to.
ALTER FUNCTION {{schema}}.append_events(bytea[], bytea[], bytea[], bigint[], bytea[], bytea[], text[], bigint[], int[], bytea[], bytea[], smallint[])
	SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION {{schema}}.append_event(bytea, bytea, bytea, bigint, bytea, bytea, text, bytea[], bytea[], smallint[], text, text, bigint)
	SET plan_cache_mode = force_generic_plan;
