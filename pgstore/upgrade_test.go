package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/projection"
)

// v1 writes records as version 1 of the schema did: no session state, no
// last update time, no freed positions.
type v1 struct {
	t      *testing.T
	conn   *pgx.Conn
	schema string
}

// sharedWrites are rec's app: and user: writes as version 1's write_state
// took them.
func (v v1) sharedWrites(rec *eventlog.Record) (keys, values [][]byte, user []bool) {
	for k, val := range rec.Writes() {
		var key string
		switch {
		case strings.HasPrefix(k, eventlog.AppPrefix):
			key = k[len(eventlog.AppPrefix):]
		case strings.HasPrefix(k, eventlog.UserPrefix):
			key = k[len(eventlog.UserPrefix):]
		default:
			continue
		}
		var b []byte
		if !projection.IsRemoved(val) {
			var err error
			// As the record's body writes it (CONTRACT V1).
			b, err = eventlog.AppendValue(nil, val)
			require.NoError(v.t, err)
		}
		keys, values, user = append(keys, []byte(key)), append(values, b), append(user, strings.HasPrefix(k, eventlog.UserPrefix))
	}
	return keys, values, user
}

func (v v1) create(k eventlog.SessionKey, at time.Time, state map[string]any) *eventlog.Record {
	ctx := context.Background()
	rec := &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: at, State: state}
	body, err := json.Marshal(rec)
	require.NoError(v.t, err)
	tx, err := v.conn.Begin(ctx)
	require.NoError(v.t, err)
	s := v.schema
	require.NoError(v.t, tx.QueryRow(ctx, "UPDATE "+s+".head SET position = position + 1 RETURNING position").Scan(&rec.Position))
	_, err = tx.Exec(ctx, "INSERT INTO "+s+".sessions (app, user_id, session_id, created, version) VALUES ($1, $2, $3, $4, 0)",
		[]byte(k.AppName), []byte(k.UserID), []byte(k.SessionID), int64(rec.Position))
	require.NoError(v.t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+s+".records (position, kind, app, user_id, session_id, body) VALUES ($1, 1, $2, $3, $4, $5)",
		int64(rec.Position), []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID), body)
	require.NoError(v.t, err)
	keys, values, user := v.sharedWrites(rec)
	_, err = tx.Exec(ctx, "SELECT "+s+".write_state($1, $2, $3, $4, $5, $6)", []byte(k.AppName), []byte(k.UserID), keys, values, user, int64(rec.Position))
	require.NoError(v.t, err)
	require.NoError(v.t, tx.Commit(ctx))
	return rec
}

func (v v1) append(k eventlog.SessionKey, seq uint64, at time.Time, delta map[string]any) *eventlog.Record {
	ev := &eventlog.Event{ID: "e" + string(rune('0'+seq)), Timestamp: at, Actions: eventlog.EventActions{StateDelta: delta}}
	rec := &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Time: at, Event: ev}
	body, err := json.Marshal(rec)
	require.NoError(v.t, err)
	keys, values, user := v.sharedWrites(rec)
	var status int16
	require.NoError(v.t, v.conn.QueryRow(context.Background(), "SELECT status, pos FROM "+v.schema+".append_event($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, '', 0)",
		[]byte(k.AppName), []byte(k.UserID), []byte(k.SessionID), int64(seq), []byte(ev.ID), body, keys, values, user).Scan(&status, &rec.Position))
	require.Zero(v.t, status)
	return rec
}

// delete deletes the session whose records are recs, as version 1 did.
func (v v1) delete(recs []*eventlog.Record, at time.Time) eventlog.Position {
	ctx := context.Background()
	k := recs[0].Key
	s := v.schema
	tx, err := v.conn.Begin(ctx)
	require.NoError(v.t, err)
	var pos eventlog.Position
	require.NoError(v.t, tx.QueryRow(ctx, "UPDATE "+s+".head SET position = position + 1 RETURNING position").Scan(&pos))
	key := []any{[]byte(k.AppName), []byte(k.UserID), []byte(k.SessionID)}
	_, err = tx.Exec(ctx, "DELETE FROM "+s+".records WHERE app = $1 AND user_id = $2 AND session_id = $3 AND kind IN (1, 2)", key...)
	require.NoError(v.t, err)
	for _, r := range eventlog.Retained(recs) {
		body, err := json.Marshal(r)
		require.NoError(v.t, err)
		_, err = tx.Exec(ctx, "INSERT INTO "+s+".records (position, kind, app, user_id, session_id, body) VALUES ($1, 4, $2, $3, $4, $5)",
			append([]any{int64(r.Position)}, append(key, body)...)...)
		require.NoError(v.t, err)
	}
	_, err = tx.Exec(ctx, "DELETE FROM "+s+".sessions WHERE app = $1 AND user_id = $2 AND session_id = $3", key...)
	require.NoError(v.t, err)
	body, err := json.Marshal(&eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: at})
	require.NoError(v.t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+s+".records (position, kind, app, user_id, session_id, body) VALUES ($1, 3, $2, $3, $4, $5)",
		append([]any{int64(pos)}, append(key, body)...)...)
	require.NoError(v.t, err)
	require.NoError(v.t, tx.Commit(ctx))
	return pos
}

