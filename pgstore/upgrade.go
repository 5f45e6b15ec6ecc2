package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sessionlog/sessionlog/eventlog"
)

// upgradeChunk is how many sessions fillReadModel folds at a time.
const upgradeChunk = 1000

// fillReadModel is the upgrade step of version 2: it folds the records of
// every live session into the tables that version adds (its own state in
// session_state, its last update time in sessions.updated), with the same
// rules as the store's appends, so that a database written by an older
// version serves the state its log defines. It reads the sessions in
// chunks, and each chunk's records one at a time, so its memory is bounded
// by a chunk's state, not by the log. It returns how many sessions it
// folded.
func fillReadModel(ctx context.Context, tx pgx.Tx, schema string) (int, error) {
	q := func(s string) string { return strings.ReplaceAll(s, "§", schema) }
	read := q(`SELECT s.app, s.user_id, s.session_id, r.position, r.seq, r.body
FROM (SELECT app, user_id, session_id FROM §.sessions WHERE (app, user_id, session_id) > ($1, $2, $3)
	ORDER BY app, user_id, session_id LIMIT $4) s
LEFT JOIN §.records r ON r.app = s.app AND r.user_id = s.user_id AND r.session_id = s.session_id AND r.kind IN (1, 2)
ORDER BY s.app, s.user_id, s.session_id, r.position`)
	insertState := q(`INSERT INTO §.session_state (app, user_id, session_id, key, value, position)
SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bigint[])`)
	setUpdated := q(`UPDATE §.sessions s SET updated = u.updated
FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::text[]) AS u (app, user_id, session_id, updated)
WHERE s.app = u.app AND s.user_id = u.user_id AND s.session_id = u.session_id`)

	after := [3][]byte{{}, {}, {}} // before every key: app names are never empty
	total := 0
	for {
		var (
			state   [5][][]byte // app, user, session, key and value of each row of session_state
			pos     []int64     // and its position
			updated [3][][]byte // app, user and session of each session
			times   []string    // and its last update time
			cur     *sessionFold
			n       int
		)
		flush := func() {
			if cur == nil {
				return
			}
			for k, w := range cur.own {
				for i, v := range [][]byte{cur.app, cur.user, cur.id, []byte(k), w.value} {
					state[i] = append(state[i], v)
				}
				pos = append(pos, w.position)
			}
			for i, v := range [][]byte{cur.app, cur.user, cur.id} {
				updated[i] = append(updated[i], v)
			}
			times = append(times, cur.updated)
		}
		rows, err := tx.Query(ctx, read, after[0], after[1], after[2], upgradeChunk)
		if err != nil {
			return total, err
		}
		for rows.Next() {
			var app, user, id, body []byte
			var at, seq *int64
			if err := rows.Scan(&app, &user, &id, &at, &seq, &body); err != nil {
				rows.Close()
				return total, err
			}
			if cur == nil || !bytes.Equal(cur.app, app) || !bytes.Equal(cur.user, user) || !bytes.Equal(cur.id, id) {
				flush()
				cur = &sessionFold{app: app, user: user, id: id, own: map[string]ownWrite{}}
				n++
			}
			if at == nil {
				rows.Close()
				return total, fmt.Errorf("session %q/%q/%q has no records", app, user, id)
			}
			rec, err := decode(eventlog.Position(*at), uint64(*seq), body)
			if err != nil {
				rows.Close()
				return total, err
			}
			if err := cur.apply(rec); err != nil {
				rows.Close()
				return total, err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, err
		}
		flush()
		total += n
		if n == 0 {
			return total, nil
		}
		if len(pos) > 0 {
			if _, err := tx.Exec(ctx, insertState, state[0], state[1], state[2], state[3], state[4], pos); err != nil {
				return total, err
			}
		}
		if _, err := tx.Exec(ctx, setUpdated, updated[0], updated[1], updated[2], times); err != nil {
			return total, err
		}
		if n < upgradeChunk {
			return total, nil
		}
		after = [3][]byte{cur.app, cur.user, cur.id}
	}
}

// sessionFold is one session's own state and last update time, folded
// from its records in position order.
type sessionFold struct {
	app, user, id []byte
	own           map[string]ownWrite
	updated       string
}

type ownWrite struct {
	value    []byte
	position int64
}

func (f *sessionFold) apply(rec *eventlog.Record) error {
	w, err := writesOf(rec)
	if err != nil {
		return err
	}
	for i, scope := range w.scopes {
		if scope != scopeSession {
			continue
		}
		if w.values[i] == nil {
			delete(f.own, string(w.keys[i]))
		} else {
			f.own[string(w.keys[i])] = ownWrite{w.values[i], int64(rec.Position)}
		}
	}
	f.updated = sortableTime(rec.Time)
	return nil
}
