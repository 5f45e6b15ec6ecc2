package adkjson_test

import (
	"bytes"
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

// A session document in the Python ADK's shape that holds a rewind: the
// event codec reads and writes actions.rewindBeforeInvocationId, and the
// imported session leaves out what the rewind annulled when asked.
func TestRewindEventRoundTrips(t *testing.T) {
	// CONTRACT T2 R2
	const doc = `{"id": "s", "appName": "a", "userId": "u", "state": {"topic": "go"},
	  "lastUpdateTime": 1763715603.0,
	  "events": [
	    {"id": "e1", "invocationId": "inv-1", "author": "user", "timestamp": 1763715600.0,
	     "actions": {"stateDelta": {"topic": "go"}}},
	    {"id": "e2", "invocationId": "inv-2", "author": "user", "timestamp": 1763715601.0,
	     "actions": {"stateDelta": {"topic": "rust", "draft": 1}}},
	    {"id": "e3", "invocationId": "inv-3", "author": "user", "timestamp": 1763715602.0,
	     "actions": {"stateDelta": {"topic": "go", "draft": "__ADK_SENTINEL_REMOVED__"},
	                 "rewindBeforeInvocationId": "inv-2"}}
	  ]}`
	sess, err := adkjson.Unmarshal([]byte(doc))
	require.NoError(t, err)
	require.Equal(t, "inv-2", sess.Events[2].Actions.RewindBeforeInvocationID)
	for _, f := range []adkjson.Format{adkjson.FormatGo, adkjson.FormatPython, adkjson.FormatJava} {
		b, err := adkjson.Marshal(sess, adkjson.Options{Format: f})
		require.NoError(t, err, f)
		require.Contains(t, string(b), `"rewindBeforeInvocationId":"inv-2"`, f)
	}

	ctx := context.Background()
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	_, err = adkjson.Import(ctx, svc, strings.NewReader(doc))
	require.NoError(t, err)
	key := service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	got, err := svc.Get(ctx, key, service.GetOptions{SkipRewound: true})
	require.NoError(t, err)
	require.Len(t, got.Events, 1)
	require.Equal(t, "e1", got.Events[0].ID, "the rewind and the invocation it annulled are left out")
	require.Equal(t, map[string]any{"topic": "go"}, got.State)
}

// How the Python ADK rewinds (Runner.rewind_async and the helpers it calls;
// what follows is a description, and pythonRewindDelta a model of it in
// Go, written from that description):
//
//   - The point is the first event of the session, as the runner read it,
//     whose invocation is the one named; none is an error.
//   - The state at the point is folded from the state deltas of the events
//     before it, every event counted (rewinds and the events they annulled
//     too), app: and user: keys skipped, and a null value taking its key
//     out. The state set when the session was created is no part of it:
//     creation state is no event.
//   - The rewind's delta compares that with the session's current state:
//     each key of the state at the point whose current value differs, or
//     that is missing now, gets its value at the point; each key of the
//     current state (not app:, not user:) that the state at the point
//     lacks gets null. Keys set only at creation are such keys, so every
//     rewind nulls them: the creation state is lost
//     (google/adk-python#4933).
//   - The rewind is one event appended by "user" in a new invocation
//     ("e-" and a UUID) with actions.rewindBeforeInvocationId, that delta,
//     and an artifact delta that names, for every session artifact whose
//     version changed since the point, a new version the runner saved with
//     the content as of the point (or an empty one). app: and user: state
//     and user: artifacts are not rewound.
//   - A null in a delta is stored as a value: the session's state keeps
//     the key with null.
//   - The events stay. When the runner builds a model request, it reads the
//     events from the last back to the first; at a rewind it jumps back to
//     the first event of the invocation the rewind names (looked for before
//     the rewind) and goes on before it, so the rewind and what it annulled
//     are left out, and a rewind to a point before an earlier rewind
//     annuls that rewind too. Session reads (get_session, session.events)
//     return every event; google/adk-python#4959 asks for a way to filter.
//
// testdata/python_rewind.json is a session as the Python ADK writes it,
// written by hand from that description, of a session created with state
// {"tenant": "acme", "user:lang": "en"}:
//
//	ev-1, ev-2    e-inv-1   autumn: topic=autumn
//	ev-3, ev-4    e-inv-2   winter: topic=winter, draft (first set here), user:style
//	ev-5          rewind to before e-inv-2: topic=autumn, draft and tenant null
//	ev-6, ev-7    e-inv-3   spring: topic, draft
//	ev-8          rewind to before e-rewind-1 (ev-5, a rewind of a rewind):
//	              topic=winter, draft as after ev-4, tenant null again
//	ev-9, ev-10   e-inv-4   draft="Snow."
const pythonRewindDoc = "python_rewind.json"

// pythonCreation is the state the Python session was created with; its
// document cannot say so (the tenant's value is lost), see above.
var pythonCreation = map[string]any{"tenant": "acme", "user:lang": "en"}

// The active events and the state of a session the Python ADK rewound,
// twice, the second time a rewind of the first, are what Python shows for
// it; and the fixture's rewinds are what Python computes.
func TestPythonRewindDocument(t *testing.T) {
	// CONTRACT T2
	ctx := context.Background()
	doc := readFixture(t, pythonRewindDoc)
	sess, err := adkjson.Unmarshal(doc)
	require.NoError(t, err)

	t.Run("each rewind in the document is the one the Python ADK appends", func(t *testing.T) {
		var rewinds int
		for i, e := range sess.Events {
			if inv := e.Actions.RewindBeforeInvocationID; inv != "" {
				rewinds++
				require.Equal(t, "user", e.Author, "events[%d]", i)
				require.Equal(t, pythonRewindDelta(pythonCreation, sess.Events[:i], inv), e.Actions.StateDelta, "events[%d]", i)
			}
		}
		require.Equal(t, 2, rewinds)
	})

	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	_, err = adkjson.Import(ctx, svc, bytes.NewReader(doc))
	require.NoError(t, err)
	key := sess.Key()

	// Python's backward walk: ev-10 and ev-9 stay; ev-8 names e-rewind-1,
	// whose first event is ev-5, so ev-8 down to ev-5 go; ev-4 to ev-1
	// stay. ev-5's own annulment (of ev-3 and ev-4) is gone with it.
	wantActive := []string{"ev-1", "ev-2", "ev-3", "ev-4", "ev-9", "ev-10"}
	// What Python's session shows: the tenant null since the first rewind,
	// the draft and topic as the second rewind and ev-10 left them, user:
	// state untouched by both rewinds.
	wantState := map[string]any{"tenant": nil, "topic": "winter", "draft": "Snow.", "user:lang": "en", "user:style": "haiku"}

	t.Run("the active events and the state are those Python shows", func(t *testing.T) {
		require.Equal(t, wantActive, ids(eventlog.ActiveEvents(sess.Events)))
		got, err := svc.Get(ctx, key, service.GetOptions{SkipRewound: true})
		require.NoError(t, err)
		require.Equal(t, wantActive, ids(got.Events))
		require.Equal(t, wantState, got.State)
		require.Equal(t, uint64(10), got.Version, "nothing left the log")

		var listed []string
		opts := service.ListEventsOptions{PageSize: 2, SkipRewound: true}
		for {
			page, err := svc.ListEvents(ctx, key, opts)
			require.NoError(t, err)
			listed = append(listed, ids(page.Events)...)
			if opts.PageToken = page.NextPageToken; opts.PageToken == "" {
				break
			}
		}
		require.Equal(t, wantActive, listed)
	})

	t.Run("after the first rewind, the draft (first set after its point) and the tenant are null", func(t *testing.T) {
		v := uint64(5)
		got, err := svc.Get(ctx, key, service.GetOptions{AtVersion: &v, SkipRewound: true})
		require.NoError(t, err)
		require.Equal(t, []string{"ev-1", "ev-2"}, ids(got.Events))
		require.Equal(t, map[string]any{"tenant": nil, "topic": "autumn", "draft": nil, "user:lang": "en", "user:style": "haiku"}, got.State)
	})

	t.Run("sessionlog goes on rewinding the imported session", func(t *testing.T) {
		rw, err := svc.Rewind(ctx, key, "e-inv-4", service.RewindOptions{})
		require.NoError(t, err)
		// Only the key e-inv-4 wrote; the tenant stays null: the document
		// does not hold its creation value.
		require.Equal(t, map[string]any{"draft": "Snow on the pine."}, rw.Actions.StateDelta)
		got, err := svc.Get(ctx, key, service.GetOptions{SkipRewound: true})
		require.NoError(t, err)
		require.Equal(t, []string{"ev-1", "ev-2", "ev-3", "ev-4"}, ids(got.Events))
		require.Equal(t, map[string]any{"tenant": nil, "topic": "winter", "draft": "Snow on the pine.", "user:lang": "en", "user:style": "haiku"}, got.State)
	})
}

// The same history written through sessionlog's own Rewind annuls the
// same events and ends in the same state but for one deliberate
// difference: the tenant, set at creation, keeps its value (CONTRACT T2:
// creation state is kept; the Python ADK nulls it). Its rewinds
// also name only the keys written since the point, and take a key set
// after the point out (Removed) where Python leaves it null.
func TestPythonRewindHistoryThroughSessionlog(t *testing.T) {
	// CONTRACT T2
	ctx := context.Background()
	doc, err := adkjson.Unmarshal(readFixture(t, pythonRewindDoc))
	require.NoError(t, err)
	byID := map[string]*service.Event{}
	for _, e := range doc.Events {
		byID[e.ID] = e
	}
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	key := doc.Key()
	_, err = svc.Create(ctx, key, pythonCreation)
	require.NoError(t, err)
	appendDoc := func(evIDs ...string) {
		t.Helper()
		sess, err := svc.Get(ctx, key, service.GetOptions{})
		require.NoError(t, err)
		for _, id := range evIDs {
			_, err := svc.AppendEvent(ctx, sess, byID[id].Clone())
			require.NoError(t, err)
		}
	}
	state := func(version uint64) map[string]any {
		t.Helper()
		got, err := svc.Get(ctx, key, service.GetOptions{AtVersion: &version})
		require.NoError(t, err)
		return got.State
	}

	appendDoc("ev-1", "ev-2", "ev-3", "ev-4")
	rw1, err := svc.Rewind(ctx, key, "e-inv-2", service.RewindOptions{EventID: "ev-5"})
	require.NoError(t, err)
	// Python: {"topic": "autumn", "tenant": null, "draft": null}. The
	// stored event holds Removed in its wire form, the JSON string.
	require.Equal(t, map[string]any{"topic": "autumn", "draft": projection.RemovedJSON}, rw1.Actions.StateDelta)
	// Python: tenant and draft null.
	require.Equal(t, map[string]any{"tenant": "acme", "topic": "autumn", "user:lang": "en", "user:style": "haiku"}, state(5))

	appendDoc("ev-6", "ev-7")
	rw2, err := svc.Rewind(ctx, key, rw1.InvocationID, service.RewindOptions{EventID: "ev-8"})
	require.NoError(t, err)
	// Python: the same and "tenant": null.
	require.Equal(t, map[string]any{"topic": "winter", "draft": "Snow on the pine."}, rw2.Actions.StateDelta)
	appendDoc("ev-9", "ev-10")

	got, err := svc.Get(ctx, key, service.GetOptions{SkipRewound: true})
	require.NoError(t, err)
	require.Equal(t, []string{"ev-1", "ev-2", "ev-3", "ev-4", "ev-9", "ev-10"}, ids(got.Events), "the events Python leaves out")
	python := maps.Clone(doc.State)
	require.Nil(t, python["tenant"])
	python["tenant"] = "acme" // the one difference
	require.Equal(t, python, got.State)
}

// pythonRewindDelta is the state delta the Python ADK's rewind to before
// invocation inv computes for a session created with creation and holding
// events, as described above TestPythonRewindDocument. It serves only to
// check that the fixture is what Python writes.
func pythonRewindDelta(creation map[string]any, events []*service.Event, inv string) map[string]any {
	shared := func(k string) bool { return strings.HasPrefix(k, "app:") || strings.HasPrefix(k, "user:") }
	point := slices.IndexFunc(events, func(e *service.Event) bool { return e.InvocationID == inv })
	atPoint := map[string]any{}
	for _, e := range events[:point] {
		for k, v := range e.Actions.StateDelta {
			switch {
			case shared(k):
			case v == nil:
				delete(atPoint, k)
			default:
				atPoint[k] = v
			}
		}
	}
	current := maps.Clone(creation) // a null stays a value
	for _, e := range events {
		maps.Copy(current, e.Actions.StateDelta)
	}
	delta := map[string]any{}
	for k, v := range atPoint {
		if now, ok := current[k]; !ok || !reflect.DeepEqual(now, v) {
			delta[k] = v
		}
	}
	for k := range current {
		if _, ok := atPoint[k]; !ok && !shared(k) {
			delta[k] = nil
		}
	}
	return delta
}

// ids returns the events' IDs in order.
func ids(events []*service.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}
