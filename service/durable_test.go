package service_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/service"
)

// slowDisk is a store whose appends, like a file store's, are visible at
// once and durable later: each append's wait blocks until the test
// releases it, and reports what the test says.
type slowDisk struct {
	eventlog.Store
	waiting chan string // the event ID (or kind) of each append now waiting
	release chan error  // one value releases one waiting append
}

func newSlowDisk() *slowDisk {
	return &slowDisk{Store: memstore.New(), waiting: make(chan string), release: make(chan error)}
}

func (d *slowDisk) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	res, err := d.Store.Append(ctx, rec)
	if err != nil {
		return res, err
	}
	name := rec.Kind.String()
	if rec.Event != nil {
		name = rec.Event.ID
	}
	inner := res.Durable
	res.Durable = func() error {
		d.waiting <- name
		if err := <-d.release; err != nil {
			return err
		}
		if inner != nil {
			return inner()
		}
		return nil
	}
	return res, nil
}

// releaseNext lets the next append that waits go on, in a goroutine of its
// own; the returned function waits for that goroutine.
func (d *slowDisk) releaseNext(err error) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { <-d.waiting; d.release <- err })
	return wg.Wait
}

// CONTRACT A4 A5: over a store that makes records durable after they are
// visible, the service holds nothing while it waits, so two appends that
// write the same app's state wait together (one fsync for both, in a file
// store), and a handle shows an append only once it is durable.
func TestDurabilityIsAwaitedHoldingNothing(t *testing.T) {
	d := newSlowDisk()
	svc, err := service.New(t.Context(), service.Options{Store: d})
	require.NoError(t, err)
	defer svc.Close()
	ctx := t.Context()

	var created [2]*service.Session
	for i := range created {
		released := d.releaseNext(nil)
		created[i], err = svc.Create(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: []string{"a", "b"}[i]}, nil)
		released()
		require.NoError(t, err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, sess := range created {
		wg.Go(func() {
			_, errs[i] = svc.AppendEvent(ctx, sess, &service.Event{ID: sess.ID + "1",
				Actions: service.EventActions{StateDelta: map[string]any{"app:last": sess.ID}}})
		})
	}
	// Both appends write the same app's state, yet both reach their wait
	// before either is released.
	got := map[string]bool{}
	for range 2 {
		select {
		case id := <-d.waiting:
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatal("an append waited for the other's durability")
		}
	}
	assert.Equal(t, map[string]bool{"a1": true, "b1": true}, got)
	assert.Zero(t, created[0].Version, "the handle shows nothing before the append is durable")
	assert.Zero(t, created[1].Version, "the handle shows nothing before the append is durable")
	d.release <- nil
	d.release <- errors.New("disk on fire")
	wg.Wait()

	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			assert.ErrorContains(t, err, "disk on fire")
			assert.Zero(t, created[i].Version, "a handle whose append is not durable is unchanged")
			assert.Empty(t, created[i].Events, "a handle whose append is not durable is unchanged")
		} else {
			assert.Equal(t, uint64(1), created[i].Version)
		}
	}
	assert.Equal(t, 1, failed)
	// The record was visible before its wait failed, and stays so: the
	// state the store serves agrees with its log.
	require.NoError(t, svc.Verify(ctx))
}

// CONTRACT C1 D1 R2: a creation, a deletion and every imported record wait
// for their durability too, and report its failure.
func TestEveryWriteAwaitsDurability(t *testing.T) {
	ctx := t.Context()
	k := service.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	boom := errors.New("the disk is full")
	d := newSlowDisk()
	svc, err := service.New(ctx, service.Options{Store: d})
	require.NoError(t, err)
	defer svc.Close()

	released := d.releaseNext(boom)
	_, err = svc.Create(ctx, k, nil)
	released()
	require.ErrorIs(t, err, boom, "Create")

	released = d.releaseNext(boom)
	err = svc.Delete(ctx, k)
	released()
	require.ErrorIs(t, err, boom, "Delete")

	// The session is gone now: deleting it again writes nothing, and so
	// waits for nothing.
	require.NoError(t, svc.Delete(ctx, k))

	released = d.releaseNext(boom)
	err = svc.Import(ctx, func(yield func(*eventlog.Record, error) bool) {
		yield(&eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()}, nil)
	})
	released()
	require.ErrorIs(t, err, boom, "Import")
}

// appendCounter is a store that sees every record through its own Append,
// as a journaling wrapper would.
type appendCounter struct {
	eventlog.Store
	mu    sync.Mutex
	kinds map[eventlog.Kind]int
}

func (c *appendCounter) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	c.mu.Lock()
	c.kinds[rec.Kind]++
	c.mu.Unlock()
	return c.Store.Append(ctx, rec)
}

// CONTRACT D1 R1: every write, deletions included, reaches the store's own
// Append, whatever the store wraps.
func TestEveryWriteGoesThroughTheStoresOwnAppend(t *testing.T) {
	ctx := t.Context()
	k := service.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	c := &appendCounter{Store: memstore.New(), kinds: map[eventlog.Kind]int{}}
	svc, err := service.New(ctx, service.Options{Store: c})
	require.NoError(t, err)
	defer svc.Close()
	sess, err := svc.Create(ctx, k, map[string]any{"app:a": 1})
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, sess, &service.Event{ID: "e1"})
	require.NoError(t, err)
	require.NoError(t, svc.Delete(ctx, k))
	require.NoError(t, svc.Import(ctx, func(yield func(*eventlog.Record, error) bool) {
		_ = yield(&eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()}, nil) &&
			yield(&eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: 1, Time: time.Now(), Event: &service.Event{ID: "e1"}}, nil) &&
			yield(&eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()}, nil) &&
			yield(&eventlog.Record{Kind: eventlog.KindStateRetained, Key: service.SessionKey{AppName: "app"}, Time: time.Now(), State: map[string]any{"app:b": 2}}, nil)
	}))
	assert.Equal(t, map[eventlog.Kind]int{
		eventlog.KindSessionCreated: 2, eventlog.KindEventAppended: 2, eventlog.KindSessionDeleted: 2, eventlog.KindStateRetained: 1,
	}, c.kinds)
	require.NoError(t, svc.Verify(ctx))
}
