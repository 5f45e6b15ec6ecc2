package pgstore

import "strings"

// queries are the store's SQL statements, with the schema filled in once.
// Each read is one statement, so it sees one snapshot and takes one round
// trip.
type queries struct {
	// next takes the next position (take_position in the migrations).
	next string
	// lastPosition returns the last position the sequence handed out;
	// setPosition sets it, so that the next one taken is $1 + 1 (what an
	// import places), once takeID has given the transaction its ID (see
	// take_position).
	lastPosition string
	setPosition  string
	takeID       string
	// createSession and appendEvent call create_session and append_event
	// (see the migrations).
	createSession string
	appendEvent   string
	// appendEvents calls append_events (see the migrations) for a batch
	// of appends.
	appendEvents string
	// insertRecord writes a record at the position just taken.
	insertRecord string
	// insertAt writes a record at a given position (what a deletion keeps).
	insertAt string
	// insertEvents writes a new session's events, each at a position of
	// its own taken in sequence order, and returns the positions;
	// setVersion sets its version and last update; writeStateAt folds
	// state writes at the position of its event with sequence number $7.
	// Together they append a batch's events (see AppendBatch).
	insertEvents string
	setVersion   string
	writeStateAt string
	// writeState folds a record's state writes at the position just taken
	// (see write_state in the migrations).
	writeState string
	// announce notifies the channel $1 once for each payload in $2.
	announce string
	// listened says whether a connection whose application_name begins
	// with $1 (a listener's, see listenerApp) is open.
	listened string

	// horizon reads the transaction IDs of the holders of positions still
	// running (application_name $3), then the positions visible after $1,
	// at most $2 of them, right after lastPosition: a horizon's step (see
	// horizon.go).
	horizon string

	// lockSession locks a live session's row and returns its
	// incarnation; sessionRecords then reads its creation and event
	// records, oldest first, for a deletion. They are two statements so
	// that the records are read after the lock is held: a statement that
	// waits for the lock reads other tables as they were when it began,
	// without the records of the append it waited for.
	lockSession    string
	sessionRecords string
	// dropRecords, dropState and dropSession free a deleted session;
	// freeApp and freeUser raise the last freed position of its app and
	// its user.
	dropRecords string
	dropState   string
	dropSession string
	freeApp     string
	freeUser    string

	// readAll, readApp, readUser and readSession read records after a
	// position ($1), at most $2 of them; all but readSession only up to a
	// horizon ($3). Each row carries, for an app or a user, the last
	// position a deletion freed there, or, for a session, its incarnation.
	readAll     string
	readApp     string
	readUser    string
	readSession string
	// freedApp and freedUser read the last position a deletion freed in
	// an app or a user.
	freedApp  string
	freedUser string

	// load reads a session's row, its merged state and, unless told not
	// to, its events after a sequence number; and, when told to, its
	// creation record.
	load string
	// listApp and listUser read a page of an app's (or a user's) sessions
	// with their merged state, and the app's state once.
	listApp  string
	listUser string
	// recentApp and recentUser are listApp and listUser in recent-first
	// order, after the session ($2, $3) last updated at the last
	// parameter ($5 of recentApp, $6 of recentUser).
	recentApp  string
	recentUser string
}

// mergedState is the SQL of a session's merged state, as rows (key,
// value): its own keys, and the app's and the user's under their app: and
// user: prefixes. $1, $2 and $3 are the session's key.
const mergedState = `SELECT key, value FROM §.session_state WHERE app = $1 AND user_id = $2 AND session_id = $3
	UNION ALL SELECT 'app:'::bytea || key, value FROM §.app_state WHERE app = $1 AND value IS NOT NULL
	UNION ALL SELECT 'user:'::bytea || key, value FROM §.user_state WHERE app = $1 AND user_id = $2 AND value IS NOT NULL`

// afterRecent and recentOrder page sessions the most recent first: after
// the session ($2, $3) last updated at $T ("~", after every time, starts
// at the beginning). No index keeps that order (see migration 4): the
// statement sorts the user's sessions, or the app's, that come after the
// page's start, keeping the page's few.
const (
	afterRecent = ` AND updated COLLATE "C" <= $T AND (updated COLLATE "C" < $T OR (user_id, session_id) > ($2, $3))`
	recentOrder = `updated COLLATE "C" DESC, user_id, session_id`
)

