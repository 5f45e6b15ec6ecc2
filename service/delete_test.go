package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// pausedDeletes is a Memory whose deletions stop after their slow part
// until the test lets them go on.
type pausedDeletes struct {
	*eventlog.Memory
	prepared chan struct{}
	release  chan struct{}
}

func (p *pausedDeletes) PrepareDelete(ctx context.Context, rec *eventlog.Record) (func() (*eventlog.Record, error), error) {
	commit, err := p.Memory.PrepareDelete(ctx, rec)
	p.pause()
	return commit, err
}

// Append pauses a deletion that comes through it (a caller that does not
// prepare deletions) before the store deletes.
func (p *pausedDeletes) Append(ctx context.Context, rec *eventlog.Record) (*eventlog.Record, error) {
	if rec != nil && rec.Kind == eventlog.KindSessionDeleted {
		p.pause()
	}
	return p.Memory.Append(ctx, rec)
}

func (p *pausedDeletes) pause() {
	p.prepared <- struct{}{}
	<-p.release
}

// CONTRACT D1 D3 G1 L1 A4: while a deletion works out what its session
// leaves behind, the rest of its app is not held: an append that writes
// app and user state, a Get and a List of another user's sessions go on.
// (A List that includes the session waits for its deletion, as a Get of
// it does.)
func TestDeleteDoesNotHoldTheAppWhileItPrepares(t *testing.T) {
	ctx := context.Background()
	store := &pausedDeletes{Memory: eventlog.NewMemory(), prepared: make(chan struct{}), release: make(chan struct{})}
	svc, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	defer svc.Close()
	doomed := service.SessionKey{AppName: "app", UserID: "v", SessionID: "doomed"}
	other := service.SessionKey{AppName: "app", UserID: "u", SessionID: "other"}
	d, err := svc.Create(ctx, doomed, nil)
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, d, &service.Event{ID: "d1", Actions: service.EventActions{StateDelta: map[string]any{"app:a": 1}}})
	require.NoError(t, err)
	o, err := svc.Create(ctx, other, nil)
	require.NoError(t, err)

	deleted := make(chan error, 1)
	go func() { deleted <- svc.Delete(ctx, doomed) }()
	<-store.prepared

	others := make(chan error, 1)
	go func() {
		others <- func() error {
			if _, err := svc.AppendEvent(ctx, o, &service.Event{ID: "o1", Actions: service.EventActions{StateDelta: map[string]any{"app:a": 2, "user:u": 2}}}); err != nil {
				return err
			}
			got, err := svc.Get(ctx, other, service.GetOptions{})
			if err != nil {
				return err
			}
			if got.State["app:a"] != 2 {
				t.Errorf("Get during the deletion: app:a = %v, want 2", got.State["app:a"])
			}
			page, err := svc.List(ctx, "app", "u", service.ListOptions{})
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
		close(store.release)
		t.Fatal("calls on the app's other session waited for the deletion's slow part")
	}
	close(store.release)
	require.NoError(t, <-deleted)
	_, err = svc.Get(ctx, doomed, service.GetOptions{})
	require.ErrorIs(t, err, service.ErrNotFound)
	page, err := svc.List(ctx, "app", "", service.ListOptions{})
	require.NoError(t, err)
	require.Len(t, page.Sessions, 1)
	require.Equal(t, 2, page.Sessions[0].State["app:a"])
	require.NoError(t, svc.Verify(ctx))
}
