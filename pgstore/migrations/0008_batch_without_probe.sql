-- A batch of appends finds a retry of an event stored already through the
-- insert of its record, as append_event does, instead of looking each
-- event up in the log before the insert. The lookup of version 7 was one
-- index probe per append, through whichever of the two indexes of a
-- session's records the plan chose; on a table that was never analyzed,
-- a plan made while it held about 12,000 to 26,000 records chose the
-- index on the sequence numbers and read every record of the session on
-- each append, so that the cost of a batch grew with its sessions'
-- lengths for as long as the connection kept that plan.
-- Now an append is looked up only when its insert meets the event's
-- record, or when it is stale (a stale append may be the retry of one
-- stored already): rare appends, which pay that probe.
CREATE OR REPLACE FUNCTION {{schema}}.append_events(
	p_apps bytea[], p_users bytea[], p_sessions bytea[], p_seqs bigint[], p_event_ids bytea[], p_bodies bytea[],
	p_times text[], p_incarnations bigint[], p_of int[], p_keys bytea[], p_values bytea[], p_scopes smallint[])
RETURNS TABLE (n int, status smallint, pos bigint, seq bigint, created bigint, version bigint, stored bytea)
LANGUAGE plpgsql AS $$
DECLARE
	l_n bigint[];
	l_created bigint[];
	l_version bigint[];
	l_inserted bigint[];
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

	-- 1 no such session (or not the incarnation named), 3 stale, 0 to be
	-- appended at a position taken now (2, a duplicate event ID, comes
	-- below).
	WITH c AS (
		SELECT i.n, l.created, l.version,
			CASE WHEN l.n IS NULL OR (i.inc <> 0 AND l.created <> i.inc) THEN 1
				WHEN i.seq <> 0 AND i.seq <> l.version + 1 THEN 3
				ELSE 0 END::smallint AS status
		FROM unnest(p_seqs, p_incarnations) WITH ORDINALITY AS i(seq, inc, n)
		LEFT JOIN unnest(l_n, l_created, l_version) AS l(n, created, version) ON l.n = i.n
	), o AS (
		SELECT c.*, CASE WHEN c.status = 0 THEN nextval({{positions}}) END AS r_pos
		FROM c ORDER BY c.n
	)
	SELECT array_agg(o.status ORDER BY o.n), array_agg(o.r_pos ORDER BY o.n),
		array_agg(CASE WHEN o.status = 0 THEN o.version + 1 END ORDER BY o.n),
		array_agg(o.created ORDER BY o.n), array_agg(o.version ORDER BY o.n)
	INTO r_status, r_pos, r_seq, r_created, r_version FROM o;

	WITH ins AS (
		INSERT INTO {{schema}}.records (position, kind, app, user_id, session_id, seq, event_id, body)
		SELECT a.pos, 2, a.app, a.user_id, a.session_id, a.seq, a.event_id, a.body
		FROM unnest(r_status, r_pos, r_seq, p_apps, p_users, p_sessions, p_event_ids, p_bodies)
			AS a(status, pos, seq, app, user_id, session_id, event_id, body)
		WHERE a.status = 0
		ON CONFLICT (app, user_id, session_id, event_id) WHERE kind = 2 DO NOTHING
		RETURNING position)
	SELECT coalesce(array_agg(ins.position), '{}') INTO l_inserted FROM ins;

	-- An append whose record is not in (its event ID is stored already),
	-- and a stale one, get the stored event's position, number and body
	-- and status 2 if the log has it. The first kind always finds it: the
	-- insert met it, committed.
	IF 3 = ANY(r_status) OR cardinality(l_inserted) <> cardinality(array_positions(r_status, 0::smallint)) THEN
		SELECT array_agg(CASE WHEN d.position IS NOT NULL THEN 2 WHEN x.status = 0 AND x.pos <> ALL(l_inserted) THEN -1 ELSE x.status END ORDER BY x.n),
			array_agg(coalesce(d.position, x.pos) ORDER BY x.n), array_agg(coalesce(d.seq, x.seq) ORDER BY x.n),
			array_agg(d.body ORDER BY x.n)
		INTO r_status, r_pos, r_seq, r_stored
		FROM unnest(r_status, r_pos, r_seq, p_apps, p_users, p_sessions, p_event_ids) WITH ORDINALITY
			AS x(status, pos, seq, app, user_id, session_id, event_id, n)
		LEFT JOIN LATERAL (SELECT r.position, r.seq, r.body FROM {{schema}}.records r
			WHERE (x.status = 3 OR (x.status = 0 AND x.pos <> ALL(l_inserted)))
				AND r.kind = 2 AND r.app = x.app AND r.user_id = x.user_id AND r.session_id = x.session_id
				AND r.event_id = x.event_id
			LIMIT 1) d ON true;
		IF -1 = ANY(r_status) THEN
			RAISE EXCEPTION 'append_events: an event''s record conflicted with one that cannot be read';
		END IF;
	END IF;

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

-- Replaced, it plans as version 6 set it to.
ALTER FUNCTION {{schema}}.append_events(bytea[], bytea[], bytea[], bigint[], bytea[], bytea[], text[], bigint[], int[], bytea[], bytea[], smallint[])
	SET plan_cache_mode = force_generic_plan;
