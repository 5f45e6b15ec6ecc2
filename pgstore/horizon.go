package pgstore

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionlog/sessionlog/eventlog"
)

// horizon tracks how far a reader of more than one session may read: a
// position up to which every record has committed or never will.
//
// Positions come from a sequence, and a transaction takes its ID before
// its positions (take_position), so records may commit out of position
// order. Two rules move the horizon, and a step (one round trip) applies
// both:
//
//   - Records visible right after the horizon, one position after another,
//     have committed: the horizon moves over them.
//   - A step reads the last position handed out, L, and then takes a
//     transaction ID of its own, s. Every position up to L was taken by a
//     transaction whose ID is below s. Once a later step's snapshot shows
//     no transaction running below s (its xmin is above s), all of them
//     have ended, and a position up to L whose record is not visible will
//     never be (its transaction rolled back, a deletion freed it, or an
//     import skipped it): the horizon moves to L. (A snapshot's xmax
//     cannot stand in for s: it is one past the last transaction to
//     finish, and a transaction that started after that one runs without
//     being listed below it.)
//
// A transaction that took a position and stays open holds the horizon
// back until it ends, and one that writes anywhere on the server may delay
// the second rule; appends, Load and List never wait for either.
//
// This is how the store keeps Read's promise without a lock that every
// write holds until it commits: a follower never passes a position whose
// record may still commit.
type horizon struct {
	mu sync.Mutex
	at eventlog.Position // every position up to it has committed or never will
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
// change.
const settleWait = 2 * time.Second

// mark says: every position up to last is settled once a snapshot's xmin
// is above xid.
type mark struct {
	last eventlog.Position
	xid  uint64
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

func newHorizon() *horizon {
	return &horizon{running: make(chan struct{}, 1)}
}

// fresh returns the horizon as far as the positions handed out before the
// call are settled: it waits for a step that starts after it, which
// callers arriving together share, and that step goes on until those
// positions are settled or settleWait passes. The step runs to its end
// whatever ctx does, since it serves other callers too; timeout (0: none)
// bounds it.
func (h *horizon) fresh(ctx context.Context, pool *pgxpool.Pool, sql *queries, timeout time.Duration) (eventlog.Position, error) {
	h.mu.Lock()
	if h.next == nil {
		h.next = &step{done: make(chan struct{})}
	}
	st := h.next
	lead := !st.led
	st.led = true
	h.mu.Unlock()
	if lead {
		h.running <- struct{}{}
		h.mu.Lock()
		h.next = nil // later callers wait for the step after this one
		h.mu.Unlock()
		run := context.WithoutCancel(ctx)
		cancel := context.CancelFunc(func() {})
		if timeout > 0 {
			run, cancel = context.WithTimeout(run, timeout)
		}
		st.at, st.err = h.settle(run, pool, sql)
		cancel()
		<-h.running
		close(st.done)
	}
	select {
	case <-st.done:
		return st.at, st.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// settle steps until the positions handed out before its first step are
// settled, pausing a little longer after each step, or until settleWait
// passes.
func (h *horizon) settle(ctx context.Context, pool *pgxpool.Pool, sql *queries) (eventlog.Position, error) {
	deadline := time.Now().Add(settleWait)
	pause := time.Millisecond
	var want eventlog.Position
	for first := true; ; first = false {
		at, last, err := h.step(ctx, pool, sql)
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
			return 0, ctx.Err()
		}
		pause *= 2
	}
}

// stepScan bounds the positions a step reads past the horizon.
const stepScan = 4096

// step reads, in one round trip, the last position handed out, and then
// a snapshot with the positions visible after the horizon in it, and
// takes a transaction ID; it moves the horizon by both rules. It returns the horizon and the last
// position handed out.
func (h *horizon) step(ctx context.Context, pool *pgxpool.Pool, sql *queries) (at, last eventlog.Position, err error) {
	h.mu.Lock()
	from := h.at
	h.mu.Unlock()
	var handed int64
	var xmin, xid uint64
	var visible []int64
	b := &pgx.Batch{}
	b.Queue(sql.lastPosition).QueryRow(func(row pgx.Row) error { return row.Scan(&handed) })
	b.Queue(sql.horizon, int64(from), stepScan).QueryRow(func(row pgx.Row) error { return row.Scan(&xid, &xmin, &visible) })
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, 0, err
	}
	last = eventlog.Position(max(handed, 0))
	return h.advance(from, visible, last, xmin, xid), last, nil
}

// advance moves the horizon over the positions visible right after from
// (those a step read, in order), moves it past every mark that xmin
// settles, and adds the mark (last, xid). It returns the horizon.
func (h *horizon) advance(from eventlog.Position, visible []int64, last eventlog.Position, xmin, xid uint64) eventlog.Position {
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
	i := 0
	for ; i < len(h.marks) && (h.marks[i].xid < xmin || h.marks[i].last <= h.at); i++ {
		h.at = max(h.at, h.marks[i].last)
	}
	h.marks = h.marks[i:]
	if n := len(h.marks); last > h.at && (n == 0 || last > h.marks[n-1].last) {
		h.marks = append(h.marks, mark{last: last, xid: xid})
	}
	return h.at
}

// pending reports whether positions handed out wait for a later snapshot
// to be settled.
func (h *horizon) pending() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.marks) > 0
}
