// Package groupcommit runs the writes of concurrent callers in shared
// batches, one commit for many writes, without a goroutine of its own.
//
// A caller whose write finds a free slot (fewer than Limit batches in
// flight) becomes a leader: it commits its own write with the writes
// waiting at that moment. Writes that find every slot busy queue up; a
// leader that is done hands its slot to the first of them, so each caller
// leads at most once and a steady stream never keeps one caller committing
// for others. The SQL stores use it for their appends.
package groupcommit

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Committer batches writes of type T. Its fields are set before its first
// Do and not changed after.
type Committer[T any, K comparable] struct {
	// Run commits a batch, the leader's write first and then the queue's
	// in their order, and leaves each write's outcome in the write (T is
	// usually a pointer). ctx is the leader's, and may end while Run runs:
	// the batch carries other callers' writes too, so Run must bound its
	// work on its own terms rather than by ctx's end. The function Run
	// returns, if not nil, is called once the leader's slot has passed on.
	Run func(ctx context.Context, batch []T) (after func())
	// Limit is how many batches may be in flight at once; zero means one.
	Limit int
	// Max bounds a batch; zero means no bound.
	Max int
	// Key, if set, keeps two writes of one key out of one batch: the later
	// one stays queued, in its order, for a batch after it.
	Key func(T) K
	// Gather, if not zero, bounds how long a new leader waits for the
	// callers of the last batch to come back (see gather).
	Gather time.Duration
	// Abandoned, if set, is called after a batch, once every write in it
	// has its outcome, for each write whose caller left (Do returned its
	// ctx's error) while the write was in that batch: the write's outcome
	// is in it, but no caller will act on it.
	Abandoned func(T)

	mu       sync.Mutex
	queue    []*waiter[T]
	inFlight int
	// The last batch: how many writes it carried and how long it took.
	last     int
	lastTook time.Duration
	// gathered, while a leader gathers, is closed once the queue holds
	// want writes.
	gathered chan struct{}
	want     int

	batches, writes atomic.Uint64
}

// waiter is a write in the committer.
type waiter[T any] struct {
	v       T
	done    chan struct{} // closed once v holds its outcome
	promote chan struct{} // closed to make the waiter a leader
	// abandoned, guarded by the committer's mu, is set when the caller
	// left while the write was in a batch.
	abandoned bool
}

// Do commits v with whatever else is waiting, and returns nil once v holds
// its outcome. If ctx ends while v waits for another leader's batch, Do
// returns ctx's error: v is then either never run (it was still queued)
// or left to its batch, whose outcome nobody reads (see Abandoned). A
// leader's own batch runs to its end whatever ctx does.
func (c *Committer[T, K]) Do(ctx context.Context, v T) error {
	w := &waiter[T]{v: v, done: make(chan struct{}), promote: make(chan struct{})}
	c.mu.Lock()
	if c.inFlight < max(c.Limit, 1) {
		c.inFlight++
		c.gather()
	} else {
		c.enqueue(w)
		c.mu.Unlock()
		select {
		case <-w.done:
			return nil
		case <-w.promote:
		case <-ctx.Done():
			switch c.leave(w) {
			case left:
				return ctx.Err()
			case finished:
				return nil
			}
			// promoted as ctx ended: its slot needs a leader
		}
		c.mu.Lock()
	}
	batch := c.take(w)
	c.mu.Unlock()

	vs := make([]T, len(batch))
	for i, b := range batch {
		vs[i] = b.v
	}
	start := time.Now()
	after := c.Run(ctx, vs)
	took := time.Since(start)
	for _, b := range batch {
		close(b.done)
	}
	c.batches.Add(1)
	c.writes.Add(uint64(len(batch)))

	c.mu.Lock()
	c.last, c.lastTook = len(batch), took
	if len(c.queue) > 0 {
		next := c.queue[0] // the slot passes on
		c.queue = c.queue[1:]
		close(next.promote)
	} else {
		c.inFlight--
		c.queue = nil
	}
	// Every outcome is out, so a caller leaving from now on takes its
	// outcome instead (leave); one that left before is told of here.
	var abandoned []T
	for _, b := range batch {
		if b.abandoned {
			abandoned = append(abandoned, b.v)
		}
	}
	c.mu.Unlock()
	if c.Abandoned != nil {
		for _, v := range abandoned {
			c.Abandoned(v)
		}
	}
	if after != nil {
		after()
	}
	return nil
}

// Stats reports how many batches c has committed and how many writes they
// carried.
func (c *Committer[T, K]) Stats() (batches, writes uint64) {
	return c.batches.Load(), c.writes.Load()
}

// Queued reports how many writes wait for a slot.
func (c *Committer[T, K]) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// gather, with c.mu held by a new leader, waits a moment for the callers
// of the last batch to come back when that batch carried several writes
// and fewer are queued now: under a steady load they return together, and
// the first one back would otherwise commit a batch of one, then the rest
// a batch of their own, doubling the commits. It waits until the queue
// holds as many writes as the last batch less one, or half as long as
// that batch took (at most c.Gather), whichever comes first. A lone
// caller (a last batch of one) never waits.
func (c *Committer[T, K]) gather() {
	if c.Gather <= 0 || c.last < 2 || len(c.queue) >= c.last-1 {
		return
	}
	ch := make(chan struct{})
	c.gathered, c.want = ch, c.last-1
	wait := min(c.lastTook/2, c.Gather)
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

// enqueue queues w, with c.mu held, and ends a leader's gathering once the
// queue holds what it waits for.
func (c *Committer[T, K]) enqueue(w *waiter[T]) {
	c.queue = append(c.queue, w)
	if c.gathered != nil && len(c.queue) >= c.want {
		close(c.gathered)
		c.gathered = nil
	}
}

// take makes leader's batch, with c.mu held: the leader's write, then the
// queue's in order, up to c.Max, but for a write whose key the batch has
// already; those stay queued, in their order.
func (c *Committer[T, K]) take(leader *waiter[T]) []*waiter[T] {
	batch := []*waiter[T]{leader}
	if len(c.queue) == 0 {
		return batch
	}
	limit := cmp.Or(c.Max, len(c.queue)+1)
	var keys map[K]struct{}
	if c.Key != nil {
		keys = map[K]struct{}{c.Key(leader.v): {}}
	}
	rest := c.queue[:0]
	for _, w := range c.queue {
		if len(batch) == limit {
			rest = append(rest, w)
			continue
		}
		if keys != nil {
			k := c.Key(w.v)
			if _, ok := keys[k]; ok {
				rest = append(rest, w)
				continue
			}
			keys[k] = struct{}{}
		}
		batch = append(batch, w)
	}
	clear(c.queue[len(rest):])
	c.queue = rest
	return batch
}

// What a follower whose ctx ended does (leave).
const (
	left     = iota // return ctx's error
	finished        // its outcome is out: return it
	promoted        // lead, as the slot it was given needs a leader
)

// leave settles a follower whose ctx ended: promoted, it must lead; with
// its outcome out, it returns that; still queued, it leaves the queue and
// is never run. A write already in a batch is left to finish and marked
// abandoned, for the leader to report (Abandoned).
func (c *Committer[T, K]) leave(w *waiter[T]) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-w.promote:
		return promoted
	case <-w.done:
		return finished
	default:
	}
	if i := slices.Index(c.queue, w); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
	} else {
		w.abandoned = true
	}
	return left
}
