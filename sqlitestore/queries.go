package sqlitestore

import "strings"

// The store's SQL. Every key is bound as a BLOB (see the migration), and
// the statements name the kind of record as a literal where a partial
// index (WHERE kind = 2) should serve them.
const (
	key = `app = ? AND user_id = ? AND session_id = ?`

	qHead    = `SELECT position FROM head`
	qSetHead = `UPDATE head SET position = ?`

	qSessionCreated = `SELECT created FROM sessions WHERE ` + key
	qSessionRow     = `SELECT created, version, updated FROM sessions WHERE ` + key
	qInsertSession  = `INSERT INTO sessions (app, user_id, session_id, created, version, updated) VALUES (?, ?, ?, ?, 0, ?)`
	qSetVersion     = `UPDATE sessions SET version = ?, updated = ? WHERE ` + key
	qDropSession    = `DELETE FROM sessions WHERE ` + key

	qInsertRecord = `INSERT INTO records (position, kind, app, user_id, session_id, seq, event_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qEventByID    = `SELECT position, seq, body FROM records WHERE kind = 2 AND ` + key + ` AND event_id = ?`
	qRecordAt     = `SELECT position, seq, body FROM records WHERE position = ?`
	qEventsAfter  = `SELECT position, seq, body FROM records WHERE kind = 2 AND ` + key + ` AND seq > ? ORDER BY seq`
	qDropEvents   = `DELETE FROM records WHERE kind = 2 AND ` + key
	qDropRecordAt = `DELETE FROM records WHERE position = ?`

	qSessionState = `SELECT key, value FROM session_state WHERE ` + key
	qAppState     = `SELECT key, value FROM app_state WHERE app = ?`
	qUserState    = `SELECT key, value FROM user_state WHERE app = ? AND user_id = ?`
	qDropState    = `DELETE FROM session_state WHERE ` + key

	qPutSessionState = `INSERT INTO session_state (app, user_id, session_id, key, value, position) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (app, user_id, session_id, key) DO UPDATE SET value = excluded.value, position = excluded.position`
	qDelSessionState = `DELETE FROM session_state WHERE ` + key + ` AND key = ?`
	qPutAppState     = `INSERT INTO app_state (app, key, value, position) VALUES (?, ?, ?, ?)
ON CONFLICT (app, key) DO UPDATE SET value = excluded.value, position = excluded.position`
	qDelAppState  = `DELETE FROM app_state WHERE app = ? AND key = ?`
	qPutUserState = `INSERT INTO user_state (app, user_id, key, value, position) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (app, user_id, key) DO UPDATE SET value = excluded.value, position = excluded.position`
	qDelUserState = `DELETE FROM user_state WHERE app = ? AND user_id = ? AND key = ?`

	qFreeApp = `INSERT INTO app_freed (app, position) VALUES (?, ?)
ON CONFLICT (app) DO UPDATE SET position = max(position, excluded.position)`
	qFreeUser = `INSERT INTO user_freed (app, user_id, position) VALUES (?, ?, ?)
ON CONFLICT (app, user_id) DO UPDATE SET position = max(position, excluded.position)`
	qAppFreed  = `SELECT position FROM app_freed WHERE app = ?`
	qUserFreed = `SELECT position FROM user_freed WHERE app = ? AND user_id = ?`

	qReadAll     = `SELECT position, seq, body FROM records WHERE position > ? ORDER BY position LIMIT ?`
	qReadApp     = `SELECT position, seq, body FROM records WHERE app = ? AND position > ? ORDER BY position LIMIT ?`
	qReadUser    = `SELECT position, seq, body FROM records WHERE app = ? AND user_id = ? AND position > ? ORDER BY position LIMIT ?`
	qReadSession = `SELECT position, seq, body FROM records WHERE kind = 2 AND ` + key + ` AND position > ? ORDER BY position LIMIT ?`

	// afterRecent continues a recent-first page after the session (?2, ?3)
	// last updated at $T ("~", after every time, starts at the beginning),
	// in the text order of sortable times.
	afterRecent = ` AND updated <= $T AND (updated < $T OR (user_id, session_id) > (?2, ?3))`
	recentOrder = `updated DESC, user_id, session_id`
)

// The pages of List, each one statement that reads one snapshot: by key,
// after the session (?2, ?3), of the app ?1 or of its user ?5; recent
// first, of the app (time ?5) or of its user ?5 (time ?6). ?4 is the
// limit. See list.
var (
	qListApp = list(` AND (user_id, session_id) > (?2, ?3)`, `user_id, session_id`)
	// A user's page by key bounds session_id by itself, so that it is a
	// range of the primary key rather than a scan of the app's sessions
	// from (?2, ?3) on: with user_id = ?5, (user_id, session_id) > (?2, ?3)
	// is session_id > ?3 when ?2 = ?5, every session when ?2 < ?5 (no
	// session ID is empty) and none (NULL) when ?2 > ?5.
	qListUser = list(` AND user_id = ?5 AND session_id > CASE WHEN ?2 = ?5 THEN ?3 WHEN ?2 < ?5 THEN x'' END`,
		`user_id, session_id`)
	qRecentApp  = list(strings.ReplaceAll(afterRecent, "$T", "?5"), recentOrder)
	qRecentUser = list(` AND user_id = ?5`+strings.ReplaceAll(afterRecent, "$T", "?6"), recentOrder)
)

// list is a statement that reads a page of the app ?1's sessions (those
// where selects, in order, at most ?4 of them) with their state. Its rows
// are (user_id, session_id, created, version, updated, key, value), of
// three kinds, told apart by the IDs, which are never empty in a session:
//
//   - empty user and session IDs: a key and value of the app's state (none
//     when the page is empty);
//   - an empty session ID: a key and value of the state of a user in the
//     page;
//   - both IDs: a session's row, with one key and value of its state, or
//     NULL ones when it has none.
//
// The columns a row does not use hold empty values rather than NULLs,
// which scan as they are. The page is materialized once; the state tables
// are then read by their primary keys, from the page's rows (CROSS JOIN
// keeps SQLite from reading all of the app's user state and looking each
// row up in the page instead).
func list(where, order string) string {
	return `WITH page AS MATERIALIZED (
	SELECT user_id, session_id, created, version, updated FROM sessions
	WHERE app = ?1` + where + `
	ORDER BY ` + order + ` LIMIT ?4)
SELECT x'', x'', 0, 0, '', key, value FROM app_state
WHERE app = ?1 AND EXISTS (SELECT 1 FROM page)
UNION ALL
SELECT u.user_id, x'', 0, 0, '', u.key, u.value
FROM (SELECT DISTINCT user_id FROM page) p
CROSS JOIN user_state u ON u.app = ?1 AND u.user_id = p.user_id
UNION ALL
SELECT p.user_id, p.session_id, p.created, p.version, p.updated, s.key, s.value
FROM page p
LEFT JOIN session_state s ON s.app = ?1 AND s.user_id = p.user_id AND s.session_id = p.session_id`
}

// queries are all of the above, which Open prepares.
var queries = []string{
	qHead, qSetHead, qSessionCreated, qSessionRow, qInsertSession, qSetVersion, qDropSession,
	qInsertRecord, qEventByID, qRecordAt, qEventsAfter, qDropEvents, qDropRecordAt,
	qSessionState, qAppState, qUserState, qDropState,
	qPutSessionState, qDelSessionState, qPutAppState, qDelAppState, qPutUserState, qDelUserState,
	qFreeApp, qFreeUser, qAppFreed, qUserFreed,
	qReadAll, qReadApp, qReadUser, qReadSession,
	qListApp, qListUser, qRecentApp, qRecentUser,
}
