-- The state that sessions share is kept as versions: a write of an app:
-- or a user: key inserts a row at its record's position instead of
-- updating the key's one row. Appends of many sessions that write the
-- same shared key then no longer take turns on that row until each
-- commits (a row lock is held to the end of its transaction), and a
-- replica can have several batches of appends in flight at once. The
-- key's value is the version at the highest position that has committed
-- (NULL: removed), as the fold's last write by position; older versions
-- are pruned by the writes that follow, skipping rows another write is
-- pruning already, so that no write waits for another. The views
-- app_state and user_state, under the tables' old names, show the
-- current values to readers.
ALTER TABLE {{schema}}.app_state RENAME TO app_values;
ALTER TABLE {{schema}}.app_values DROP CONSTRAINT app_state_pkey;
ALTER TABLE {{schema}}.app_values ADD PRIMARY KEY (app, key, position);
ALTER TABLE {{schema}}.user_state RENAME TO user_values;
ALTER TABLE {{schema}}.user_values DROP CONSTRAINT user_state_pkey;
ALTER TABLE {{schema}}.user_values ADD PRIMARY KEY (app, user_id, key, position);

CREATE VIEW {{schema}}.app_state AS
	SELECT app, key, value, position FROM (
		SELECT DISTINCT ON (app, key) app, key, value, position FROM {{schema}}.app_values
		ORDER BY app, key, position DESC) v
	WHERE value IS NOT NULL;
CREATE VIEW {{schema}}.user_state AS
	SELECT app, user_id, key, value, position FROM (
		SELECT DISTINCT ON (app, user_id, key) app, user_id, key, value, position FROM {{schema}}.user_values
		ORDER BY app, user_id, key, position DESC) v
	WHERE value IS NOT NULL;

DROP FUNCTION {{schema}}.lock_batch(bytea[], bytea[], bytea[], bytea[], bytea[], bytea[], smallint[]);

