package groupcommit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// write is a test's write: its key, and the batch that ran it.
type write struct {
	key   string
	batch int // 1-based; 0: not run
}

// recorder runs batches by recording them, each held until release
// yields (nil: not held).
type recorder struct {
	mu      sync.Mutex
	batches [][]*write
	started chan int // told the number of each batch as it starts; nil: not told
	release chan struct{}
}

func (r *recorder) run(_ context.Context, batch []*write) func() {
	r.mu.Lock()
	r.batches = append(r.batches, batch)
	n := len(r.batches)
	for _, w := range batch {
		w.batch = n
	}
	r.mu.Unlock()
	if r.started != nil {
		r.started <- n
	}
	if r.release != nil {
		<-r.release
	}
	return nil
}

func newCommitter(r *recorder) *Committer[*write, string] {
	return &Committer[*write, string]{Run: r.run, Key: func(w *write) string { return w.key }}
}

// A batch carries at most one write per key, the leader's first, and at
// most Max writes; the others stay queued in their order, for the batches
// after it.
func TestTakeKeepsOneWritePerKeyAndMax(t *testing.T) {
	c := &Committer[*write, string]{Key: func(w *write) string { return w.key }, Max: 3}
	w := func(key string) *waiter[*write] { return &waiter[*write]{v: &write{key: key}} }
	leader, b1, a2, c1, b2, d1 := w("a"), w("b"), w("a"), w("c"), w("b"), w("d")
	c.queue = []*waiter[*write]{b1, a2, c1, b2, d1}
	assert.Equal(t, []*waiter[*write]{leader, b1, c1}, c.take(leader))
	assert.Equal(t, []*waiter[*write]{a2, b2, d1}, c.queue)
	c.queue = c.queue[1:] // a2 promoted, as Do hands a slot on
	assert.Equal(t, []*waiter[*write]{a2, b2, d1}, c.take(a2))
	assert.Empty(t, c.queue)

	c.Key, c.Max = nil, 0
	c.queue = []*waiter[*write]{b1, a2}
	assert.Equal(t, []*waiter[*write]{leader, b1, a2}, c.take(leader), "without Key or Max, the whole queue")
}

// The slots: up to Limit leaders run at once; a write that finds them all
// busy waits in the queue until a leader hands its slot on, and one whose
// context ends there leaves without being run.
func TestWritesWaitForASlot(t *testing.T) {
	r := &recorder{started: make(chan int, 8), release: make(chan struct{})}
	c := newCommitter(r)
	c.Limit = 2
	ctx := context.Background()
	errs := make(chan error, 8)
	a, b := &write{key: "a"}, &write{key: "b"}
	go func() { errs <- c.Do(ctx, a) }()
	go func() { errs <- c.Do(ctx, b) }()
	<-r.started
	<-r.started // two batches in flight

	leaving, leave := context.WithCancel(ctx)
	gone := &write{key: "c"}
	go func() { errs <- c.Do(leaving, gone) }()
	require.Eventually(t, func() bool { return c.Queued() == 1 }, 5*time.Second, time.Millisecond)
	leave()
	require.ErrorIs(t, <-errs, context.Canceled)
	assert.Zero(t, c.Queued())

	waits := &write{key: "d"}
	go func() { errs <- c.Do(ctx, waits) }()
	require.Eventually(t, func() bool { return c.Queued() == 1 }, 5*time.Second, time.Millisecond)
	r.release <- struct{}{}
	assert.Equal(t, 3, <-r.started, "a finished leader hands its slot to the queued write")
	r.release <- struct{}{}
	r.release <- struct{}{}
	for range 3 {
		require.NoError(t, <-errs)
	}
	assert.Zero(t, gone.batch, "the write that left the queue never ran")
	batches, writes := c.Stats()
	assert.Equal(t, uint64(3), batches)
	assert.Equal(t, uint64(3), writes)
}