// CONTRACT R1 K2 across an upgrade: a database written by version 1 of
// the schema (state of app and user only, no last update times) opens
// with this package's store, which folds the log's records into the tables
// that version lacks: every session serves the state, version and last
// update time its log defines, a NUL byte in a key included, and an app
// reader behind a deletion of before the upgrade gets ErrCompacted.
func TestUpgradeFromVersion1(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dsn(t))
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, pgstore.MigrateTo(ctx, pool, schema, 1))
	old := v1{t: t, conn: pgxConn(t), schema: pgx.Identifier{schema}.Sanitize()}

	at := func(n int) time.Time { return time.Date(2025, 3, 4, 5, 6, n, 123456789, time.UTC) }
	a := eventlog.SessionKey{AppName: "app", UserID: "u1", SessionID: "a"}
	old.create(a, at(1), map[string]any{"own": 1.0, "app:color": "red", "user:lang": "go", "k\x00": "nul"})
	old.append(a, 1, at(2), map[string]any{"own": 2.0, "x": "y", "app:color": "blue"})
	old.append(a, 2, at(3), map[string]any{"x": projection.RemovedJSON, "nested": map[string]any{"a": []any{1.0, "b"}}})
	b := eventlog.SessionKey{AppName: "app", UserID: "u2", SessionID: "b"}
	recsB := []*eventlog.Record{old.create(b, at(4), map[string]any{"user:lang": "rust", "mine": true})}
	recsB = append(recsB, old.append(b, 1, at(5), map[string]any{"app:size": 3.0}))
	deleted := old.delete(recsB, at(6))
	c := eventlog.SessionKey{AppName: "app", UserID: "u1", SessionID: "c"}
	old.create(c, at(7), nil)

	store := open(t, schema)
	v, err := store.Load(ctx, a, eventlog.LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), v.Version)
	assert.Len(t, v.Events, 2)
	assert.Equal(t, at(3), v.LastUpdateTime, "to the nanosecond")
	assert.Equal(t, map[string]any{"own": 2.0, "k\x00": "nul", "nested": map[string]any{"a": []any{1.0, "b"}},
		"app:color": "blue", "app:size": 3.0, "user:lang": "go"}, v.State)
	v, err = store.Load(ctx, c, eventlog.LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, at(7), v.LastUpdateTime)
	_, err = store.Load(ctx, b, eventlog.LoadOptions{})
	require.ErrorIs(t, err, eventlog.ErrNotFound)

	// CONTRACT S2: the deletion of before the upgrade freed records
	// before it: an app reader from the start is told so.
	_, _, err = store.Read(ctx, eventlog.Scope{AppName: "app"}, 0, 100)
	var compacted *eventlog.CompactedError
	require.ErrorAs(t, err, &compacted)
	assert.Equal(t, deleted-1, compacted.Served)
	recs, _, err := store.Read(ctx, eventlog.Scope{AppName: "app"}, compacted.Served, 100)
	require.NoError(t, err)
	require.Len(t, recs, 2, "the deletion and c's creation")

	require.NoError(t, projection.Verify(ctx, store))
	var n int
	require.NoError(t, old.conn.QueryRow(ctx, "SELECT count(*) FROM "+old.schema+".migrations").Scan(&n))
	assert.Equal(t, pgstore.Migrations(), n)
}

// Migration 4 pads the last update times written before it to nine
// fractional digits, so that their text sorts as the times do: a session
// keeps its last update to the nanosecond, and recent-first listing orders
// old and new rows alike.
func TestMigrationPadsLastUpdateTimes(t *testing.T) {
	// CONTRACT L1 L2
	ctx := t.Context()
	schema := newSchema(t)
	store := open(t, schema)
	base := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	times := []time.Time{base, base.Add(100 * time.Millisecond), base.Add(120 * time.Millisecond), base.Add(time.Nanosecond), base.Add(2 * time.Second)}
	for i, at := range times {
		k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint("s", i)}
		_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: at})
		require.NoError(t, err)
	}
	require.NoError(t, store.Close())

	// The rows as a store before migration 4 wrote them: RFC 3339 with
	// the fraction's trailing zeros cut.
	conn := pgxConn(t)
	s := pgx.Identifier{schema}.Sanitize()
	for i, at := range times {
		_, err := conn.Exec(ctx, "UPDATE "+s+".sessions SET updated = $1 WHERE session_id = $2", at.Format(time.RFC3339Nano), []byte(fmt.Sprint("s", i)))
		require.NoError(t, err)
	}
	require.NoError(t, pgstore.RunMigrationSQL(ctx, conn, schema, 4))

	store = open(t, schema)
	var views []eventlog.View
	var err error
	var unpadded int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM "+s+`.sessions WHERE updated !~ '\.[0-9]{9}Z$'`).Scan(&unpadded))
	assert.Zero(t, unpadded)
	views, err = store.List(ctx, "app", "u", eventlog.ListOptions{Order: eventlog.RecentFirst, Limit: 10})
	require.NoError(t, err)
	var got []string
	for _, v := range views {
		got = append(got, v.Key.SessionID)
		i := int(v.Key.SessionID[1] - '0')
		assert.True(t, times[i].Equal(v.LastUpdateTime), "session %s: %v, want %v", v.Key.SessionID, v.LastUpdateTime, times[i])
	}
	assert.Equal(t, []string{"s4", "s2", "s1", "s3", "s0"}, got)
}
