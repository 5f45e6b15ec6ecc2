package pgstore

import "strings"

// queries are the store's SQL statements, with the schema filled in once.
type queries struct {
	// next takes the next position: the head row's lock, held to commit.
	next string
	// createSession registers a session at the position just taken; no
	// row means it exists.
	createSession string
	// lockHead takes the head row's lock, which every write takes first.
	lockHead string
	// lockSession locks a live session's row.
	lockSession string
	// appendEvent calls append_event (see the migration).
	appendEvent   string
	deleteSession string
	// insertRecord writes a record at the position just taken.
	insertRecord string
	// insertAt writes a record at a given position (what a deletion keeps).
	insertAt string
	// sessionRecords are a session's creation and event records, oldest
	// first, for a deletion.
	sessionRecords string
	dropRecords    string
	// writeState applies a record's app: and user: writes at the
	// position just taken (see write_state in the migration).
	writeState string
	notify     string

	// readAll, readApp, readUser and readSession read records after a
	// position, with the head position of the same snapshot (and, for a
	// session, its incarnation).
	readAll     string
	readApp     string
	readUser    string
	readSession string
	// session reads a session's row, its creation record when the
	// caller's copy is of another incarnation, and its events after a
	// sequence number.
	session string
	// head reads the last position.
	head string
}

func newQueries(schema string) queries {
	q := func(s string) string { return strings.ReplaceAll(s, "§", schema) }
	const key = "app = $1 AND user_id = $2 AND session_id = $3"
	read := func(where string) string {
		return q(`SELECT h.position, r.position, r.body FROM §.head h
LEFT JOIN LATERAL (SELECT position, body FROM §.records WHERE position > $1` + where + ` ORDER BY position LIMIT $2) r ON true
ORDER BY r.position`)
	}
	return queries{
		next:           q(`UPDATE §.head SET position = position + 1 RETURNING position`),
		createSession:  q(`INSERT INTO §.sessions (app, user_id, session_id, created, version) SELECT $1, $2, $3, position, 0 FROM §.head ON CONFLICT DO NOTHING`),
		lockHead:       q(`SELECT position FROM §.head FOR UPDATE`),
		lockSession:    q(`SELECT created FROM §.sessions WHERE ` + key + ` FOR UPDATE`),
		appendEvent:    q(`SELECT status, pos, created, version, stored FROM §.append_event($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
		deleteSession:  q(`DELETE FROM §.sessions WHERE ` + key),
		insertRecord:   q(`INSERT INTO §.records (position, kind, app, user_id, session_id, seq, event_id, body) SELECT position, $1, $2, $3, $4, $5, $6, $7 FROM §.head`),
		insertAt:       q(`INSERT INTO §.records (position, kind, app, user_id, session_id, body) VALUES ($1, $2, $3, $4, $5, $6)`),
		sessionRecords: q(`SELECT position, body FROM §.records WHERE ` + key + ` AND kind IN (1, 2) ORDER BY position`),
		dropRecords:    q(`DELETE FROM §.records WHERE ` + key + ` AND kind IN (1, 2)`),
		writeState:     q(`SELECT §.write_state($1, $2, $3, $4, $5, position) FROM §.head`),
		notify:         `SELECT pg_notify($1, $2)`,
		readAll:        read(""),
		readApp:        read(" AND app = $3"),
		readUser:       read(" AND app = $3 AND user_id = $4"),
		readSession: q(`SELECT h.position, s.created, r.position, r.body FROM §.head h
LEFT JOIN §.sessions s ON s.app = $3 AND s.user_id = $4 AND s.session_id = $5
LEFT JOIN LATERAL (SELECT position, body FROM §.records WHERE position > $1 AND kind = 2
	AND app = $3 AND user_id = $4 AND session_id = $5 ORDER BY position LIMIT $2) r ON s.created IS NOT NULL
ORDER BY r.position`),
		session: q(`SELECT s.created, s.version, c.body, r.position, r.body FROM §.sessions s
LEFT JOIN §.records c ON s.created <> $4 AND c.position = s.created
LEFT JOIN LATERAL (SELECT seq, position, body FROM §.records WHERE kind = 2 AND ` + key + `
	AND seq > CASE WHEN s.created = $4 THEN $5 ELSE 0 END ORDER BY seq) r ON true
WHERE s.app = $1 AND s.user_id = $2 AND s.session_id = $3
ORDER BY r.seq`),
		head: q(`SELECT position FROM §.head`),
	}
}
