package servicetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// r1 checks CONTRACT R1.
func (s suite) r1(t *testing.T) {
	t.Run("after creates, appends, Removed keys and deletes the rebuilt state equals the served state", func(t *testing.T) {
		// CONTRACT R1
		t.Parallel()
		h := s.open(t)
		a := h.create(key("app", "u1", "a"), map[string]any{"app:shared": "a0", "user:shared": "a0", "own": 1})
		b := h.create(key("app", "u1", "b"), map[string]any{"app:shared": "b0"})
		c := h.create(key("app", "u2", "c"), map[string]any{"user:shared": "c0"})
		h.verify()
		h.appendDelta(a, map[string]any{"app:shared": "a1", "user:shared": "a1", "own": 2})
		h.appendDelta(b, map[string]any{"app:shared": service.Removed, "user:shared": "b1", "user:gone": "soon"})
		h.appendDelta(c, map[string]any{"app:shared": "c1", "user:shared": service.Removed, "temp:x": 1})
		h.verify()
		h.appendDelta(b, map[string]any{"user:gone": "__ADK_SENTINEL_REMOVED__", "own": service.Removed})
		require.NoError(t, h.svc.Delete(h.ctx, b.Key()))
		h.verify()
		again := h.create(b.Key(), map[string]any{"app:shared": "b-again"})
		h.appendDelta(again, map[string]any{"user:shared": "b-again"})
		require.NoError(t, h.svc.Delete(h.ctx, a.Key()))
		require.NoError(t, h.svc.Delete(h.ctx, key("app", "u1", "never")))
		h.verify()
		require.NoError(t, h.svc.Delete(h.ctx, again.Key()))
		require.NoError(t, h.svc.Delete(h.ctx, c.Key()))
		h.verify()
		require.Equal(t, map[string]any{"app:shared": "b-again", "user:shared": "b-again"}, h.create(key("app", "u1", "z"), nil).State)
		h.verify()
	})

	t.Run("concurrent writers of the same app and user keys leave a state the rebuild reproduces", func(t *testing.T) {
		// CONTRACT R1
		t.Parallel()
		h := s.open(t)
		const writers, appends = 6, 40
		sessions := make([]*service.Session, writers)
		for w := range sessions {
			sessions[w] = h.create(key("app", fmt.Sprintf("u%d", w%2), fmt.Sprintf("s%d", w)), nil)
		}
		var wg sync.WaitGroup
		for w, sess := range sessions {
			wg.Go(func() {
				for i := range appends {
					d := map[string]any{"app:k": fmt.Sprintf("%d-%d", w, i), "user:k": fmt.Sprintf("%d-%d", w, i), "own": i}
					if i%5 == 4 {
						d["app:k"] = service.Removed
					}
					if _, err := h.svc.AppendEvent(h.ctx, sess, delta(d)); err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		h.verify()
		require.NoError(t, h.svc.Delete(h.ctx, sessions[0].Key()))
		h.verify()
	})
}

// populate fills a service with a bit of everything an export must carry.
func populate(h *harness) []string {
	h.t.Helper()
	a1 := h.create(key("app-one", "alice", "a1"), map[string]any{"own": "x", "app:theme": "dark", "user:lang": "en", "temp:t": 1.0})
	h.appendEvent(a1, &service.Event{
		Author: "user", InvocationID: "inv-1", Content: text("hello"),
		LongRunningToolIDs: []string{"call-1"}, CustomMetadata: map[string]any{"tag": "t"},
		Actions: service.EventActions{
			StateDelta: map[string]any{"own": "y", "count": 1.5, "nested": map[string]any{"list": []any{"a", 2.5, true}},
				"app:theme": "light", "user:lang": "fr", "temp:x": "gone"},
			ArtifactDelta: map[string]int64{"file.txt": 2},
		},
	})
	h.appendEvent(a1, &service.Event{Author: "model", Timestamp: epoch.Add(-time.Minute), // out of order
		Content: &genai.Content{Role: "model", Parts: []*genai.Part{{Text: "one"}, {FunctionCall: &genai.FunctionCall{ID: "call-1", Name: "f", Args: map[string]any{"x": 1.0}}}}}})
	a2 := h.create(key("app-one", "alice", "a2"), nil)
	h.appendDelta(a2, map[string]any{"user:lang": service.Removed, "s": "a2"})
	b1 := h.create(key("app-one", "bob", "b1"), map[string]any{"user:lang": "de"})
	h.appendDelta(b1, map[string]any{"k": "__ADK_SENTINEL_REMOVED__", "v": 3.0})
	gone := h.create(key("app-one", "bob", "gone"), map[string]any{"app:from-gone": "kept", "user:from-gone": "kept"})
	h.appendDelta(gone, map[string]any{"app:theme": "blue", "own": "lost"})
	h.require(h.svc.Delete(h.ctx, gone.Key()))
	again := h.create(key("app-one", "bob", "again"), map[string]any{"v": 1.0})
	h.appendDelta(again, map[string]any{"v": 1.5})
	h.require(h.svc.Delete(h.ctx, again.Key()))
	again = h.create(key("app-one", "bob", "again"), map[string]any{"v": 2.0})
	h.appendDelta(again, map[string]any{"v": 2.5})
	c := h.create(key("app-two", "carol", "c1"), map[string]any{"app:removed-later": "x"})
	h.appendDelta(c, map[string]any{"app:removed-later": service.Removed})
	h.create(key("app-two", "carol", "empty"), nil)
	return []string{"app-one", "app-two"}
}

func (h *harness) require(err error) {
	h.t.Helper()
	require.NoError(h.t, err)
}

// requireSameSessions checks that got serves the same sessions as want.
func requireSameSessions(t *testing.T, want, got *harness, apps []string) {
	t.Helper()
	for _, app := range apps {
		wl, gl := want.list(app, "", 2), got.list(app, "", 2)
		require.Equal(t, sessionIDs(wl), sessionIDs(gl), "List(%q)", app)
		for i := range wl {
			require.Equal(t, normalize(t, wl[i].State), normalize(t, gl[i].State), "listed state of %v", wl[i].Key())
			requireSameTime(t, wl[i].LastUpdateTime, gl[i].LastUpdateTime, "listed LastUpdateTime")
			w, g := want.get(wl[i].Key()), got.get(wl[i].Key())
			require.Equal(t, w.Version, g.Version, "version of %v", w.Key())
			requireSameTime(t, w.LastUpdateTime, g.LastUpdateTime, "LastUpdateTime")
			require.Equal(t, normalize(t, w.State), normalize(t, g.State), "state of %v", w.Key())
			require.Equal(t, ids(w.Events), ids(g.Events), "events of %v", w.Key())
			require.Equal(t, eventsJSON(t, w.Events), eventsJSON(t, g.Events), "events of %v", w.Key())
			require.Equal(t, eventsJSON(t, want.events(w.Key(), 1)), eventsJSON(t, got.events(w.Key(), 1)))
		}
	}
}

// r2 checks CONTRACT R2.
func (s suite) r2(t *testing.T) {
	t.Run("export then import into a fresh service reproduces every session", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		apps := populate(h)
		imported := h.fresh()
		require.NoError(t, imported.svc.Import(imported.ctx, h.svc.Export(h.ctx)))
		requireSameSessions(t, h, imported, apps)
		imported.verify()
		// The imported service goes on like the original.
		for _, x := range []*harness{h, imported} {
			sess := x.get(key("app-one", "alice", "a1"))
			x.appendEvent(sess, &service.Event{ID: "after-import", Timestamp: epoch.Add(time.Hour)})
			require.Equal(t, uint64(3), sess.Version)
		}
		requireSameSessions(t, h, imported, apps)
	})

	t.Run("exported records survive JSON and import the same", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		apps := populate(h)
		var lines [][]byte
		for _, rec := range h.export() {
			b, err := json.Marshal(rec)
			require.NoError(t, err)
			lines = append(lines, b)
		}
		decoded := make([]*service.Record, len(lines))
		for i, line := range lines {
			decoded[i] = new(service.Record)
			require.NoError(t, json.Unmarshal(line, decoded[i]), "decode %s", line)
		}
		imported := h.fresh()
		require.NoError(t, imported.svc.Import(imported.ctx, func(yield func(*service.Record, error) bool) {
			for _, rec := range decoded {
				if !yield(rec, nil) {
					return
				}
			}
		}))
		requireSameSessions(t, h, imported, apps)
		imported.verify()

		// And once more, from the imported service's own export.
		twice := h.fresh()
		require.NoError(t, twice.svc.Import(twice.ctx, imported.svc.Export(imported.ctx)))
		requireSameSessions(t, h, twice, apps)
	})

	t.Run("an import stops at a failing record and keeps the records before it", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		good := &service.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: epoch, State: map[string]any{"k": "v"}}
		dup := &service.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: epoch}
		never := &service.Record{Kind: eventlog.KindSessionCreated, Key: key("app", "user", "never"), Time: epoch}
		failure := errors.New("source failed")
		err := h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) {
			_ = yield(good, nil) && yield(dup, nil) && yield(never, nil)
		})
		require.ErrorIs(t, err, service.ErrAlreadyExists)
		require.Equal(t, map[string]any{"k": "v"}, h.get(k).State)
		_, err = h.svc.Get(h.ctx, never.Key, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		err = h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(nil, failure) })
		require.ErrorIs(t, err, failure)
		h.verify()
	})
}