func newQueries(schema string) queries {
	positions := positionsLiteral(schema)
	q := func(s string) string { return strings.NewReplacer("§positions", positions, "§", schema).Replace(s) }
	const key = "app = $1 AND user_id = $2 AND session_id = $3"
	// The reads take the guard as a scalar subquery, one row whatever the
	// planner guesses of the table it reads.
	read := func(guard, where string) string {
		return q(`SELECT h.guard, r.position, r.seq, r.body
FROM (SELECT ` + guard + ` AS guard) h
LEFT JOIN LATERAL (SELECT position, seq, body FROM §.records WHERE position > $1` + where + ` ORDER BY position LIMIT $2) r ON true
ORDER BY r.position`)
	}
	// A page's rows, by their first column: 0 a key of the app's state,
	// 1 a key of the state of a user the page holds (once per user,
	// however many of the user's sessions it lists), 2 a session, with its
	// own state as sessions.state encodes it (encode_state) in the last
	// column. page is the page's sessions, the rows of kind 2 in the
	// order it wants; users names the users whose state the page needs,
	// each probed on its own. (OFFSET 0 keeps the state a probe per user:
	// pulled up into the join, the view would be read for every user of
	// the app.)
	list := func(page, users string) string {
		return q(`SELECT 0::smallint, NULL::bytea, NULL::bytea, NULL::bigint, NULL::bigint, NULL::text, 'app:'::bytea || key, value
FROM §.app_state WHERE app = $1
UNION ALL
SELECT 1, u.user_id, NULL, NULL, NULL, NULL, 'user:'::bytea || st.key, st.value
FROM (` + users + `) u
CROSS JOIN LATERAL (SELECT key, value FROM §.user_state WHERE app = $1 AND user_id = u.user_id OFFSET 0) st
UNION ALL
` + page)
	}
	// pageOf is the statement's sessions, those after the page's start
	// (where) in order, up to the page's size.
	pageOf := func(where, order string) string {
		return `SELECT 2::smallint, user_id, session_id, created, version, updated, NULL::bytea, state FROM §.sessions
	WHERE app = $1` + where + `
	ORDER BY ` + order + ` LIMIT $4`
	}
	// A user's page needs that user's state ($5). An app's page needs the
	// state of the users its sessions belong to: the page is taken first.
	listApp := func(where, order string) string {
		return `WITH p AS MATERIALIZED (` + q(pageOf(where, order)) + `)
` + list(`SELECT * FROM p`, `SELECT DISTINCT user_id FROM p`)
	}
	listUser := func(where, order string) string {
		return list(`SELECT * FROM (`+pageOf(where, order)+`) p`, `SELECT $5::bytea AS user_id`)
	}
	return queries{
		next:          q(`SELECT §.take_position()`),
		lastPosition:  q(`SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM §.positions`),
		takeID:        `SELECT pg_current_xact_id()`,
		setPosition:   q(`SELECT setval(§positions, greatest($1::bigint, 1), $1::bigint > 0)`),
		createSession: q(`SELECT status, pos, keys, vals FROM §.create_session($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`),
		appendEvents: q(`SELECT n, status, pos, seq, created, version, stored
FROM §.append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
		appendEvent:  q(`SELECT status, pos, seq, created, version, stored FROM §.append_event($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`),
		insertRecord: q(`INSERT INTO §.records (position, kind, app, user_id, session_id, seq, event_id, body) VALUES (currval(§positions), $1, $2, $3, $4, $5, $6, $7)`),
		insertAt:     q(`INSERT INTO §.records (position, kind, app, user_id, session_id, body) VALUES ($1, $2, $3, $4, $5, $6)`),
		insertEvents: q(`INSERT INTO §.records (position, kind, app, user_id, session_id, seq, event_id, body)
SELECT p.pos, 2, $1, $2, $3, t.seq, t.id, t.body
FROM unnest($4::bytea[], $5::bytea[]) WITH ORDINALITY AS t(id, body, seq)
JOIN (SELECT pos, row_number() OVER (ORDER BY pos) AS n
	FROM (SELECT §.take_position() AS pos FROM generate_series(1, cardinality($4::bytea[]))) g) p ON p.n = t.seq
RETURNING seq, position`),
		setVersion: q(`UPDATE §.sessions SET version = $4, updated = $5 WHERE ` + key),
		writeStateAt: q(`SELECT §.write_state($1, $2, $3, $4, $5, $6, (SELECT position FROM §.records
	WHERE kind = 2 AND app = $1 AND user_id = $2 AND session_id = $3 AND seq = $7))`),
		writeState: q(`SELECT §.write_state($1, $2, $3, $4, $5, $6, currval(§positions))`),
		announce:   `SELECT pg_notify($1, x) FROM unnest($2::text[]) x`,
		listened:   `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE left(application_name, length($1)) = $1)`,
		horizon: q(`SELECT ARRAY(SELECT backend_xid::text::bigint FROM pg_stat_activity WHERE application_name = $3 AND backend_xid IS NOT NULL),
	ARRAY(SELECT position FROM §.records WHERE position > $1 ORDER BY position LIMIT $2)`),

		lockSession:    q(`SELECT created FROM §.sessions WHERE ` + key + ` FOR UPDATE`),
		sessionRecords: q(`SELECT position, seq, body FROM §.records WHERE kind IN (1, 2) AND ` + key + ` ORDER BY position`),
		dropRecords:    q(`DELETE FROM §.records WHERE ` + key + ` AND kind IN (1, 2)`),
		dropState:      q(`DELETE FROM §.session_state WHERE ` + key),
		dropSession:    q(`DELETE FROM §.sessions WHERE ` + key),
		freeApp: q(`INSERT INTO §.app_freed (app, position) VALUES ($1, $2)
ON CONFLICT (app) DO UPDATE SET position = greatest(§.app_freed.position, excluded.position)`),
		freeUser: q(`INSERT INTO §.user_freed (app, user_id, position) VALUES ($1, $2, $3)
ON CONFLICT (app, user_id) DO UPDATE SET position = greatest(§.user_freed.position, excluded.position)`),

		readAll: read("NULL::bigint", " AND position <= $3"),
		readApp: read("(SELECT position FROM §.app_freed WHERE app = $4)",
			" AND position <= $3 AND app = $4 AND coalesce(h.guard, 0) <= $1"),
		readUser: read("(SELECT position FROM §.user_freed WHERE app = $4 AND user_id = $5)",
			" AND position <= $3 AND app = $4 AND user_id = $5 AND coalesce(h.guard, 0) <= $1"),
		readSession: read("(SELECT created FROM §.sessions WHERE app = $3 AND user_id = $4 AND session_id = $5)",
			" AND kind = 2 AND app = $3 AND user_id = $4 AND session_id = $5 AND h.guard IS NOT NULL"),

		freedApp:  q(`SELECT position FROM §.app_freed WHERE app = $1`),
		freedUser: q(`SELECT position FROM §.user_freed WHERE app = $1 AND user_id = $2`),

		load: q(`SELECT s.created, s.version, s.updated, st.keys, st.vals, NULL::bigint, NULL::bigint, NULL::bytea
FROM §.sessions s
CROSS JOIN LATERAL (SELECT array_agg(m.key) AS keys, array_agg(m.value) AS vals FROM (` + mergedState + `) m) st
WHERE s.` + strings.ReplaceAll(key, " AND ", " AND s.") + `
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, r.position, r.seq, r.body
FROM §.sessions s
JOIN §.records r ON r.kind = 2 AND r.app = $1 AND r.user_id = $2 AND r.session_id = $3
	AND r.seq > CASE WHEN s.created = $4 THEN $5 ELSE 0 END
WHERE s.` + strings.ReplaceAll(key, " AND ", " AND s.") + ` AND NOT $6
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, r.position, r.seq, r.body
FROM §.sessions s
JOIN §.records r ON r.position = s.created
WHERE s.` + strings.ReplaceAll(key, " AND ", " AND s.") + ` AND $7`),
		listApp:  listApp(" AND (user_id, session_id) > ($2, $3)", "user_id, session_id"),
		listUser: listUser(" AND user_id = $5 AND (user_id, session_id) > ($2, $3)", "user_id, session_id"),
		// The text of a last update time sorts as the time (sortableTime),
		// byte by byte: the C collation, as the indexes have it.
		recentApp:  listApp(strings.ReplaceAll(afterRecent, "$T", "$5"), recentOrder),
		recentUser: listUser(" AND user_id = $5"+strings.ReplaceAll(afterRecent, "$T", "$6"), recentOrder),
	}
}
