package pgstore

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
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

// committer is group commit without a goroutine of its own: an append that
// finds nobody sending becomes the leader and sends every append waiting
// at that moment as one batch, which PostgreSQL runs as one implicit
// transaction (one WAL flush for all of them). Appends that arrive while
// it waits queue up; when it is done it hands the lead to the first of
// them, so each caller leads at most once and a steady stream never keeps
// one caller sending for others.
type committer struct {
	mu    sync.Mutex
	queue []*pending
	busy  bool

	batches, appends atomic.Uint64 // sent so far, for measurements
}

// pending is one append in the committer: its arguments, and the outcome
// the batch's row gives it.
type pending struct {
	args    []any
	status  int16
	pos     eventlog.Position
	created eventlog.Position
	version uint64
	stored  []byte
	err     error

	done    chan struct{} // closed with the outcome
	promote chan struct{} // closed to make this append the leader
}

func (p *pending) scan(row pgx.Row) error {
	var pos, created, version *int64
	if err := row.Scan(&p.status, &pos, &created, &version, &p.stored); err != nil {
		return err
	}
	if pos != nil {
		p.pos = eventlog.Position(*pos)
	}
	if created != nil {
		p.created = eventlog.Position(*created)
	}
	if version != nil {
		p.version = uint64(*version)
	}
	return nil
}

// do runs p with whatever else is waiting, and returns with p's outcome.
// Once queued an append is not abandoned when ctx ends: it may commit, and
// its caller must learn whether it did. The batch runs without the
// leader's cancellation for the same reason.
func (c *committer) do(ctx context.Context, pool *pgxpool.Pool, sql string, p *pending) {
	p.done, p.promote = make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if c.busy {
		c.mu.Unlock()
		select {
		case <-p.done:
			return
		case <-p.promote:
		}
		c.mu.Lock()
	}
	c.busy = true
	n := min(len(c.queue), maxBatch)
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	send(context.WithoutCancel(ctx), pool, sql, batch)
	c.batches.Add(1)
	c.appends.Add(uint64(len(batch)))

	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].promote) // busy stays set: the lead passes on
	} else {
		c.busy = false
		c.queue = nil
	}
	c.mu.Unlock()
}

// send runs a batch in one round trip. If any statement fails, the
// implicit transaction rolls back and every append in it failed.
func send(ctx context.Context, pool *pgxpool.Pool, sql string, batch []*pending) {
	b := &pgx.Batch{}
	for _, p := range batch {
		b.Queue(sql, p.args...).QueryRow(p.scan)
	}
	err := pool.SendBatch(ctx, b).Close()
	for _, p := range batch {
		if err != nil {
			p.err = err
		}
		close(p.done)
	}
}
