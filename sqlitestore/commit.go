package sqlitestore

import (
	"context"

	"github.com/sessionlog/sessionlog/internal/groupcommit"
)

// maxBatch bounds the writes one transaction carries.
const maxBatch = 256

// op is one write for the committer: run checks its conditions and
// writes, in the batch's transaction, inside a savepoint of its own.
type op struct {
	run func(t *txn) error
	err error // run's outcome, or the batch's commit's failure
}

// newCommitter is s's group commit of writes (see groupcommit): a write
// that finds nobody committing becomes the leader and commits every write
// waiting at that moment as one transaction on the writer connection (one
// sync for all of them). The leader's own batch runs to its end, whatever
// the leader's context does, because it carries other callers' writes
// too; SQLite's busy timeout bounds its wait for the file's lock.
func (s *Store) newCommitter() *groupcommit.Committer[*op, struct{}] {
	return &groupcommit.Committer[*op, struct{}]{
		Max: maxBatch,
		Run: func(_ context.Context, batch []*op) func() {
			s.commitBatch(batch)
			return nil
		},
		// A write stored after its caller left, gone with its context's
		// error: that caller cannot wake the store's readers, and whether
		// it was stored is for a retry with the same event ID to find out
		// (CONTRACT A7).
		Abandoned: func(o *op) {
			if o.err == nil {
				s.wake.Fire("")
			}
		},
	}
}

// write runs run as one op of a group commit, and returns its outcome.
func (s *Store) write(ctx context.Context, run func(t *txn) error) error {
	o := &op{run: run}
	if err := s.commits.Do(ctx, o); err != nil {
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
