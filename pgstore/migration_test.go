package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/service"
)

// CONTRACT R2: a store migrates memory → file → PostgreSQL → memory through
// Export and Import with the same records at every step, positions,
// deletions and retained state included, and an app follower whose
// position was saved before the migration resumes on the new store without
// a gap or a duplicate.
func TestMigrationAcrossBackends(t *testing.T) {
	dsn(t)
	ctx := context.Background()
	newService := func(store eventlog.Store) *service.Service {
		t.Helper()
		svc, err := service.New(ctx, service.Options{Store: store})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, svc.Close()) })
		return svc
	}

	src := newService(memstore.New())
	fillForMigration(t, src)
	want := exportJSON(t, src)

	// The follower has read the app up to the middle of its records after
	// the last deletion, and saved that position.
	var tail []*eventlog.Record
	for rec, err := range src.Export(ctx) {
		require.NoError(t, err)
		if rec.Key.AppName == "weather" {
			if rec.Kind == eventlog.KindSessionDeleted {
				tail = nil
			}
			tail = append(tail, rec)
		}
	}
	require.Greater(t, len(tail), 4)
	saved := tail[len(tail)/2].Position
	followed := readApp(t, src, "weather", saved, len(tail)-len(tail)/2-1)

	// Memory to file, and the file store opened again from its log.
	dir := filepath.Join(t.TempDir(), "store")
	fs, err := filestore.Open(ctx, dir, filestore.Options{})
	require.NoError(t, err)
	fileSvc := newService(fs)
	require.NoError(t, fileSvc.Import(ctx, src.Export(ctx)))
	require.Equal(t, want, exportJSON(t, fileSvc), "memory → file")
	require.NoError(t, fileSvc.Close())
	fs, err = filestore.Open(ctx, dir, filestore.Options{})
	require.NoError(t, err)
	fileSvc = newService(fs)
	require.Equal(t, want, exportJSON(t, fileSvc), "the file store reopened")

	// File to PostgreSQL.
	pg := open(t, newSchema(t))
	pgSvc := newService(pg)
	require.NoError(t, pgSvc.Import(ctx, fileSvc.Export(ctx)))
	require.Equal(t, want, exportJSON(t, pgSvc), "file → PostgreSQL")

	// PostgreSQL to memory.
	dst := newService(memstore.New())
	require.NoError(t, dst.Import(ctx, pgSvc.Export(ctx)))
	require.Equal(t, want, exportJSON(t, dst), "PostgreSQL → memory")

	for name, svc := range map[string]*service.Service{"file": fileSvc, "PostgreSQL": pgSvc, "memory": dst} {
		require.NoError(t, svc.Verify(ctx), name)
		require.Equal(t, followed, readApp(t, svc, "weather", saved, len(followed)), "%s: the follower's records after its saved position", name)
		// Behind the deletion the follower is told it missed records, as
		// by the original store.
		for _, err := range svc.SubscribeApp(ctx, "weather", 0) {
			require.ErrorIs(t, err, service.ErrCompacted, name)
			break
		}
	}
	for _, err := range src.SubscribeApp(ctx, "weather", 0) {
		require.ErrorIs(t, err, service.ErrCompacted, "the original store")
		break
	}

	// The follower resumes on the new stores after more appends: every
	// record after its saved position once, in order.
	for name, svc := range map[string]*service.Service{"PostgreSQL": pgSvc, "memory": dst} {
		sess, err := svc.Get(ctx, service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "s1"}, service.GetOptions{})
		require.NoError(t, err, name)
		ev, err := svc.AppendEvent(ctx, sess, &service.Event{ID: "after-" + name, Author: "agent",
			Actions: service.EventActions{StateDelta: map[string]any{"app:migrated": name}}})
		require.NoError(t, err, name)
		got := readApp(t, svc, "weather", saved, len(followed)+1)
		require.Equal(t, followed, got[:len(followed)], name)
		var last eventlog.Record
		require.NoError(t, json.Unmarshal([]byte(got[len(followed)]), &last), name)
		require.Equal(t, ev.ID, last.Event.ID, name)
		require.Greater(t, last.Position, tail[len(tail)-1].Position, name)
		require.NoError(t, svc.Verify(ctx), name)
	}
}

// fillForMigration writes a bit of everything a migration must carry: state in every
// scope, Removed keys, deletions (whose records leave gaps and retained
// state) and sessions created again after a deletion, in two apps.
func fillForMigration(t *testing.T, svc *service.Service) {
	t.Helper()
	ctx := context.Background()
	k := func(app, user, id string) service.SessionKey {
		return service.SessionKey{AppName: app, UserID: user, SessionID: id}
	}
	add := func(key service.SessionKey, state map[string]any, deltas ...map[string]any) {
		sess, err := svc.Create(ctx, key, state)
		require.NoError(t, err)
		for _, d := range deltas {
			_, err := svc.AppendEvent(ctx, sess, &service.Event{Author: "agent", Actions: service.EventActions{StateDelta: d}})
			require.NoError(t, err)
		}
	}
	add(k("weather", "ada", "gone"), map[string]any{"own": 1, "app:from-gone": "kept"}, map[string]any{"own": 2}, map[string]any{"user:u": "gone"})
	add(k("news", "ada", "n1"), map[string]any{"app:topic": "go"}, map[string]any{"n": 1})
	add(k("weather", "bob", "b1"), nil, map[string]any{"app:theme": "dark", "n": 1.5})
	require.NoError(t, svc.Delete(ctx, k("weather", "ada", "gone")))
	add(k("weather", "ada", "gone"), map[string]any{"again": true})
	require.NoError(t, svc.Delete(ctx, k("weather", "ada", "gone")))
	require.NoError(t, svc.Delete(ctx, k("news", "ada", "n1")))
	for i := range 3 {
		add(k("weather", "ada", fmt.Sprintf("s%d", i+1)), map[string]any{"user:lang": "en"},
			map[string]any{"i": i, "app:theme": service.Removed}, map[string]any{"user:lang": fmt.Sprint(i)})
	}
	add(k("news", "bob", "n2"), nil, map[string]any{"t": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)})
}

// exportJSON is a service's whole log as JSON lines.
func exportJSON(t *testing.T, svc *service.Service) []string {
	t.Helper()
	var out []string
	for rec, err := range svc.Export(context.Background()) {
		require.NoError(t, err)
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	return out
}

// readApp follows app after position after until it has n records, and
// returns them as JSON lines.
func readApp(t *testing.T, svc *service.Service, app string, after eventlog.Position, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	if n == 0 {
		return out
	}
	for rec, err := range svc.SubscribeApp(ctx, app, after) {
		require.NoError(t, err, "follow %s after %d", app, after)
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		out = append(out, string(b))
		if len(out) == n {
			break
		}
	}
	require.Len(t, out, n)
	return out
}
