package pgstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionlog/sessionlog/eventlog"
)

// horizon tracks how far a reader of more than one session may read: a
// position up to which every record has committed or never will.
//
// Positions come from a sequence, so records may commit out of position
// order. A transaction that takes a position (take_position) first gets
// its transaction ID and shows, until it ends, an application_name that
// marks it as a holder of the schema's positions. Two rules move the
// horizon, and a step (one round trip) applies both:
//
//   - Records visible right after the horizon, one position after another,
//     have committed: the horizon moves over them.
//   - A step reads the last position handed out, L, and then the holders
//     still running (their transaction IDs, from pg_stat_activity). Every
//     position up to L was taken by one of them or by a transaction that
//     has ended. Once none of them runs (in that step, or a later one), a
//     position up to L whose record is not visible never will be (its
//     transaction rolled back, a deletion freed it, or an import skipped
//     it): the horizon moves to L.
//
// Only the store's own writers count: a long transaction elsewhere on the
// server holds nothing back. A writer that took a position and stays open
// holds back the readers of more than one session until it ends; appends,
// Load and List never wait for it.
//
// This is how the store keeps Read's promise without a lock that every
// write holds until it commits: a follower never passes a position whose
// record may still commit.
type horizon struct {
	// pool, sql, holder and timeout are the store's: where a step runs,
	// its statements, the application_name of a holder of positions, and
	// the bound of a step (0: none).
	pool    *pgxpool.Pool
	sql     *queries
	holder  string
	timeout time.Duration
	// base ends when the store closes; it bounds the steps, which run in
	// goroutines of their own (see fresh), counted in steps.
	base  context.Context
	steps sync.WaitGroup

	mu     sync.Mutex
	closed bool              // no step starts any more
	at     eventlog.Position // every position up to it has committed or never will
	// marks wait for the snapshot that settles them, oldest first.
	marks []mark
	// next is the step callers wait for; it starts once the step
	// running (if any) is done, so that what it reads was read after
	// they came.
	next *step
	// running is held while a step runs.
	running chan struct{}
}

// settleWait bounds how long a fresh horizon waits for the transactions
// that hold the positions handed out before it was asked for. Past it, a
// read returns what is settled, and its reader reads again at the next
// change. A step waits at most a quarter of the statement timeout, so
// that a read, which may wait for the step running and then its own, ends
// within the timeout however long another replica's commit takes.
const settleWait = 250 * time.Millisecond

// mark says: every position up to last is settled once none of holders
// (transaction IDs) runs.
type mark struct {
	last    eventlog.Position
	holders []int64
}

// step is the work of moving the horizon for the callers that wait
// together.
type step struct {
	done chan struct{}
	at   eventlog.Position
	err  error
	// led: a caller has taken the lead of this step.
	led bool
}

func newHorizon(base context.Context, pool *pgxpool.Pool, sql *queries, holder string, timeout time.Duration) *horizon {
	return &horizon{base: base, pool: pool, sql: sql, holder: holder, timeout: timeout, running: make(chan struct{}, 1)}
}

// fresh returns the horizon as far as the positions handed out before the
// call are settled: it waits for a step that starts after it, which
// callers arriving together share, and that step goes on until those
// positions are settled or settleWait passes. The step runs in a
// goroutine of its own, to its end whatever ctx does, since it serves
// other callers too (h.timeout and the store's Close bound it); the
// caller waits for it only as long as ctx lets it.
func (h *horizon) fresh(ctx context.Context) (eventlog.Position, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return 0, eventlog.ErrClosed
	}
	if h.next == nil {
		h.next = &step{done: make(chan struct{})}
	}
	st := h.next
	if !st.led {
		st.led = true
		h.steps.Add(1)
		go h.lead(st)
	}
	h.mu.Unlock()
	select {
	case <-st.done:
		return st.at, st.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// lead runs step st once the step before it is done, and closes st.done
// with its outcome.
func (h *horizon) lead(st *step) {
	defer h.steps.Done()
	defer close(st.done)
	select {
	case h.running <- struct{}{}:
	case <-h.base.Done():
		st.err = eventlog.ErrClosed
		return
	}
	defer func() { <-h.running }()
	h.mu.Lock()
	h.next = nil // later callers wait for the step after this one
	h.mu.Unlock()
	run, cancel := bounded(h.base, h.timeout)
	defer cancel()
	st.at, st.err = h.settle(run)
	if st.err != nil && h.base.Err() != nil {
		st.err = eventlog.ErrClosed
	}
}

// close ends the steps running, and makes later calls of fresh fail with
// ErrClosed; it returns once every step has ended.
func (h *horizon) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.steps.Wait()
}

