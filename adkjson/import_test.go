package adkjson_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/service"
)

// bystander is a session of the fixtures' app and user that every
// rejected import must leave as it was.
var bystander = service.SessionKey{AppName: "travel", UserID: "ada", SessionID: "bystander"}

func newServiceWithBystander(t *testing.T, store eventlog.Store) *service.Service {
	t.Helper()
	ctx := context.Background()
	svc, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	sess, err := svc.Create(ctx, bystander, map[string]any{"app:theme": "dark", "user:home": "Paris", "step": 0})
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, sess, &service.Event{ID: "b1", Author: "user",
		Actions: service.EventActions{StateDelta: map[string]any{"step": 1}}})
	require.NoError(t, err)
	return svc
}

// servedOf is every session the service serves (through List, with its
// merged state, version and last update), for "nothing changed" checks.
func servedOf(t *testing.T, svc *service.Service) map[service.SessionKey]*service.Session {
	t.Helper()
	out := map[service.SessionKey]*service.Session{}
	apps := map[string]bool{}
	for _, rec := range logOf(t, svc) {
		apps[rec.Key.AppName] = true
	}
	for app := range apps {
		opts := service.ListOptions{PageSize: service.MaxPageSize}
		for {
			page, err := svc.List(context.Background(), app, "", opts)
			require.NoError(t, err)
			for _, sess := range page.Sessions {
				out[sess.Key()] = sess
			}
			if opts.PageToken = page.NextPageToken; opts.PageToken == "" {
				break
			}
		}
	}
	return out
}

// logOf is every record the service holds, for "nothing was written"
// checks.
func logOf(t *testing.T, svc *service.Service) []*eventlog.Record {
	t.Helper()
	var out []*eventlog.Record
	for rec, err := range svc.Export(context.Background()) {
		require.NoError(t, err)
		out = append(out, rec)
	}
	return out
}

