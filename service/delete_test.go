package service

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// pausedDeletes makes a service's deletions stop after their slow part
// until the test lets them go on.
type pausedDeletes struct {
	prepared chan struct{}
	release  chan struct{}
}

func (p *pausedDeletes) wrap(svc *Service, mem *eventlog.Memory) {
	svc.once.Do(svc.defaults)
	svc.prepareDelete = func(ctx context.Context, rec *Record) (func() (*Record, error), error) {
		commit, err := mem.PrepareDelete(ctx, rec)
		p.prepared <- struct{}{}
		<-p.release
		return commit, err
	}
}

// CONTRACT D1 D3 G1 L1 A4: while a deletion works out what its session
// leaves behind, the rest of its app is not held: an append that writes
// app and user state, a Get and a List of another user's sessions go on.
// (A List that includes the session waits for its deletion, as a Get of
// it does.)
func TestDeleteDoesNotHoldTheAppWhileItPrepares(t *testing.T) {
	ctx := context.Background()
	mem := eventlog.NewMemory()
	paused := &pausedDeletes{prepared: make(chan struct{}), release: make(chan struct{})}
	svc, err := New(ctx, Options{Store: mem})
	require.NoError(t, err)
	defer svc.Close()
	paused.wrap(svc, mem)
	doomed := SessionKey{AppName: "app", UserID: "v", SessionID: "doomed"}
	other := SessionKey{AppName: "app", UserID: "u", SessionID: "other"}
	d, err := svc.Create(ctx, doomed, nil)
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, d, &Event{ID: "d1", Actions: EventActions{StateDelta: map[string]any{"app:a": 1}}})
	require.NoError(t, err)
	o, err := svc.Create(ctx, other, nil)
	require.NoError(t, err)

	deleted := make(chan error, 1)
	go func() { deleted <- svc.Delete(ctx, doomed) }()
	select {
	case <-paused.prepared:
	case err := <-deleted:
		t.Fatalf("the deletion did not prepare before its app was held (it ended: %v)", err)
	}

	others := make(chan error, 1)
	go func() {
		others <- func() error {
			if _, err := svc.AppendEvent(ctx, o, &Event{ID: "o1", Actions: EventActions{StateDelta: map[string]any{"app:a": 2, "user:u": 2}}}); err != nil {
				return err
			}
			got, err := svc.Get(ctx, other, GetOptions{})
			if err != nil {
				return err
			}
			if got.State["app:a"] != 2 {
				t.Errorf("Get during the deletion: app:a = %v, want 2", got.State["app:a"])
			}
			page, err := svc.List(ctx, "app", "u", ListOptions{})
			if err != nil {
				return err
			}
			if len(page.Sessions) != 1 {
				t.Errorf("List during the deletion: %d sessions, want 1", len(page.Sessions))
			}
			return nil
		}()
	}()
	select {
	case err := <-others:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		close(paused.release)
		t.Fatal("calls on the app's other session waited for the deletion's slow part")
	}
	close(paused.release)
	require.NoError(t, <-deleted)
	_, err = svc.Get(ctx, doomed, GetOptions{})
	require.ErrorIs(t, err, ErrNotFound)
	page, err := svc.List(ctx, "app", "", ListOptions{})
	require.NoError(t, err)
	require.Len(t, page.Sessions, 1)
	require.Equal(t, 2, page.Sessions[0].State["app:a"])
	require.NoError(t, svc.Verify(ctx))
}
