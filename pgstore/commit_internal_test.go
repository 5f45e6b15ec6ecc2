package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// A statement that fails inside a batch rolls the whole batch back; each
// of its appends is then sent on its own, so only the failing one fails.
func TestSendRetriesAFailedBatchOneByOne(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)

	// 1/seq fails for 0, as an append_events call can fail on what the
	// database refuses; its fourth argument holds the appends' sequence
	// numbers.
	const many = `SELECT n::int, 0::smallint, 1/seq, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bytea
FROM unnest($4::bigint[]) WITH ORDINALITY AS t(seq, n), (SELECT $1::bytea[], $2::bytea[], $3::bytea[], $5::bytea[], $6::bytea[],
	$7::text[], $8::bigint[], $9::int[], $10::bytea[], $11::bytea[], $12::smallint[]) a`
	// The same for one append (append_event's arguments), as the retries
	// send it.
	const one = `SELECT 0::smallint, 1/$4::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bytea
FROM (SELECT $1::bytea, $2::bytea, $3::bytea, $5::bytea, $6::bytea, $7::text, $8::bytea[], $9::bytea[],
	$10::smallint[], $11::text, $12::text, $13::bigint) a`
	sql := statements{one: one, many: many}
	batch := []*pending{{wantSeq: 1}, {wantSeq: 0}, {wantSeq: 2}}
	for _, p := range batch {
		p.done = make(chan struct{})
	}
	trips := send(ctx, pool, sql, batch)
	assert.Equal(t, 1+len(batch), trips, "the failed batch, then each append on its own")
	for _, p := range batch {
		<-p.done
	}
	assert.NoError(t, batch[0].err)
	assert.Equal(t, int64(1), int64(batch[0].pos))
	assert.ErrorContains(t, batch[1].err, "division by zero")
	assert.NoError(t, batch[2].err, "a neighbour of the failing statement still gets its outcome")
	assert.Equal(t, int64(0), int64(batch[2].pos), "1/2 in integers")

	batch = []*pending{{wantSeq: 1}, {wantSeq: 2}}
	for _, p := range batch {
		p.done = make(chan struct{})
	}
	assert.Equal(t, 1, send(ctx, pool, sql, batch), "a batch that succeeds is one round trip")
}

// A batch carries at most one append per session, the leader's first; the
// others stay queued in their order, for the batches after it.
func TestTakeLeavesASessionsSecondAppendQueued(t *testing.T) {
	key := func(id string) eventlog.SessionKey {
		return eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: id}
	}
	leader := &pending{key: key("a")}
	b1, a2, c1, b2 := &pending{key: key("b")}, &pending{key: key("a")}, &pending{key: key("c")}, &pending{key: key("b")}
	c := &committer{queue: []*pending{b1, a2, c1, b2}}
	assert.Equal(t, []*pending{leader, b1, c1}, c.take(leader))
	assert.Equal(t, []*pending{a2, b2}, c.queue)
	c.queue = c.queue[1:] // a2 promoted, as do hands a slot on
	assert.Equal(t, []*pending{a2, b2}, c.take(a2))
	assert.Empty(t, c.queue)
}

// The slots: up to limit leaders send at once; an append that finds them
// all busy waits in the queue until a leader hands its slot on.
func TestCommitterHandsItsSlotsOn(t *testing.T) {
	c := &committer{limit: 2}
	c.mu.Lock()
	c.inFlight = 2
	c.mu.Unlock()
	p := &pending{key: eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}}
	errs := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { errs <- c.do(ctx, p) }()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue) == 1
	}, 5*time.Second, time.Millisecond, "both slots busy: the append waits in the queue")
	cancel()
	require.ErrorIs(t, <-errs, context.Canceled, "a waiting append leaves with its context's error")
	assert.Empty(t, c.queue)
	assert.Equal(t, 2, c.inFlight)
}

// A new leader gathers when the last batch carried several appends: it
// sends once as many are queued as that batch held less one, or when its
// moment is up; after a batch of one it sends at once.
func TestLeaderGathersAfterABigBatch(t *testing.T) {
	// The leader may gather for an hour, so that the test's steps need not
	// fit in the millisecond a leader otherwise gets.
	c := &committer{last: 3, lastTook: time.Hour, gatherMax: time.Hour}
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
		c.enqueue(&pending{})
		c.mu.Unlock()
	}
	assert.Equal(t, 2, <-got, "it sends once two are queued")

	c = &committer{last: 3, lastTook: 2 * time.Millisecond}
	c.mu.Lock()
	start := time.Now()
	c.gather()
	c.mu.Unlock()
	assert.Empty(t, c.queue, "nobody came: its moment ran out")
	assert.Nil(t, c.gathered)
	assert.Less(t, time.Since(start), time.Second)

	c = &committer{last: 1, lastTook: time.Hour}
	c.mu.Lock()
	c.gather()
	assert.Nil(t, c.gathered, "after a batch of one, no gathering")
	c.mu.Unlock()
}
