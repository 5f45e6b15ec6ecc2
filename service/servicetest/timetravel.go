package servicetest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

// t1 checks reads of a session as it stood at an earlier version or before
// an invocation.
func (s suite) t1(t *testing.T) {
	t.Run("each version reads as a fold of the log up to it", func(t *testing.T) {
		// CONTRACT T1
		t.Parallel()
		h := s.open(t)
		k, sib := key("app", "u", "s"), key("app", "u", "sibling")
		sess := h.create(k, map[string]any{"a": 1, "gone": "soon", "app:x": "created", "user:y": "created", "temp:t": 1})
		other := h.create(sib, nil)
		h.appendDelta(sess, map[string]any{"a": 2, "b": "x"})
		h.appendDelta(other, map[string]any{"app:x": "sibling 1", "own": true})
		h.appendDelta(sess, map[string]any{"user:y": "s 2", "b": service.Removed, "gone": service.Removed})
		h.appendDelta(sess, map[string]any{"c": map[string]any{"deep": []any{1, "two"}}, "temp:t": 2})
		h.appendDelta(other, map[string]any{"user:y": "sibling 2", "app:z": 3.5})
		h.appendEvent(sess, &service.Event{Content: text("no delta")})
		h.appendDelta(sess, map[string]any{"a": 3, "app:x": "s 5"})
		h.appendDelta(other, map[string]any{"app:x": "sibling 3", "user:y": "sibling 3"})

		current := h.get(k)
		require.Equal(t, uint64(5), current.Version)
		records := h.export()
		for v := uint64(0); v <= current.Version; v++ {
			past, err := h.svc.Get(h.ctx, k, service.GetOptions{AtVersion: &v})
			require.NoError(t, err, "version %d", v)
			want := foldUpTo(t, records, k, v)
			require.Equal(t, v, past.Version, "version %d", v)
			requireSameTime(t, want.time, past.LastUpdateTime, fmt.Sprintf("LastUpdateTime of version %d", v))
			require.Equal(t, eventsJSON(t, current.Events[:v]), eventsJSON(t, past.Events), "the events up to version %d", v)
			require.Equal(t, normalize(t, want.own), normalize(t, ownPart(past.State)), "own state of version %d", v)
			shared := normalize(t, sharedPart(past.State))
			asOf, now := normalize(t, want.shared), normalize(t, sharedPart(current.State))
			require.True(t, equalJSON(shared, asOf) || equalJSON(shared, now),
				"version %d: app and user state %v are neither as of then (%v) nor as now (%v)", v, shared, asOf, now)
		}
		h.verify()
	})

	t.Run("version 0 is the session as created", func(t *testing.T) {
		// CONTRACT T1 C3
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		created := h.create(k, map[string]any{"a": 1, "nested": map[string]any{"n": 2}, "app:x": "app", "user:y": "user"})
		atCreation := normalize(t, created.State) // the handle changes with the appends
		h.appendDelta(created, map[string]any{"a": 2, "b": true})
		h.appendDelta(created, map[string]any{"nested": service.Removed})
		zero := uint64(0)
		past, err := h.svc.Get(h.ctx, k, service.GetOptions{AtVersion: &zero})
		require.NoError(t, err)
		require.Equal(t, uint64(0), past.Version)
		require.Empty(t, past.Events)
		require.Equal(t, atCreation, normalize(t, past.State), "the creation's merged state")
		// created's LastUpdateTime moved with its appends; the first
		// Get of version 0 shows the creation time, as the log has it.
		requireSameTime(t, h.export()[0].Time, past.LastUpdateTime, "LastUpdateTime is the creation time")
	})

	t.Run("the event filters select from the events up to the version", func(t *testing.T) {
		// CONTRACT T1 G2
		t.Parallel()
		h := s.open(t)
		at := func(sec int) time.Time { return epoch.Add(time.Hour + time.Duration(sec)*time.Second) }
		k := key("app", "u", "s")
		sess := h.create(k, nil)
		for i, sec := range []int{10, 20, 30, 40, 50} {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i+1), Timestamp: at(sec)})
		}
		v3 := uint64(3)
		cases := []struct {
			name string
			opts service.GetOptions
			want []string
		}{
			{"no filter", service.GetOptions{AtVersion: &v3}, []string{"e1", "e2", "e3"}},
			{"the last two", service.GetOptions{AtVersion: &v3, NumRecentEvents: 2}, []string{"e2", "e3"}},
			{"more than there are", service.GetOptions{AtVersion: &v3, NumRecentEvents: 9}, []string{"e1", "e2", "e3"}},
			{"after a timestamp", service.GetOptions{AtVersion: &v3, After: at(20)}, []string{"e2", "e3"}},
			{"after every event up to the version", service.GetOptions{AtVersion: &v3, After: at(35)}, nil},
			{"n first then the time", service.GetOptions{AtVersion: &v3, NumRecentEvents: 2, After: at(30)}, []string{"e3"}},
		}
		for _, c := range cases {
			got, err := h.svc.Get(h.ctx, k, c.opts)
			require.NoError(t, err, c.name)
			require.Equal(t, c.want, nilIfEmpty(ids(got.Events)), c.name)
			require.Equal(t, uint64(3), got.Version, c.name)
			requireSameTime(t, at(30), got.LastUpdateTime, c.name+": LastUpdateTime is version 3's timestamp")
		}
	})

	t.Run("a version beyond the session's is invalid", func(t *testing.T) {
		// CONTRACT T1 B1
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, nil)
		for range 3 {
			h.appendDelta(sess, map[string]any{"n": 1})
		}
		for _, v := range []uint64{4, 1 << 63} {
			_, err := h.svc.Get(h.ctx, k, service.GetOptions{AtVersion: &v})
			requireInvalid(t, err, fmt.Sprint(v), "version %d", v)
			require.Contains(t, err.Error(), "3", "the message names the session's version")
		}
		v := uint64(0)
		_, err := h.svc.Get(h.ctx, key("app", "u", "missing"), service.GetOptions{AtVersion: &v})
		require.ErrorIs(t, err, service.ErrNotFound, "a missing session is not found at any version")
	})

	t.Run("before an invocation is the version before its first event", func(t *testing.T) {
		// CONTRACT T1
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, map[string]any{"turn": 0})
		for i, inv := range []string{"inv-1", "inv-1", "inv-2", "inv-2", "inv-3"} {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i+1), InvocationID: inv,
				Actions: service.EventActions{StateDelta: map[string]any{"turn": i + 1}}})
		}
		for _, c := range []struct {
			inv     string
			version uint64
		}{{"inv-1", 0}, {"inv-2", 2}, {"inv-3", 4}} {
			before, err := h.svc.Get(h.ctx, k, service.GetOptions{BeforeInvocation: c.inv})
			require.NoError(t, err, c.inv)
			v := c.version
			at, err := h.svc.Get(h.ctx, k, service.GetOptions{AtVersion: &v})
			require.NoError(t, err)
			require.Equal(t, c.version, before.Version, c.inv)
			require.Equal(t, normalize(t, at.State), normalize(t, before.State), c.inv)
			require.Equal(t, ids(at.Events), ids(before.Events), c.inv)
			require.Equal(t, normalize(t, int(c.version)), normalize(t, before.State["turn"]), c.inv)
		}
		got, err := h.svc.Get(h.ctx, k, service.GetOptions{BeforeInvocation: "inv-2", NumRecentEvents: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"e2"}, ids(got.Events), "the filters apply to the events before the invocation")

		_, err = h.svc.Get(h.ctx, k, service.GetOptions{BeforeInvocation: "inv-9"})
		requireInvalid(t, err, "inv-9", "an invocation the session does not hold")
		v := uint64(1)
		_, err = h.svc.Get(h.ctx, k, service.GetOptions{BeforeInvocation: "inv-1", AtVersion: &v})
		requireInvalid(t, err, "atVersion", "both points named")
		_, err = h.svc.Get(h.ctx, key("app", "u", "missing"), service.GetOptions{BeforeInvocation: "inv-1"})
		require.ErrorIs(t, err, service.ErrNotFound)
	})

	t.Run("a past version's handle cannot append as if it were current", func(t *testing.T) {
		// CONTRACT T1 A6
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, nil)
		for i := range 3 {
			h.appendDelta(sess, map[string]any{"n": i})
		}
		before := h.exportJSON()
		v := uint64(1)
		past, err := h.svc.Get(h.ctx, k, service.GetOptions{AtVersion: &v})
		require.NoError(t, err)
		_, err = h.svc.AppendEvent(h.ctx, past, delta(map[string]any{"n": "from the past"}))
		require.ErrorIs(t, err, service.ErrStaleSession)
		require.Equal(t, before, h.exportJSON(), "nothing stored")
		require.Equal(t, uint64(3), h.get(k).Version)

		v = 3
		latest, err := h.svc.Get(h.ctx, k, service.GetOptions{AtVersion: &v})
		require.NoError(t, err)
		h.appendDelta(latest, map[string]any{"n": "current"})
		require.Equal(t, uint64(4), latest.Version, "the current version appends as usual")
	})
}

