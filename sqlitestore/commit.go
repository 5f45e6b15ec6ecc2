package sqlitestore

import (
	"context"
	"slices"
	"sync"
)

// maxBatch bounds the writes one transaction carries.
const maxBatch = 256

// op is one write waiting for the committer: run checks its conditions
// and writes, in the batch's transaction, inside a savepoint of its own.
type op struct {
	run func(t *txn) error
	err error // run's outcome, or the batch's commit's failure

	done    chan struct{} // closed with the outcome
	promote chan struct{} // closed to make this op the leader
}

// committer is group commit without a goroutine of its own: a write that
// finds nobody committing becomes the leader and commits every write
// waiting at that moment as one transaction on the writer connection (one
// sync for all of them). Writes that arrive meanwhile queue up; when it is
// done it hands the lead to the first of them, so each caller leads at
// most once and a steady stream never keeps one caller committing for
// others.
type committer struct {
	mu    sync.Mutex
	queue []*op
	busy  bool
}

// do runs o with whatever else is waiting, and returns when o holds its
// outcome, or with ctx's error if ctx ends while o waits for another
// leader's batch (o is then not run). The leader's own batch runs to its
// end, whatever the leader's ctx does, because it carries other callers'
// writes too; SQLite's busy timeout bounds its wait for the file's lock.
func (c *committer) do(ctx context.Context, o *op, commit func([]*op)) error {
	o.done, o.promote = make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.queue = append(c.queue, o)
	if c.busy {
		c.mu.Unlock()
		select {
		case <-o.done:
			return nil
		case <-o.promote:
		case <-ctx.Done():
			if c.leave(o) {
				return ctx.Err()
			}
			<-o.promote // promoted as ctx ended: the queue needs its leader
		}
		c.mu.Lock()
	}
	c.busy = true
	n := min(len(c.queue), maxBatch)
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	commit(batch)
	for _, b := range batch {
		close(b.done)
	}

	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].promote) // busy stays set: the lead passes on
	} else {
		c.busy = false
		c.queue = nil
	}
	c.mu.Unlock()
	return nil
}

// leave takes a follower whose ctx ended out of the queue, if it is still
// waiting there and not promoted. It reports false when the follower must
// stay: promoted, it has to lead. A follower already in a batch is not in
// the queue: it is left to finish unseen, and whether it was stored is
// for a retry with the same event ID to find out (CONTRACT A7).
func (c *committer) leave(o *op) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-o.promote:
		return false
	default:
	}
	if i := slices.Index(c.queue, o); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
	}
	return true
}

// write runs run as one op of a group commit, and returns its outcome.
func (s *Store) write(ctx context.Context, run func(t *txn) error) error {
	o := &op{run: run}
	if err := s.commits.do(ctx, o, s.commitBatch); err != nil {
		return err
	}
	return o.err
}

// commitBatch runs batch in one transaction (BEGIN IMMEDIATE) on the
// writer and commits it. Each op runs inside a savepoint: one that fails
// is rolled back alone, with the positions it took, and the others
// commit. If the transaction itself fails, every op that had succeeded
// gets that failure.
func (s *Store) commitBatch(batch []*op) {
	ctx := context.Background()
	fail := func(err error) {
		for _, o := range batch {
			if o.err == nil {
				o.err = err
			}
		}
	}
	t, err := s.begin(ctx, true)
	if err != nil {
		fail(err)
		return
	}
	rollback := func(err error) {
		_ = t.tx.Rollback()
		fail(err)
	}
	if err := t.scan(qHead, nil, &t.head); err != nil {
		rollback(err)
		return
	}
	start := t.head
	for _, o := range batch {
		before := t.head
		if _, err := t.tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
			rollback(err)
			return
		}
		if o.err = o.run(t); o.err != nil {
			t.head = before
			if _, err := t.tx.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
				rollback(err)
				return
			}
		}
		if _, err := t.tx.ExecContext(ctx, "RELEASE op"); err != nil {
			rollback(err)
			return
		}
	}
	if t.head != start {
		if err := t.exec(qSetHead, t.head); err != nil {
			rollback(err)
			return
		}
	}
	if err := t.tx.Commit(); err != nil {
		fail(err)
		return
	}
	s.raiseSeen(t.head)
}