// settle steps until the positions handed out before its first step are
// settled, pausing a little longer after each step, or until settleWait
// (or a quarter of the statement timeout) passes or ctx ends during a
// pause: then it returns the horizon its last step reached.
func (h *horizon) settle(ctx context.Context) (eventlog.Position, error) {
	wait := settleWait
	if h.timeout > 0 {
		wait = min(wait, h.timeout/4)
	}
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	var want eventlog.Position
	for first := true; ; first = false {
		at, last, err := h.step(ctx)
		if err != nil {
			return 0, err
		}
		if first {
			want = last
		}
		if at >= want || time.Now().Add(pause).After(deadline) {
			return at, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return at, nil
		}
		pause *= 2
	}
}

// stepScan bounds the positions a step reads past the horizon.
const stepScan = 4096

// step reads, in one round trip, the last position handed out, and then
// the holders of positions still running with the positions visible after
// the horizon; it moves the horizon by both rules.
func (h *horizon) step(ctx context.Context) (at, last eventlog.Position, err error) {
	h.mu.Lock()
	from := h.at
	h.mu.Unlock()
	var handed int64
	var holders, visible []int64
	b := &pgx.Batch{}
	b.Queue(h.sql.lastPosition).QueryRow(func(row pgx.Row) error { return row.Scan(&handed) })
	b.Queue(h.sql.horizon, int64(from), stepScan, h.holder).QueryRow(func(row pgx.Row) error { return row.Scan(&holders, &visible) })
	if err := h.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, 0, err
	}
	last = eventlog.Position(max(handed, 0))
	return h.advance(from, visible, last, holders), last, nil
}

// advance moves the horizon over the positions visible right after from
// (those a step read, in order), adds the mark (last, holders), and moves
// the horizon to the last position of the newest mark none of whose
// holders still runs: the holders of a mark include every one of an
// older mark's that still ran then. It returns the horizon.
func (h *horizon) advance(from eventlog.Position, visible []int64, last eventlog.Position, holders []int64) eventlog.Position {
	h.mu.Lock()
	defer h.mu.Unlock()
	if from == h.at { // else another step moved it meanwhile
		for _, p := range visible {
			if eventlog.Position(p) != h.at+1 {
				break
			}
			h.at++
		}
	}
	if n := len(h.marks); last > h.at && (n == 0 || last > h.marks[n-1].last) {
		h.marks = append(h.marks, mark{last: last, holders: holders})
	}
	for i := len(h.marks) - 1; i >= 0; i-- {
		if !slices.ContainsFunc(h.marks[i].holders, func(x int64) bool { return slices.Contains(holders, x) }) {
			h.at = max(h.at, h.marks[i].last)
			h.marks = h.marks[i+1:]
			break
		}
	}
	for len(h.marks) > 0 && h.marks[0].last <= h.at {
		h.marks = h.marks[1:]
	}
	return h.at
}

// known returns the horizon as far as it is known, without a step.
func (h *horizon) known() eventlog.Position {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.at
}

// pending reports whether positions handed out wait for a later snapshot
// to be settled.
func (h *horizon) pending() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.marks) > 0
}