-- write_states folds state writes, set by set: the write i sets key
-- p_keys[i] (without its prefix) of the session (p_apps[i], p_users[i],
-- p_sessions[i]) to p_values[i], or removes it when that is NULL, in the
-- scope p_scopes[i] names (0 the session's own state, 1 the app's, 2 the
-- user's), at position p_pos[i]. Of several writes of one key, the one at
-- the highest position wins, as in the fold. A session's own keys keep
-- one row each (its writes hold the session's row); an app's and a user's
-- get a version per write, and the versions below it that this
-- transaction sees are pruned, skipping those another transaction is
-- pruning.
CREATE FUNCTION {{schema}}.write_states(
	p_apps bytea[], p_users bytea[], p_sessions bytea[], p_keys bytea[], p_values bytea[], p_scopes smallint[], p_pos bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	n int;
BEGIN
	IF coalesce(cardinality(p_keys), 0) = 0 THEN
		RETURN;
	END IF;
	WITH w AS (
		SELECT DISTINCT ON (scope, app, user_id, session_id, key) * FROM
			unnest(p_apps, p_users, p_sessions, p_keys, p_values, p_scopes, p_pos) AS w(app, user_id, session_id, key, value, scope, pos)
		ORDER BY scope, app, user_id, session_id, key, pos DESC),
	set_session AS (
		INSERT INTO {{schema}}.session_state (app, user_id, session_id, key, value, position)
		SELECT app, user_id, session_id, key, value, pos FROM w WHERE scope = 0 AND value IS NOT NULL
		ON CONFLICT (app, user_id, session_id, key) DO UPDATE SET value = excluded.value, position = excluded.position),
	remove_session AS (
		DELETE FROM {{schema}}.session_state t USING w
		WHERE w.scope = 0 AND w.value IS NULL
			AND t.app = w.app AND t.user_id = w.user_id AND t.session_id = w.session_id AND t.key = w.key),
	app_writes AS (
		SELECT DISTINCT ON (app, key) app, key, value, pos FROM w WHERE scope = 1 ORDER BY app, key, pos DESC),
	set_app AS (
		INSERT INTO {{schema}}.app_values (app, key, value, position) SELECT app, key, value, pos FROM app_writes
		ON CONFLICT DO NOTHING),
	prune_app AS (
		DELETE FROM {{schema}}.app_values v USING (
			SELECT o.app, o.key, o.position FROM {{schema}}.app_values o
			JOIN app_writes a ON o.app = a.app AND o.key = a.key AND o.position < a.pos
			FOR UPDATE OF o SKIP LOCKED) d
		WHERE v.app = d.app AND v.key = d.key AND v.position = d.position),
	user_writes AS (
		SELECT DISTINCT ON (app, user_id, key) app, user_id, key, value, pos FROM w WHERE scope = 2
		ORDER BY app, user_id, key, pos DESC),
	set_user AS (
		INSERT INTO {{schema}}.user_values (app, user_id, key, value, position) SELECT app, user_id, key, value, pos FROM user_writes
		ON CONFLICT DO NOTHING),
	prune_user AS (
		DELETE FROM {{schema}}.user_values v USING (
			SELECT o.app, o.user_id, o.key, o.position FROM {{schema}}.user_values o
			JOIN user_writes u ON o.app = u.app AND o.user_id = u.user_id AND o.key = u.key AND o.position < u.pos
			FOR UPDATE OF o SKIP LOCKED) d
		WHERE v.app = d.app AND v.user_id = d.user_id AND v.key = d.key AND v.position = d.position)
	SELECT count(*) INTO n FROM w;
END
$$;

-- write_state folds one record's state writes at position p_pos, by the
-- rules of write_states, one key at a time: for the few writes of a
-- record, a statement per key costs less than write_states' one
-- statement for them all. TestWriteStateAgreesWithWriteStates checks that
-- the two leave the same tables.
CREATE OR REPLACE FUNCTION {{schema}}.write_state(
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
			INSERT INTO {{schema}}.app_values (app, key, value, position) VALUES (p_app, p_keys[i], p_values[i], p_pos)
				ON CONFLICT DO NOTHING;
			DELETE FROM {{schema}}.app_values v USING (
				SELECT o.position FROM {{schema}}.app_values o
				WHERE o.app = p_app AND o.key = p_keys[i] AND o.position < p_pos
				FOR UPDATE SKIP LOCKED) d
			WHERE v.app = p_app AND v.key = p_keys[i] AND v.position = d.position;
		WHEN 2 THEN
			INSERT INTO {{schema}}.user_values (app, user_id, key, value, position) VALUES (p_app, p_user, p_keys[i], p_values[i], p_pos)
				ON CONFLICT DO NOTHING;
			DELETE FROM {{schema}}.user_values v USING (
				SELECT o.position FROM {{schema}}.user_values o
				WHERE o.app = p_app AND o.user_id = p_user AND o.key = p_keys[i] AND o.position < p_pos
				FOR UPDATE SKIP LOCKED) d
			WHERE v.app = p_app AND v.user_id = p_user AND v.key = p_keys[i] AND v.position = d.position;
		END CASE;
	END LOOP;
END
$$;

-- append_events appends a batch of event records that commit together, in
-- a handful of statements whatever the batch's size. Record i is
-- append_event's arguments at index i of each array, with at most one
-- record per session (the store sends a session's other appends in the
-- batches that follow); its state writes are the writes k with p_of[k] =
-- i, in write_states' form. It returns a row per record, n = i, with
-- append_event's outcome. The sessions' rows are locked first, in key
-- order, the order in which every batch locks them, so that batches in
-- flight at once never deadlock; the checks that follow read what was
-- committed before the locks were granted.
CREATE FUNCTION {{schema}}.append_events(
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

	-- Every row is there, locked above: the insert finds it through the
	-- primary key and updates it, where an UPDATE joined to the batch
	-- could read the table whole.
	INSERT INTO {{schema}}.sessions AS s (app, user_id, session_id, created, version, updated)
	SELECT a.app, a.user_id, a.session_id, a.created, a.seq, a.time
	FROM unnest(r_status, r_seq, r_created, p_apps, p_users, p_sessions, p_times)
		AS a(status, seq, created, app, user_id, session_id, time)
	WHERE a.status = 0
	ON CONFLICT (app, user_id, session_id) DO UPDATE SET version = excluded.version, updated = excluded.updated;

	PERFORM {{schema}}.write_states(array_agg(p_apps[w.i]), array_agg(p_users[w.i]), array_agg(p_sessions[w.i]),
		array_agg(w.key), array_agg(w.value), array_agg(w.scope), array_agg(r_pos[w.i]))
	FROM unnest(p_of, p_keys, p_values, p_scopes) AS w(i, key, value, scope)
	WHERE r_status[w.i] = 0;

	RETURN QUERY SELECT r.n::int, r.status, r.pos, r.seq, r.created, r.version, r.stored
	FROM unnest(r_status, r_pos, r_seq, r_created, r_version, r_stored) WITH ORDINALITY AS r(status, pos, seq, created, version, stored, n);
END
$$;

-- append_event, for an append that travels alone: the same outcome as
-- before, in fewer statements. A retry of a stored event is found by the
-- insert itself, through the unique index on the session's event IDs,
-- rather than by a lookup before every insert.
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
	UPDATE {{schema}}.sessions SET version = seq, updated = p_time
		WHERE app = p_app AND user_id = p_user AND session_id = p_session;
	PERFORM {{schema}}.write_state(p_app, p_user, p_session, p_keys, p_values, p_scopes, pos);
	IF p_channel IS NOT NULL THEN
		PERFORM pg_notify(p_channel, p_payload);
	END IF;
	status := 0;
END
$$;

-- The functions of the write path keep one plan per statement, made once
-- per connection: planning each call anew costs more than the call's
-- work. The functions they call run under the same setting. Every such plan reads through indexes, as TestHotStatements
-- checks with plan_cache_mode=force_generic_plan on a fresh schema.
ALTER FUNCTION {{schema}}.append_events(bytea[], bytea[], bytea[], bigint[], bytea[], bytea[], text[], bigint[], int[], bytea[], bytea[], smallint[])
	SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION {{schema}}.append_event(bytea, bytea, bytea, bigint, bytea, bytea, text, bytea[], bytea[], smallint[], text, text, bigint)
	SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION {{schema}}.create_session(bytea, bytea, bytea, bytea, text, bytea[], bytea[], smallint[], text, text)
	SET plan_cache_mode = force_generic_plan;