func deepJSON(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// CONTRACT B1: every bad document is an ErrInvalidArgument naming the
// field, and nothing is written. CONTRACT K1: app name and user ID are
// required.
func TestImportRejectsBadDocumentsAndWritesNothing(t *testing.T) {
	tests := []struct {
		name  string
		input string // a file in testdata, or a document when it starts with {
		field string
	}{
		{"events out of time order", "bad_events_out_of_order.json", "events[1].timestamp: invalid argument"},
		{"a repeated event ID", "bad_duplicate_event_ids.json", `events[2].id: invalid argument: "ev-1" repeats events[0].id`},
		{"a blank app name", "bad_missing_app_name.json", "appName"},
		{"a missing user ID", "bad_missing_user_id.json", "userId"},
		{"a session key the events contradict", "bad_session_state_mismatch.json", `state["step"]: invalid argument: is 7`},
		{"a partial event", "bad_partial_event.json", "events[0].partial"},
		{"an event without a timestamp", "bad_missing_timestamp.json", "events[1].timestamp: invalid argument: is missing"},
		{"a Go ADK REST server document, whose events carry no timestamp", `{"id":"s","appName":"travel","userId":"ada","lastUpdateTime":1763715603,` +
			`"events":[{"id":"e1","invocationId":"i","author":"user","content":{"role":"user","parts":[{"text":"hi"}]},"actions":{"stateDelta":{},"artifactDelta":{}}}],"state":{}}`,
			"events[0].timestamp: invalid argument: is missing"},
		{"the removal sentinel as a state value", "bad_removed_in_state.json", `state["user:nickname"]`},
		{"a malformed timestamp", "bad_timestamp.json", "events[1]"},
		{"a null event", "bad_null_event.json", "events[0]: invalid argument: is null"},
		{"Python's snake_case field names", "bad_python_snake_case.json", "document: invalid argument: has Python's snake_case field names"},
		{"a JSON array instead of a session", "bad_not_a_session.json", "document: invalid argument: is an array, not a session object"},
		{"the JSON null", "null", "document: invalid argument: is null, not a session object"},
		{"trailing data after the document", `{"appName":"a","userId":"u"} {}`, "invalid character"},
		{"state nested past the service's limit", `{"appName":"travel","userId":"ada","state":{"deep":` + deepJSON(150) + `}}`,
			"state: import: record 1: invalid argument: state nests deeper"},
		{"an event delta nested past the service's limit", `{"appName":"travel","userId":"ada","events":[{"id":"e","timestamp":1763715600,"actions":{"stateDelta":{"deep":` + deepJSON(150) + `}}}]}`,
			"events[0]: import: record 2: invalid argument: actions.stateDelta nests deeper"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name+" is rejected and changes nothing", func(t *testing.T) {
			data := []byte(tt.input)
			if !strings.HasPrefix(tt.input, "{") && tt.input != "null" {
				data = readFixture(t, tt.input)
			}
			svc := newServiceWithBystander(t, nil)
			before, snap := logOf(t, svc), servedOf(t, svc)

			sess, err := adkjson.Import(ctx, svc, bytes.NewReader(data))
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			assert.Contains(t, err.Error(), tt.field)
			assert.Nil(t, sess)
			assert.Equal(t, before, logOf(t, svc))
			assert.Equal(t, snap, servedOf(t, svc))
		})
	}
}

// CONTRACT B1: documents built in Go can hold what JSON cannot.
func TestImportSessionRejectsValuesJSONCannotHold(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	ts := time.Date(2025, 11, 21, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		sess  *service.Session
		field string
	}{
		{"a nil session", nil, "session: invalid argument: is nil"},
		{"a NaN state value", &service.Session{AppName: "travel", UserID: "ada", State: map[string]any{"score": math.NaN()}}, `state["score"]`},
		{"a state map that contains itself", &service.Session{AppName: "travel", UserID: "ada", State: map[string]any{"loop": cyclic}}, `state["loop"]`},
		{"a function in an event's delta", &service.Session{AppName: "travel", UserID: "ada", Events: []*eventlog.Event{
			{ID: "e", Timestamp: ts, Actions: eventlog.EventActions{StateDelta: map[string]any{"f": func() {}}}},
		}}, "events[0]"},
		{"a nil event", &service.Session{AppName: "travel", UserID: "ada", Events: []*eventlog.Event{nil}}, "events[0]: invalid argument: is null"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name+" is rejected and changes nothing", func(t *testing.T) {
			svc := newServiceWithBystander(t, nil)
			before := logOf(t, svc)
			_, err := adkjson.ImportSession(ctx, svc, tt.sess)
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			assert.Contains(t, err.Error(), tt.field)
			assert.Equal(t, before, logOf(t, svc))
		})
	}
	t.Run("a nil service, context, reader or writer is an invalid argument", func(t *testing.T) {
		var svc service.Service
		_, err := adkjson.ImportSession(ctx, nil, fixtureSession())
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		_, err = adkjson.ImportSession(nil, &svc, fixtureSession()) //nolint:staticcheck // a nil ctx is the point
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		_, err = adkjson.Import(ctx, &svc, nil)
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		err = adkjson.Export(ctx, nil, bystander, &bytes.Buffer{}, adkjson.Options{})
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		err = adkjson.Export(ctx, &svc, bystander, nil, adkjson.Options{})
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		err = adkjson.Export(nil, &svc, bystander, &bytes.Buffer{}, adkjson.Options{}) //nolint:staticcheck // a nil ctx is the point
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		assert.Empty(t, logOf(t, &svc))
	})
	t.Run("a cancelled context writes nothing", func(t *testing.T) {
		var svc service.Service
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := adkjson.ImportSession(cctx, &svc, fixtureSession())
		require.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, logOf(t, &svc))
	})
}

// CONTRACT C1: an import never overwrites an existing session.
func TestImportOfAnExistingSessionFailsAndLeavesItAlone(t *testing.T) {
	ctx := context.Background()
	svc := newServiceWithBystander(t, nil)
	before, snap := logOf(t, svc), servedOf(t, svc)
	doc := fixtureSession()
	doc.ID = bystander.SessionID

	_, err := adkjson.ImportSession(ctx, svc, doc)
	require.ErrorIs(t, err, service.ErrAlreadyExists)
	assert.Contains(t, err.Error(), "nothing was written")
	assert.Equal(t, before, logOf(t, svc))
	assert.Equal(t, snap, servedOf(t, svc))
}

// failingStore fails the failAt-th append (counting from 1) with errDisk.
type failingStore struct {
	eventlog.Store
	appends atomic.Int32
	failAt  int32
}

var errDisk = errors.New("disk full")

func (s *failingStore) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	if s.appends.Add(1) == s.failAt {
		return eventlog.AppendResult{}, errDisk
	}
	return s.Store.Append(ctx, rec)
}

