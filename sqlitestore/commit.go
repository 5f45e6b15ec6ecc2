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
	// abandoned, guarded by the committer's mu, is set when the caller
	// left while the op was in a batch being committed.
	abandoned bool
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
	// stored, when set, is called after a batch that stored an op whose
	// caller had left (see leave): that caller, gone with its context's
	// error, cannot wake the store's readers.
	stored func()
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
			switch c.leave(o) {
			case left:
				return ctx.Err()
			case finished:
				return nil
			}
			// promoted as ctx ended: the queue needs its leader
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
	// Every outcome is out, so a caller leaving from now on takes its
	// outcome instead (leave); one that left before is made up for here.
	wake := slices.ContainsFunc(batch, func(b *op) bool { return b.abandoned && b.err == nil })
	c.mu.Unlock()
	if wake && c.stored != nil {
		c.stored()
	}
	return nil
}

// What a follower whose ctx ended does (leave).
const (
	left     = iota // return ctx's error
	finished        // its outcome is out: return it
	promoted        // lead, as the queue needs its leader
)

// leave settles a follower whose ctx ended, with c.mu: promoted, it must
// lead; with its outcome out, it returns that; still queued, it leaves
// the queue and is not run. A follower already in a batch is left to
// finish: its caller gets ctx's error, and whether it was stored is for a
// retry with the same event ID to find out (CONTRACT A7); if the batch
// stores it, the leader wakes the store's readers (stored), as the caller
// no longer can.
func (c *committer) leave(o *op) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-o.promote:
		return promoted
	case <-o.done:
		return finished
	default:
	}
	if i := slices.Index(c.queue, o); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
	} else {
		o.abandoned = true
	}
	return left
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
	// Records below the batch's were written by another store on the
	// file since this one last looked: its readers are woken for them
	// here, as the poll would have, since the poll now looks only above
	// this batch's.
	if s.raiseSeen(start) {
		s.wake.Fire("")
	}
	s.raiseSeen(t.head)
}
