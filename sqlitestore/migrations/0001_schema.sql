-- The log and its read model, as pgstore keeps them in PostgreSQL (its
-- migrations 1 to 4 give the same tables), in SQLite's dialect. Keys and
-- bodies are BLOBs, never TEXT, because a session key or a state value may
-- hold any bytes, and BLOBs compare byte by byte, as Go compares strings:
-- the primary key order of sessions is List's order by key. The store binds
-- every key as a BLOB; a TEXT value would compare apart from them.

-- head holds the last position handed out. There is one writer at a time
-- (SQLite's write lock, taken by BEGIN IMMEDIATE), which reads and raises
-- it in its transaction, so records commit in position order and a reader
-- that sees position p in its snapshot sees every record before it.
CREATE TABLE head (
	one      INTEGER PRIMARY KEY CHECK (one = 1),
	position INTEGER NOT NULL
);
INSERT INTO head (one, position) VALUES (1, 0);

-- sessions holds the live sessions: their incarnation (the position of the
-- creation record), their version (the last sequence number) and their
-- last update time, in the form sqlrecord.SortableTime writes (RFC 3339 in
-- UTC with all nine fractional digits, so that its text sorts as its time).
CREATE TABLE sessions (
	app        BLOB    NOT NULL,
	user_id    BLOB    NOT NULL,
	session_id BLOB    NOT NULL,
	created    INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	updated    TEXT    NOT NULL,
	PRIMARY KEY (app, user_id, session_id)
) WITHOUT ROWID;

-- records: kind 1 created, 2 event appended, 3 deleted, 4 state retained.
-- body is the record as JSON (its position is the column's, an event's
-- sequence number the seq column's). position is the rowid.
CREATE TABLE records (
	position   INTEGER PRIMARY KEY,
	kind       INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),
	app        BLOB    NOT NULL,
	user_id    BLOB    NOT NULL,
	session_id BLOB    NOT NULL,
	seq        INTEGER NOT NULL DEFAULT 0,
	event_id   BLOB,
	body       BLOB    NOT NULL
);
-- The database itself keeps a session's sequence without gaps or repeats
-- and its event IDs unique; a deleted session's events are removed, so
-- these hold per incarnation. The writer checks both before it writes.
CREATE UNIQUE INDEX records_session_seq ON records (app, user_id, session_id, seq) WHERE kind = 2;
CREATE UNIQUE INDEX records_session_event ON records (app, user_id, session_id, event_id) WHERE kind = 2;
CREATE INDEX records_app ON records (app, position);
CREATE INDEX records_user ON records (app, user_id, position);

-- The state of the three scopes, keys without their prefix, values JSON,
-- each with the position of the record that wrote it last. A session's
-- rows go with it when it is deleted.
CREATE TABLE session_state (
	app        BLOB    NOT NULL,
	user_id    BLOB    NOT NULL,
	session_id BLOB    NOT NULL,
	key        BLOB    NOT NULL,
	value      BLOB    NOT NULL,
	position   INTEGER NOT NULL,
	PRIMARY KEY (app, user_id, session_id, key)
) WITHOUT ROWID;
CREATE TABLE app_state (
	app      BLOB    NOT NULL,
	key      BLOB    NOT NULL,
	value    BLOB    NOT NULL,
	position INTEGER NOT NULL,
	PRIMARY KEY (app, key)
) WITHOUT ROWID;
CREATE TABLE user_state (
	app      BLOB    NOT NULL,
	user_id  BLOB    NOT NULL,
	key      BLOB    NOT NULL,
	value    BLOB    NOT NULL,
	position INTEGER NOT NULL,
	PRIMARY KEY (app, user_id, key)
) WITHOUT ROWID;

-- app_freed and user_freed hold, per app and per user in an app, the last
-- position of the records a deletion freed there. An app or user reader
-- whose position is below it would skip those records without knowing, so
-- it gets ErrCompacted instead, naming that position.
CREATE TABLE app_freed (
	app      BLOB    PRIMARY KEY,
	position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE user_freed (
	app      BLOB    NOT NULL,
	user_id  BLOB    NOT NULL,
	position INTEGER NOT NULL,
	PRIMARY KEY (app, user_id)
) WITHOUT ROWID;
