package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/groupcommit"
)

// The statuses of append_event (see the migration).
const (
	statusAppended  = 0
	statusNotFound  = 1
	statusDuplicate = 2
	statusStale     = 3
)

// maxBatch bounds the appends one round trip carries.
const maxBatch = 256

// DefaultBatches is how many batches of appends a store has in flight at
// once when [Options.Batches] is zero: one, which on a server with few
// cores gives the most appends per second (more, smaller batches cost the
// server more per append).
const DefaultBatches = 1

// newCommitter is s's group commit of appends (see groupcommit): an
// append that finds fewer than batches batches in flight becomes a leader
// and sends the appends waiting at that moment as one batch, which
// append_events runs in one statement and PostgreSQL commits as one
// implicit transaction (one WAL flush for all of them). A batch carries
// at most one append per session: the others wait for a later batch, so
// that a session's appends are checked one after the other, each against
// the one before. A leader's batch is bounded by the statement timeout,
// not by the leader's context, so that a hung statement fails the batch
// rather than every append behind it. onCommit, when set, is told of each
// batch (Observer.OnCommit) once the slot has passed on, so that the next
// batch waits for no observer.
func (s *Store) newCommitter(batches int, onCommit func(appends, roundTrips int, d time.Duration)) *groupcommit.Committer[*pending, eventlog.SessionKey] {
	sql := statements{one: s.sql.appendEvent, many: s.sql.appendEvents}
	return &groupcommit.Committer[*pending, eventlog.SessionKey]{
		Limit:  batches,
		Max:    maxBatch,
		Key:    func(p *pending) eventlog.SessionKey { return p.key },
		Gather: maxGather,
		Run: func(ctx context.Context, batch []*pending) func() {
			start := time.Now()
			lead, cancel := bounded(context.WithoutCancel(ctx), s.timeout)
			trips := send(lead, s.pool, sql, batch)
			cancel()
			took := time.Since(start)
			if onCommit == nil {
				return nil
			}
			return func() { onCommit(len(batch), trips, took) }
		},
		// An append stored, or found stored, after its caller left: the
		// caller, gone with its context's error, cannot tell the store's
		// readers of it (Append tells them of a duplicate too), and
		// whether it was stored is for a retry with the same event ID to
		// find out (CONTRACT A7).
		Abandoned: func(p *pending) {
			if p.err == nil && (p.status == statusAppended || p.status == statusDuplicate) {
				s.changed(p.key.AppName)
			}
		},
	}
}

// maxGather bounds how long a new leader gathers appends
// (groupcommit.Committer.Gather).
const maxGather = time.Millisecond

// pending is one append in the committer: append_event's arguments, and
// the outcome the batch's row gives it.
type pending struct {
	key         eventlog.SessionKey
	wantSeq     int64 // 0: the next one
	eventID     []byte
	body        []byte
	time        string
	incarnation int64 // 0: any
	writes      stateWrites

	status  int16
	pos     eventlog.Position
	seq     uint64
	created eventlog.Position
	version uint64
	stored  []byte
	err     error
}

// args are p's arguments for append_event, which appends one event.
func (p *pending) args() []any {
	k := p.key
	return []any{[]byte(k.AppName), []byte(k.UserID), []byte(k.SessionID), p.wantSeq, p.eventID, p.body, p.time,
		p.writes.keys, p.writes.values, p.writes.scopes, noChannel, "", p.incarnation}
}

// outcome is an append's row from append_event, and from append_events
// after its index: the status, then the positions and numbers the status
// gives (NULL where it gives none), and a duplicate's stored body.
type outcome struct {
	status                     int16
	pos, seq, created, version pgtype.Int8
	stored                     []byte
}

// dest are the scan destinations of o's columns.
func (o *outcome) dest() []any {
	return []any{&o.status, &o.pos, &o.seq, &o.created, &o.version, &o.stored}
}

// scan reads p's outcome from append_event's row.
func (p *pending) scan(row pgx.Row) error {
	var o outcome
	if err := row.Scan(o.dest()...); err != nil {
		return err
	}
	p.set(o)
	return nil
}

// set records o as p's outcome.
func (p *pending) set(o outcome) {
	p.status, p.stored = o.status, o.stored
	if o.pos.Valid {
		p.pos = eventlog.Position(o.pos.Int64)
	}
	if o.seq.Valid {
		p.seq = uint64(o.seq.Int64)
	}
	if o.created.Valid {
		p.created = eventlog.Position(o.created.Int64)
	}
	if o.version.Valid {
		p.version = uint64(o.version.Int64)
	}
}

// statements are the SQL a batch is sent with: one for a batch of one
// append (append_event), many for more (append_events).
type statements struct{ one, many string }

// send runs a batch in one round trip. If it fails, the implicit
// transaction rolled back and nothing in it is stored, unless the
// connection was lost after the commit; so that one append's failure is
// not its neighbours', each is then sent again on its own and gets its
// own outcome: after a commit whose reply was lost, that of a duplicate
// (the service's handle one event behind takes it, CONTRACT A7). It
// returns the round trips it took.
func send(ctx context.Context, pool *pgxpool.Pool, sql statements, batch []*pending) (roundTrips int) {
	roundTrips = 1
	if err := sendBatch(ctx, pool, sql, batch); err != nil {
		for _, p := range batch {
			p.err = err
			if len(batch) > 1 {
				p.err = sendBatch(ctx, pool, sql, []*pending{p})
				roundTrips++
			}
		}
	}
	return roundTrips
}

// sendBatch sends batch's appends, which commit together, and gives each
// its row's outcome. One append alone goes to append_event, which does
// less than append_events.
func sendBatch(ctx context.Context, pool *pgxpool.Pool, sql statements, batch []*pending) error {
	n := len(batch)
	if n == 1 {
		return batch[0].scan(pool.QueryRow(ctx, sql.one, batch[0].args()...))
	}
	apps, users, ids := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	eventIDs, bodies, times := make([][]byte, n), make([][]byte, n), make([]string, n)
	seqs, incarnations := make([]int64, n), make([]int64, n)
	var of []int32
	var keys, values [][]byte
	var scopes []int16
	for i, p := range batch {
		k := p.key
		apps[i], users[i], ids[i] = []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID)
		eventIDs[i], bodies[i], times[i] = p.eventID, p.body, p.time
		seqs[i], incarnations[i] = p.wantSeq, p.incarnation
		for range p.writes.keys {
			of = append(of, int32(i+1))
		}
		keys, values, scopes = append(keys, p.writes.keys...), append(values, p.writes.values...), append(scopes, p.writes.scopes...)
	}
	rows, err := pool.Query(ctx, sql.many, apps, users, ids, seqs, eventIDs, bodies, times, incarnations, of, keys, values, scopes)
	if err != nil {
		return err
	}
	defer rows.Close()
	var i int32
	var o outcome
	dest := append([]any{&i}, o.dest()...)
	for rows.Next() {
		o = outcome{}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if i < 1 || int(i) > n {
			return fmt.Errorf("append_events returned append %d of %d", i, n)
		}
		batch[i-1].set(o)
	}
	return rows.Err()
}