// CONTRACT D2: a half-done import is deleted again; the app and user state
// its events wrote stays, as for any deleted session.
func TestImportThatFailsMidwayDeletesWhatItWrote(t *testing.T) {
	ctx := context.Background()
	store := &failingStore{Store: memstore.New()}
	svc := newServiceWithBystander(t, store)
	// The bystander took 2 appends; the import's creation is the 3rd, its
	// events[0] the 4th, events[1] the 5th.
	store.failAt = 5

	_, err := adkjson.ImportSession(ctx, svc, fixtureSession())
	require.ErrorIs(t, err, errDisk)
	assert.Contains(t, err.Error(), "events[1]")
	assert.Contains(t, err.Error(), "the partly imported session was deleted")
	_, err = svc.Get(ctx, fixtureSession().Key(), service.GetOptions{})
	require.ErrorIs(t, err, service.ErrNotFound)
	require.NoError(t, svc.Verify(ctx))

	t.Run("and a failed creation writes nothing and deletes nothing", func(t *testing.T) {
		before := logOf(t, svc)
		store.failAt = store.appends.Load() + 1
		_, err := adkjson.ImportSession(ctx, svc, fixtureSession())
		require.ErrorIs(t, err, errDisk)
		assert.Contains(t, err.Error(), "nothing was written")
		assert.Equal(t, before, logOf(t, svc))
	})
}

// CONTRACT G3: app: and user: keys are shared, so a document may show
// values other sessions wrote after this session's events.
func TestImportKeepsSharedValuesOtherSessionsWrote(t *testing.T) {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()
	doc := fixtureSession()
	doc.State["app:searches"] = float64(50) // the events leave 42
	delete(doc.State, "user:last_search")   // the events leave "LIS"

	got, err := adkjson.ImportSession(ctx, &svc, doc)
	require.NoError(t, err)
	assert.Equal(t, doc.State, got.State)
	assert.Len(t, got.Events, len(doc.Events))
	require.NoError(t, svc.Verify(ctx), "the log replays to the document's state")

	other, err := svc.Create(ctx, service.SessionKey{AppName: "travel", UserID: "ada", SessionID: "s-2"}, nil)
	require.NoError(t, err)
	assert.Equal(t, float64(50), other.State["app:searches"])
	assert.NotContains(t, other.State, "user:last_search")

	t.Run("and the whole store moves to a new service with them (CONTRACT R2)", func(t *testing.T) {
		var moved service.Service
		defer moved.Close()
		require.NoError(t, moved.Import(ctx, svc.Export(ctx)))
		again, err := moved.Get(ctx, doc.Key(), service.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, got.State, again.State)
		assert.Equal(t, got.Events, again.Events)
		require.NoError(t, moved.Verify(ctx))
	})
}

// CONTRACT K1, A3: blank IDs are generated, as Create and AppendEvent
// generate them; temp: keys are dropped.
func TestImportGeneratesMissingIDsAndDropsTempKeys(t *testing.T) {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()
	doc := `{"id":"  ","appName":"travel","userId":"ada","state":{"temp:scratch":1,"n":2},
		"events":[{"timestamp":1763715600,"actions":{"stateDelta":{"n":1,"temp:x":true}}},{"timestamp":1763715601,"actions":{"stateDelta":{"n":2}}}]}`

	got, err := adkjson.Import(ctx, &svc, strings.NewReader(doc))
	require.NoError(t, err)
	assert.NotEmpty(t, strings.TrimSpace(got.ID))
	require.Len(t, got.Events, 2)
	assert.NotEmpty(t, got.Events[0].ID)
	assert.NotEqual(t, got.Events[0].ID, got.Events[1].ID)
	assert.Equal(t, map[string]any{"n": 2}, got.State) // CONTRACT V1: integers read as int
	assert.Equal(t, map[string]any{"n": 1}, got.Events[0].Actions.StateDelta)
}

// CONTRACT C3: a session without events was last updated when created.
func TestImportOfASessionWithoutEventsKeepsItsTime(t *testing.T) {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()
	got, err := adkjson.Import(ctx, &svc, strings.NewReader(
		`{"id":"s","appName":"travel","userId":"ada","state":{"a":1},"lastUpdateTime":1763715600.5}`))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2025, 11, 21, 9, 0, 0, 500_000_000, time.UTC), got.LastUpdateTime)
	assert.Empty(t, got.Events)
	assert.Equal(t, map[string]any{"a": 1}, got.State)
}

