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
	"github.com/sessionlog/sessionlog/service"
)

// deferredMemory is an in-memory store whose appends, like a file store's,
// are visible at once and durable later: each append's wait blocks until
// the test releases it, and reports what the test says.
type deferredMemory struct {
	*eventlog.Memory
	waiting chan string // the event ID (or kind) of each append now waiting
	release chan error  // one value releases one waiting append
}

func (d *deferredMemory) AppendDeferred(ctx context.Context, rec *eventlog.Record) (*eventlog.Record, func() error, error) {
	stored, err := d.Memory.Append(ctx, rec)
	if err != nil && !errors.Is(err, eventlog.ErrDuplicateEvent) {
		return stored, nil, err
	}
	name := rec.Kind.String()
	if rec.Event != nil {
		name = rec.Event.ID
	}
	return stored, func() error {
		d.waiting <- name
		return <-d.release
	}, err
}

// CONTRACT A4 A5: over a store that makes records durable after they are
// visible, the service waits for durability outside its locks, so two
// appends writing the same app's state wait together (one fsync for both,
// in a file store), and a handle shows an append only once it is durable.
func TestDurabilityIsAwaitedOutsideTheLocks(t *testing.T) {
	d := &deferredMemory{Memory: eventlog.NewMemory(), waiting: make(chan string), release: make(chan error)}
	svc, err := service.New(t.Context(), service.Options{Store: d})
	require.NoError(t, err)
	defer svc.Close()
	ctx := t.Context()

	var created [2]*service.Session
	for i := range created {
		go func() { <-d.waiting; d.release <- nil }()
		created[i], err = svc.Create(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: []string{"a", "b"}[i]}, nil)
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
	// Both appends hold the same app's state, yet both reach their wait
	// before either is released.
	got := map[string]bool{}
	for range 2 {
		select {
		case id := <-d.waiting:
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatal("an append waited for the other's durability: the app is held across the wait")
		}
	}
	assert.Equal(t, map[string]bool{"a1": true, "b1": true}, got)
	assert.Zero(t, created[0].Version, "the handle shows nothing before the append is durable")
	d.release <- nil
	d.release <- errors.New("disk on fire")
	wg.Wait()

	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			assert.ErrorContains(t, err, "disk on fire")
			assert.Zero(t, created[i].Version, "a handle whose append is not durable is unchanged")
		} else {
			assert.Equal(t, uint64(1), created[i].Version)
		}
	}
	assert.Equal(t, 1, failed)
	// The record was visible before its wait failed, and stays so: the
	// projection agrees with the log.
	require.NoError(t, svc.Verify(ctx))
}

// appendCounter is a store that wraps a Memory and sees every record
// through its own Append, as a journaling wrapper would.
type appendCounter struct {
	*eventlog.Memory
	mu    sync.Mutex
	kinds map[eventlog.Kind]int
}

func (c *appendCounter) Append(ctx context.Context, rec *eventlog.Record) (*eventlog.Record, error) {
	c.mu.Lock()
	c.kinds[rec.Kind]++
	c.mu.Unlock()
	return c.Memory.Append(ctx, rec)
}

// CONTRACT D1 R1: a deletion reaches a store's own Append, or its
// AppendDeferred, and is awaited, even when the store wraps a Memory
// (whose two-step deletion the service uses only for a Memory itself).
func TestDeletionsGoThroughTheStoresOwnAppend(t *testing.T) {
	ctx := t.Context()
	k := service.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	t.Run("an Append that wraps a Memory's", func(t *testing.T) {
		c := &appendCounter{Memory: eventlog.NewMemory(), kinds: map[eventlog.Kind]int{}}
		svc, err := service.New(ctx, service.Options{Store: c})
		require.NoError(t, err)
		defer svc.Close()
		_, err = svc.Create(ctx, k, map[string]any{"app:a": 1})
		require.NoError(t, err)
		require.NoError(t, svc.Delete(ctx, k))
		require.Equal(t, 1, c.kinds[eventlog.KindSessionDeleted])
		require.NoError(t, svc.Import(ctx, func(yield func(*eventlog.Record, error) bool) {
			yield(&eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()}, nil)
			yield(&eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()}, nil)
		}))
		require.Equal(t, 2, c.kinds[eventlog.KindSessionDeleted], "an imported deletion too")
	})
	t.Run("an AppendDeferred, whose wait Delete runs", func(t *testing.T) {
		d := &deferredMemory{Memory: eventlog.NewMemory(), waiting: make(chan string), release: make(chan error)}
		svc, err := service.New(ctx, service.Options{Store: d})
		require.NoError(t, err)
		defer svc.Close()
		go func() { <-d.waiting; d.release <- nil }()
		_, err = svc.Create(ctx, k, nil)
		require.NoError(t, err)
		boom := errors.New("the disk is full")
		go func() {
			assert.Equal(t, eventlog.KindSessionDeleted.String(), <-d.waiting)
			d.release <- boom
		}()
		require.ErrorIs(t, svc.Delete(ctx, k), boom)
	})
}
