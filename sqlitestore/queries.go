package sqlitestore

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

	// The pages of List: by key, after the session (?, ?); recent first,
	// after the session (?, ?) last updated at ? ("~", after every time,
	// starts at the beginning), in the text order of sortable times.
	listCols    = `SELECT user_id, session_id, created, version, updated FROM sessions WHERE app = ?`
	qListApp    = listCols + ` AND (user_id, session_id) > (?, ?) ORDER BY user_id, session_id LIMIT ?`
	qListUser   = listCols + ` AND user_id = ? AND (user_id, session_id) > (?, ?) ORDER BY user_id, session_id LIMIT ?`
	afterRecent = ` AND updated <= ?3 AND (updated < ?3 OR (user_id, session_id) > (?4, ?5)) ORDER BY updated DESC, user_id, session_id LIMIT ?6`
	qRecentApp  = `SELECT user_id, session_id, created, version, updated FROM sessions WHERE app = ?1 AND ?2 = ?2` + afterRecent
	qRecentUser = `SELECT user_id, session_id, created, version, updated FROM sessions WHERE app = ?1 AND user_id = ?2` + afterRecent
)

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
