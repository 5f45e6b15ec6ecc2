package projection

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT C3 A6 Z1: a session is findable by lookups that skip the app's
// lock from the moment it enters the index, but no update may reach it
// until Create has built the view it returns. An appender that starts the
// instant the session is findable, while Create merges a large state, must
// wait: Create returns version 0, and the next view shows the append.
func TestLiveCreateViewIsNotRacedByAnUpdate(t *testing.T) {
	big := make(map[string]any, 20_000)
	for i := range 20_000 {
		big["k"+strconv.Itoa(i)] = i
	}
	ctx := context.Background()
	for i := range 5 {
		store := eventlog.NewMemory()
		var l Live
		k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s" + strconv.Itoa(i)}
		a := l.app(k.AppName, true)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, ok := a.sessions.Get(k.UserID, k.SessionID); ok {
					break
				}
			}
			err := l.Update(k, false, func(info SessionInfo) (*eventlog.Record, error) {
				ts := time.Now()
				return store.Append(ctx, &eventlog.Record{
					Kind: eventlog.KindEventAppended, Key: k, Seq: info.Version + 1, Time: ts,
					Event: &eventlog.Event{ID: "e1", Timestamp: ts, Actions: eventlog.EventActions{StateDelta: map[string]any{"k0": "appended"}}},
				})
			})
			require.NoError(t, err)
		}()
		v, err := l.Create(k, func() (*eventlog.Record, error) {
			return store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now(), State: big})
		})
		require.NoError(t, err)
		wg.Wait()
		require.Zero(t, v.Version, "Create's view saw a later append")
		require.Equal(t, 0, v.State["k0"])
		require.NoError(t, l.View(k, func(v SessionView) error {
			require.Equal(t, uint64(1), v.Version)
			require.Equal(t, "appended", v.State["k0"])
			return nil
		}))
	}
}

// UpdateInTwoSteps holds the session, and not the app, while prepare runs,
// and both while commit runs and its record is folded.
func TestLiveUpdateInTwoStepsHoldsTheAppOnlyToCommit(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	var l Live
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	created, err := l.Create(k, func() (*eventlog.Record, error) {
		return store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	})
	require.NoError(t, err)
	a := l.app(k.AppName, false)
	s, _ := a.sessions.Get(k.UserID, k.SessionID)
	free := func(mu locker) bool {
		if mu.TryLock() {
			mu.Unlock()
			return true
		}
		return false
	}
	var appFreeInPrepare, sessionFreeInPrepare, appFreeInCommit bool
	err = l.UpdateInTwoSteps(k, func(info SessionInfo) (func() (*eventlog.Record, error), error) {
		require.Equal(t, SessionInfo{Key: k, Version: 0, Created: created.Created}, info)
		appFreeInPrepare, sessionFreeInPrepare = free(&a.mu), free(&s.mu)
		commit, err := store.PrepareDelete(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()})
		if err != nil {
			return nil, err
		}
		return func() (*eventlog.Record, error) {
			appFreeInCommit = free(&a.mu)
			return commit()
		}, nil
	})
	require.NoError(t, err)
	require.True(t, appFreeInPrepare, "the app is held while prepare runs")
	require.False(t, sessionFreeInPrepare, "the session is free while prepare runs")
	require.False(t, appFreeInCommit, "the app is free while commit runs")
	require.True(t, free(&a.mu), "the app stays held after the update")
	require.ErrorIs(t, l.View(k, func(SessionView) error { return nil }), eventlog.ErrNotFound)
}

type locker interface {
	TryLock() bool
	Unlock()
}
