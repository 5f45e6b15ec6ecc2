package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionlog/sessionlog/eventlog"
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

// committer is group commit without a goroutine of its own: an append that
// finds fewer than limit batches in flight becomes a leader and sends the
// appends waiting at that moment as one batch, which append_events runs
// in one statement and PostgreSQL commits as one implicit transaction (one
// WAL flush for all of them). Appends that arrive while every slot is busy
// queue up; a leader that is done hands its slot to the first of them, so
// each caller leads at most once and a steady stream never keeps one
// caller sending for others. A batch carries at most one append per
// session: the others wait for a later batch, so that a session's appends
// are checked one after the other, each against the one before.
type committer struct {
	pool    *pgxpool.Pool
	sql     statements
	timeout time.Duration // bounds a batch; 0: none

	mu       sync.Mutex
	queue    []*pending
	inFlight int
	limit    int // batches in flight at most; at least 1

	// The last batch sent: how many appends it carried and how long it
	// took. A leader that finds the queue shorter than that batch gathers
	// first (see gather).
	last     int
	lastTook time.Duration
	// gathered, while a leader gathers, is closed once the queue holds
	// want appends.
	gathered chan struct{}
	want     int
	// gatherMax bounds a gathering; zero means maxGather (tests lengthen
	// it so that their steps need not fit in a millisecond).
	gatherMax time.Duration

	batches, appends atomic.Uint64 // sent so far, for measurements

	// onCommit, when set, is told of each batch sent (Observer.OnCommit).
	onCommit func(appends, roundTrips int, d time.Duration)
	// stored, when set, is told of the app of each append that a batch
	// stored, or found stored, after its caller left (see leave): the
	// caller, gone with its context's error, cannot tell the store's
	// readers of it (Append tells them of a duplicate too).
	stored func(app string)
}

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

	done    chan struct{} // closed with the outcome
	promote chan struct{} // closed to make this append the leader
	// abandoned, guarded by the committer's mu, is set when the caller
	// left while the append was on its way in a batch.
	abandoned bool
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

// do runs p with whatever else is waiting, and returns when p holds its
// outcome, or with ctx's error (and p no longer the caller's to read) if
// ctx ends while p waits for another leader's batch. A leader's own batch
// runs to its end, whatever the leader's ctx does, because it carries
// other callers' appends too; c.timeout bounds it, so that a hung
// statement fails the batch rather than every append behind it.
func (c *committer) do(ctx context.Context, p *pending) error {
	p.done, p.promote = make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	if c.inFlight < max(c.limit, 1) {
		c.inFlight++
		c.gather()
	} else {
		c.enqueue(p)
		c.mu.Unlock()
		select {
		case <-p.done:
			return nil
		case <-p.promote:
		case <-ctx.Done():
			switch c.leave(p) {
			case left:
				return ctx.Err()
			case finished:
				return nil
			}
			// promoted as ctx ended: its slot needs a leader
		}
		c.mu.Lock()
	}
	batch := c.take(p)
	c.mu.Unlock()

	start := time.Now()
	lead, cancel := bounded(context.WithoutCancel(ctx), c.timeout)
	trips := send(lead, c.pool, c.sql, batch)
	cancel()
	elapsed := time.Since(start)
	c.batches.Add(1)
	c.appends.Add(uint64(len(batch)))

	c.mu.Lock()
	c.last, c.lastTook = len(batch), elapsed
	if len(c.queue) > 0 {
		next := c.queue[0] // the slot passes on
		c.queue = c.queue[1:]
		close(next.promote)
	} else {
		c.inFlight--
		c.queue = nil
	}
	// Every outcome is out (send closed each done), so a caller leaving
	// from now on takes its outcome instead (leave); one that left
	// before is told of here.
	var apps []string
	for _, b := range batch {
		if b.abandoned && b.err == nil && (b.status == statusAppended || b.status == statusDuplicate) {
			apps = append(apps, b.key.AppName)
		}
	}
	c.mu.Unlock()
	if c.stored != nil {
		for _, app := range apps {
			c.stored(app)
		}
	}
	if c.onCommit != nil {
		// Once the slot has passed on, so that the next batch waits for
		// no observer.
		c.onCommit(len(batch), trips, elapsed)
	}
	return nil
}

// maxGather bounds how long a leader gathers appends.
const maxGather = time.Millisecond

// gather, with c.mu held by a new leader, waits a moment for the callers
// of the last batch to come back when that batch carried several appends
// and fewer are queued now: under a steady load they return together, and
// the first one back would otherwise send a batch of one, then the rest
// a batch of their own, doubling the transactions and the WAL flushes.
// It waits until the queue holds as many appends as the last batch less
// one, or half as long as that batch took (at most maxGather), whichever
// comes first. A lone caller (a last batch of one) never waits.
func (c *committer) gather() {
	if c.last < 2 || len(c.queue) >= c.last-1 {
		return
	}
	ch := make(chan struct{})
	c.gathered, c.want = ch, c.last-1
	wait := min(c.lastTook/2, cmp.Or(c.gatherMax, maxGather))
	c.mu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-ch:
	case <-t.C:
	}
	t.Stop()
	c.mu.Lock()
	if c.gathered == ch {
		c.gathered = nil
	}
}

// enqueue queues p, with c.mu held, and ends a leader's gathering once
// the queue holds what it waits for.
func (c *committer) enqueue(p *pending) {
	c.queue = append(c.queue, p)
	if c.gathered != nil && len(c.queue) >= c.want {
		close(c.gathered)
		c.gathered = nil
	}
}

// take makes leader's batch, with c.mu held: the leader's append, then
// the queue's in order, up to maxBatch, but for an append whose session
// the batch has already; those stay queued, in their order.
func (c *committer) take(leader *pending) []*pending {
	batch := []*pending{leader}
	if len(c.queue) == 0 {
		return batch
	}
	sessions := map[eventlog.SessionKey]struct{}{leader.key: {}}
	left := c.queue[:0]
	for _, p := range c.queue {
		if _, ok := sessions[p.key]; ok || len(batch) == maxBatch {
			left = append(left, p)
			continue
		}
		sessions[p.key] = struct{}{}
		batch = append(batch, p)
	}
	clear(c.queue[len(left):])
	c.queue = left
	return batch
}

// What a follower whose ctx ended does (leave).
const (
	left     = iota // return ctx's error
	finished        // its outcome is out: return it
	promoted        // lead, as the slot it was given needs a leader
)

// leave settles a follower whose ctx ended, with c.mu: promoted, it must
// lead; with its outcome out, it returns that; still queued, it leaves
// the queue and is never sent. An append already on its way in a batch
// is left to finish: its caller gets ctx's error, and whether the append
// was stored is for a retry with the same event ID to find out (CONTRACT
// A7); if the batch stores it, the leader tells the store's readers
// (stored), as the caller no longer can.
func (c *committer) leave(p *pending) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-p.promote:
		return promoted
	case <-p.done:
		return finished
	default:
	}
	if i := slices.Index(c.queue, p); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
	} else {
		p.abandoned = true
	}
	return left
}

// statements are the SQL a batch is sent with: one for a batch of one
// append (append_event), many for more (append_events).
type statements struct{ one, many string }

// send runs a batch in one round trip. If it fails, the implicit
// transaction rolls back and nothing in it is stored; so that one
// append's failure is not its neighbours', each is then sent again on its
// own and gets its own outcome. It returns the round trips it took.
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
	for _, p := range batch {
		close(p.done)
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