// CONTRACT G1, B1: a missing session is not found; what cannot be
// written is an invalid argument; nothing reaches the writer either way.
func TestExportErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("a missing session is not found and writes nothing", func(t *testing.T) {
		var svc service.Service
		var out bytes.Buffer
		err := adkjson.Export(ctx, &svc, bystander, &out, adkjson.Options{})
		require.ErrorIs(t, err, service.ErrNotFound)
		assert.Zero(t, out.Len())
	})
	t.Run("a value JSON cannot hold is never stored, and never written", func(t *testing.T) {
		// CONTRACT V1: the store refuses it, so no export meets it.
		var svc service.Service
		_, err := svc.Create(ctx, bystander, map[string]any{"nan": math.NaN()})
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		assert.Contains(t, err.Error(), `state["nan"]`)
		var out bytes.Buffer
		err = adkjson.Export(ctx, &svc, bystander, &out, adkjson.Options{})
		require.ErrorIs(t, err, service.ErrNotFound)
		assert.Zero(t, out.Len())
		// A session built by hand meets it when encoded.
		_, err = adkjson.Marshal(&service.Session{ID: "s", AppName: "a", UserID: "u", State: map[string]any{"nan": math.NaN()}}, adkjson.Options{})
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		assert.Contains(t, err.Error(), `state["nan"]`)
	})
	t.Run("a failing writer's error is returned", func(t *testing.T) {
		svc := newServiceWithBystander(t, nil)
		err := adkjson.Export(ctx, svc, bystander, failingWriter{}, adkjson.Options{})
		require.ErrorIs(t, err, errDisk)
	})
	t.Run("a failing reader's error is returned", func(t *testing.T) {
		var svc service.Service
		_, err := adkjson.Import(ctx, &svc, iterReader(nil))
		require.ErrorIs(t, err, errDisk)
	})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDisk }

type iterReader iter.Seq[byte]

func (iterReader) Read([]byte) (int, error) { return 0, errDisk }

// CONTRACT G2 R2: the service keeps events whose timestamps are not in
// order (parallel agents stamp events when they make them, and append them
// as they finish), so a session exported from it imports again as it was
// with AnyTimeOrder, and is refused, saying so, without it.
func TestExportedSessionImportsAgainWhateverItsEventOrder(t *testing.T) {
	ctx := context.Background()
	var from service.Service
	defer from.Close()
	key := service.SessionKey{AppName: "travel", UserID: "ada", SessionID: "parallel"}
	sess, err := from.Create(ctx, key, map[string]any{"app:k": "v"})
	require.NoError(t, err)
	for i, at := range []time.Time{t0.Add(2 * time.Second), t0, t0.Add(time.Second)} {
		_, err := from.AppendEvent(ctx, sess, &service.Event{ID: fmt.Sprint("e", i), Author: "agent", Timestamp: at,
			Actions: service.EventActions{StateDelta: map[string]any{"step": float64(i)}}})
		require.NoError(t, err)
	}
	want, err := from.Get(ctx, key, service.GetOptions{})
	require.NoError(t, err)

	for _, format := range []adkjson.Format{adkjson.FormatGo, adkjson.FormatPython, adkjson.FormatJava} {
		t.Run("in the "+format.String()+" form", func(t *testing.T) {
			var doc bytes.Buffer
			require.NoError(t, adkjson.Export(ctx, &from, key, &doc, adkjson.Options{Format: format}))
			var to service.Service
			defer to.Close()
			_, err := adkjson.Import(ctx, &to, bytes.NewReader(doc.Bytes()))
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			require.ErrorContains(t, err, "AnyTimeOrder")
			got, err := adkjson.Import(ctx, &to, &doc, adkjson.AnyTimeOrder())
			require.NoError(t, err)
			assert.Equal(t, want.State, got.State)
			assert.Equal(t, want.LastUpdateTime, got.LastUpdateTime, "the last event's timestamp, as in the source")
			require.Len(t, got.Events, len(want.Events))
			for i := range want.Events {
				assert.Equal(t, want.Events[i].ID, got.Events[i].ID)
				assert.True(t, want.Events[i].Timestamp.Equal(got.Events[i].Timestamp))
			}
			require.NoError(t, to.Verify(ctx))
		})
	}
}