// Writes that queue while a batch runs go together in the next one.
func TestQueuedWritesShareABatch(t *testing.T) {
	r := &recorder{started: make(chan int, 8), release: make(chan struct{})}
	c := newCommitter(r)
	ctx := context.Background()
	errs := make(chan error, 8)
	go func() { errs <- c.Do(ctx, &write{key: "first"}) }()
	<-r.started
	ws := []*write{{key: "a"}, {key: "b"}, {key: "c"}}
	for _, w := range ws {
		go func() { errs <- c.Do(ctx, w) }()
	}
	require.Eventually(t, func() bool { return c.Queued() == 3 }, 5*time.Second, time.Millisecond)
	close(r.release)
	for range 4 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, 2, ws[0].batch)
	assert.Equal(t, 2, ws[1].batch)
	assert.Equal(t, 2, ws[2].batch)
}

// A write whose caller leaves while it is in a batch is reported to
// Abandoned once the batch is done, and to nobody else; a caller whose
// write is done before it looks gets nil.
func TestAWriteLeftInItsBatchIsReported(t *testing.T) {
	r := &recorder{started: make(chan int, 8), release: make(chan struct{})}
	c := newCommitter(r)
	var abandoned []*write
	c.Abandoned = func(w *write) { abandoned = append(abandoned, w) }
	ctx := context.Background()
	errs := make(chan error, 8)
	go func() { errs <- c.Do(ctx, &write{key: "first"}) }()
	<-r.started

	leaving, leave := context.WithCancel(ctx)
	gone, stays := &write{key: "gone"}, &write{key: "stays"}
	left := make(chan error, 1)
	// stays queues first, so that it leads the next batch and gone follows.
	go func() { errs <- c.Do(ctx, stays) }()
	require.Eventually(t, func() bool { return c.Queued() == 1 }, 5*time.Second, time.Millisecond)
	go func() { left <- c.Do(leaving, gone) }()
	require.Eventually(t, func() bool { return c.Queued() == 2 }, 5*time.Second, time.Millisecond)
	r.release <- struct{}{}
	<-r.started // the next batch holds both
	leave()
	require.ErrorIs(t, <-left, context.Canceled, "the caller leaves while its write is in a batch")
	assert.Empty(t, abandoned, "not before the batch is done")
	r.release <- struct{}{}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	assert.Equal(t, []*write{gone}, abandoned)
	assert.Equal(t, 2, gone.batch, "it ran, in the batch it was in")
}

// A new leader gathers when the last batch carried several writes: it
// runs once as many are queued as that batch held less one, or when its
// moment is up; after a batch of one, or with Gather zero, it runs at
// once.
func TestLeaderGathersAfterABigBatch(t *testing.T) {
	// The leader may gather for an hour, so that the test's steps need not
	// fit in a short moment.
	c := &Committer[*write, string]{Gather: time.Hour, last: 3, lastTook: time.Hour}
	got := make(chan int)
	go func() {
		c.mu.Lock()
		c.gather()
		n := len(c.queue)
		c.mu.Unlock()
		got <- n
	}()
	for range 2 {
		require.Eventually(t, func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.gathered != nil
		}, 5*time.Second, 100*time.Microsecond, "the leader gathers")
		c.mu.Lock()
		c.enqueue(&waiter[*write]{})
		c.mu.Unlock()
	}
	assert.Equal(t, 2, <-got, "it runs once two are queued")

	c = &Committer[*write, string]{Gather: time.Hour, last: 3, lastTook: 2 * time.Millisecond}
	c.mu.Lock()
	start := time.Now()
	c.gather()
	c.mu.Unlock()
	assert.Empty(t, c.queue, "nobody came: its moment ran out")
	assert.Nil(t, c.gathered)
	assert.Less(t, time.Since(start), time.Second)

	for _, c := range []*Committer[*write, string]{
		{Gather: time.Hour, last: 1, lastTook: time.Hour},
		{last: 3, lastTook: time.Hour},
	} {
		c.mu.Lock()
		c.gather()
		assert.Nil(t, c.gathered, "no gathering")
		c.mu.Unlock()
	}
}