// pastState is what a session was after some version, by a fold of the log.
type pastState struct {
	own, shared map[string]any
	time        time.Time
}

// foldUpTo folds records, a whole log in position order, up to the record
// of version v of session k (its creation for 0), and returns the
// session's own state and its app's and user's state (prefixed) then.
func foldUpTo(t *testing.T, records []*eventlog.Record, k service.SessionKey, v uint64) pastState {
	t.Helper()
	var st projection.State
	for _, rec := range records {
		st.Apply(rec)
		if rec.Key == k && (v == 0 && rec.Kind == eventlog.KindSessionCreated || rec.Kind == eventlog.KindEventAppended && rec.Seq == v) {
			ss := st.Apps[k.AppName].Sessions[k]
			require.NotNil(t, ss)
			return pastState{own: ss.State, shared: sharedPart(st.Apps[k.AppName].Merged(k, nil)), time: ss.LastUpdateTime}
		}
	}
	t.Fatalf("the log holds no version %d of %v", v, k)
	return pastState{}
}

// ownPart returns the session's own keys of a merged state.
func ownPart(state map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range state {
		if !strings.HasPrefix(k, eventlog.AppPrefix) && !strings.HasPrefix(k, eventlog.UserPrefix) {
			out[k] = v
		}
	}
	return out
}

// sharedPart returns the app: and user: keys of a merged state.
func sharedPart(state map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range state {
		if strings.HasPrefix(k, eventlog.AppPrefix) || strings.HasPrefix(k, eventlog.UserPrefix) {
			out[k] = v
		}
	}
	return out
}

func equalJSON(a, b any) bool { return reflect.DeepEqual(a, b) }

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
