package adkjson_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// t0 is the first fixture event's time: 2025-11-21T09:00:00.25Z.
var t0 = time.Date(2025, 11, 21, 9, 0, 0, 250_000_000, time.UTC)

// fixtureSession is the session every good fixture in testdata describes,
// each in its runtime's shape.
func fixtureSession() *service.Session {
	return &service.Session{
		ID: "s-1", AppName: "travel", UserID: "ada",
		State: map[string]any{
			// CONTRACT V1: integers read as int, exact across int64; a
			// float written with a fraction (as Python's and Java's JSON
			// write every float) reads as float64.
			"app:currency": "EUR", "app:searches": 42,
			"user:home": "Berlin", "user:last_search": "LIS", "user:rating": float64(4),
			"visits": 1<<60 + 1,
			"flight": "TP123", "booked": true,
		},
		Events: []*eventlog.Event{
			{
				ID: "ev-1", InvocationID: "e-inv-1", Author: "user", Timestamp: t0,
				Content: &genai.Content{Role: "user", Parts: []*genai.Part{{Text: "Book a flight to Lisbon"}}},
			},
			{
				ID: "ev-2", InvocationID: "e-inv-1", Author: "planner", Timestamp: t0.Add(1500 * time.Millisecond),
				Content: &genai.Content{Role: "model", Parts: []*genai.Part{{FunctionCall: &genai.FunctionCall{
					ID: "call-1", Name: "search_flights", Args: map[string]any{"to": "LIS", "passengers": 2}, // CONTRACT V1: an integer as int
				}}}},
				Actions: eventlog.EventActions{StateDelta: map[string]any{
					"destination": "LIS", "user:last_search": "LIS", "app:searches": 41,
				}},
			},
			{
				ID: "ev-3", InvocationID: "e-inv-1", Author: "planner", Timestamp: t0.Add(1875 * time.Millisecond),
				Content: &genai.Content{Role: "user", Parts: []*genai.Part{{FunctionResponse: &genai.FunctionResponse{
					ID: "call-1", Name: "search_flights",
					Response: map[string]any{"flights": []any{map[string]any{"id": "TP123", "price": 99.5}}},
				}}}},
				Actions: eventlog.EventActions{
					StateDelta:    map[string]any{"app:searches": 42, "flight": "TP123"},
					ArtifactDelta: map[string]int64{"itinerary.pdf": 1},
				},
			},
			{
				ID: "ev-4", InvocationID: "e-inv-1", Author: "planner", Timestamp: t0.Add(2750 * time.Millisecond),
				Content: &genai.Content{Role: "model", Parts: []*genai.Part{{Text: "Booked TP123."}}},
				Actions: eventlog.EventActions{StateDelta: map[string]any{
					"destination": "__ADK_SENTINEL_REMOVED__", "booked": true,
				}},
			},
		},
		LastUpdateTime: t0.Add(2750 * time.Millisecond),
	}
}

// normalize makes empty delta maps nil, because runtimes differ in whether
// they write "stateDelta": {} or leave it out, and both mean the same.
func normalize(s *service.Session) *service.Session {
	for _, ev := range s.Events {
		if len(ev.Actions.StateDelta) == 0 {
			ev.Actions.StateDelta = nil
		}
		if len(ev.Actions.ArtifactDelta) == 0 {
			ev.Actions.ArtifactDelta = nil
		}
		if len(ev.Actions.RequestedAuthConfigs) == 0 {
			ev.Actions.RequestedAuthConfigs = nil
		}
		if len(ev.Actions.RequestedToolConfirmations) == 0 {
			ev.Actions.RequestedToolConfirmations = nil
		}
		if len(ev.LongRunningToolIDs) == 0 {
			ev.LongRunningToolIDs = nil
		}
	}
	return s
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

var goodFixtures = []struct {
	file   string
	format adkjson.Format
}{
	{"python.json", adkjson.FormatPython},
	{"java.json", adkjson.FormatJava},
	{"go.json", adkjson.FormatGo},
}

// The wire shapes are the design's choice rather than a CONTRACT rule:
// decoding accepts each ADK runtime's time forms (DESIGN, "Event JSON").
func TestUnmarshalReadsEachRuntimesShape(t *testing.T) {
	for _, fx := range goodFixtures {
		t.Run("the "+fx.format.String()+" fixture decodes to every field of the session", func(t *testing.T) {
			got, err := adkjson.Unmarshal(readFixture(t, fx.file))
			require.NoError(t, err)
			want := fixtureSession()
			assert.Equal(t, want.ID, got.ID)
			assert.Equal(t, want.AppName, got.AppName)
			assert.Equal(t, want.UserID, got.UserID)
			assert.Equal(t, want.State, got.State)
			assert.Equal(t, want.LastUpdateTime, got.LastUpdateTime)
			assert.Zero(t, got.Version)
			got = normalize(got)
			require.Len(t, got.Events, len(want.Events))
			for i := range want.Events {
				assert.Equal(t, want.Events[i], got.Events[i], "events[%d]", i)
			}
		})
	}
}

// CONTRACT R1: the imported session's log replays to its state.
// CONTRACT R2, for one session: export and import reproduce its events and
// state.
// CONTRACT C2: app: and user: keys land in the app's and user's state.
func TestImportStoresTheDocumentAsGetShowsIt(t *testing.T) {
	ctx := context.Background()
	for _, fx := range goodFixtures {
		t.Run("the "+fx.format.String()+" fixture imports, reads back and re-exports unchanged", func(t *testing.T) {
			data := readFixture(t, fx.file)
			doc, err := adkjson.Unmarshal(data)
			require.NoError(t, err)
			var svc service.Service
			defer svc.Close()

			stored, err := adkjson.Import(ctx, &svc, bytes.NewReader(data))
			require.NoError(t, err)
			got, err := svc.Get(ctx, doc.Key(), service.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, stored, got, "Import returns what Get shows")
			assert.Equal(t, doc.Key(), got.Key())
			assert.Equal(t, doc.State, got.State)
			assert.Equal(t, doc.LastUpdateTime, got.LastUpdateTime)
			assert.Equal(t, uint64(len(doc.Events)), got.Version)
			require.Len(t, got.Events, len(doc.Events))
			for i := range doc.Events {
				assert.Equal(t, normalize(&service.Session{Events: doc.Events[i : i+1]}).Events[0],
					normalize(&service.Session{Events: []*eventlog.Event{got.Events[i].Clone()}}).Events[0], "events[%d]", i)
			}
			require.NoError(t, svc.Verify(ctx))

			// A second session of the same user sees the shared keys.
			other, err := svc.Create(ctx, service.SessionKey{AppName: "travel", UserID: "ada", SessionID: "s-2"}, nil)
			require.NoError(t, err)
			assert.Equal(t, map[string]any{
				"app:currency": "EUR", "app:searches": 42, "user:home": "Berlin", "user:last_search": "LIS", "user:rating": float64(4),
			}, other.State)

			var out bytes.Buffer
			require.NoError(t, adkjson.Export(ctx, &svc, doc.Key(), &out, adkjson.Options{Format: fx.format}))
			again, err := adkjson.Unmarshal(out.Bytes())
			require.NoError(t, err)
			assert.Equal(t, normalize(doc), normalize(again))
		})
	}
}

func TestMarshalWritesTheChosenTimestampForm(t *testing.T) {
	sess := &service.Session{
		ID: "s", AppName: "a", UserID: "u",
		Events:         []*eventlog.Event{{ID: "e", Timestamp: time.Date(2025, 11, 21, 9, 0, 0, 123_456_789, time.UTC)}},
		LastUpdateTime: time.Date(2025, 11, 21, 9, 0, 1, 500_000_000, time.UTC),
	}
	tests := []struct {
		format            adkjson.Format
		event, lastUpdate string
	}{
		{adkjson.FormatGo, `"2025-11-21T09:00:00.123456789Z"`, `"2025-11-21T09:00:01.5Z"`},
		{adkjson.FormatPython, `1763715600.123456789`, `1763715601.5`},
		{adkjson.FormatJava, `1763715600123`, `1763715601.5`},
	}
	for _, tt := range tests {
		t.Run("the "+tt.format.String()+" format writes its runtime's numbers or strings", func(t *testing.T) {
			b, err := adkjson.Marshal(sess, adkjson.Options{Format: tt.format})
			require.NoError(t, err)
			var doc struct {
				Events []struct {
					Timestamp json.RawMessage `json:"timestamp"`
				} `json:"events"`
				LastUpdateTime json.RawMessage `json:"lastUpdateTime"`
				State          map[string]any  `json:"state"`
			}
			require.NoError(t, json.Unmarshal(b, &doc))
			assert.Equal(t, tt.event, string(doc.Events[0].Timestamp))
			assert.Equal(t, tt.lastUpdate, string(doc.LastUpdateTime))
			assert.Equal(t, map[string]any{}, doc.State, "a nil state is written as {}")

			back, err := adkjson.Unmarshal(b)
			require.NoError(t, err)
			want := sess.Events[0].Timestamp
			if tt.format == adkjson.FormatJava {
				want = want.Truncate(time.Millisecond)
			}
			assert.Equal(t, want, back.Events[0].Timestamp)
			assert.Equal(t, sess.LastUpdateTime, back.LastUpdateTime)
		})
	}
	t.Run("times before 1970 are written as negative seconds that read back exactly", func(t *testing.T) {
		old := &service.Session{LastUpdateTime: time.Date(1969, 12, 31, 23, 59, 59, 750_000_000, time.UTC)}
		b, err := adkjson.Marshal(old, adkjson.Options{Format: adkjson.FormatPython})
		require.NoError(t, err)
		assert.Contains(t, string(b), `"lastUpdateTime":-0.25`)
		back, err := adkjson.Unmarshal(b)
		require.NoError(t, err)
		assert.Equal(t, old.LastUpdateTime, back.LastUpdateTime)
	})
	t.Run("indent puts nested values on their own lines", func(t *testing.T) {
		b, err := adkjson.Marshal(sess, adkjson.Options{Indent: "  "})
		require.NoError(t, err)
		assert.Contains(t, string(b), "\n  \"appName\": \"a\",\n")
	})
}

// CONTRACT B1: a rejection is an ErrInvalidArgument naming the field.
func TestMarshalRejectsWhatNoReaderCouldReadBack(t *testing.T) {
	at := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name   string
		sess   *service.Session
		format adkjson.Format
		field  string
	}{
		{"a nil session", nil, adkjson.FormatGo, "session: invalid argument: is nil"},
		{"an unknown format", &service.Session{}, adkjson.Format(7), "format: invalid argument: 7"},
		{"a NaN state value", &service.Session{State: map[string]any{"k": math.NaN()}}, adkjson.FormatGo, `state["k"]`},
		{"a channel in the state", &service.Session{State: map[string]any{"ok": 1, "c": make(chan int)}}, adkjson.FormatGo, `state["c"]`},
		{"a nil event", &service.Session{Events: []*eventlog.Event{{ID: "a"}, nil}}, adkjson.FormatGo, "events[1]"},
		{"a NaN in an event's delta", &service.Session{Events: []*eventlog.Event{{Actions: eventlog.EventActions{StateDelta: map[string]any{"x": math.Inf(1)}}}}}, adkjson.FormatGo, "events[0]"},
		{"a year past 9999", &service.Session{LastUpdateTime: at(10000)}, adkjson.FormatGo, "lastUpdateTime"},
		{"seconds that would read as milliseconds", &service.Session{LastUpdateTime: at(6000)}, adkjson.FormatPython, "lastUpdateTime"},
		{"milliseconds that would read as seconds", &service.Session{Events: []*eventlog.Event{{ID: "e", Timestamp: at(1971)}}}, adkjson.FormatJava, "events[0]: timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is an invalid argument naming the field", func(t *testing.T) {
			b, err := adkjson.Marshal(tt.sess, adkjson.Options{Format: tt.format})
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			assert.Contains(t, err.Error(), tt.field)
			assert.Nil(t, b)
		})
	}

	// An indent of other characters would make a document no JSON reader
	// accepts; tabs, spaces and line breaks are JSON white space.
	for _, indent := range []string{"x", "  //", "\u00a0"} {
		t.Run(fmt.Sprintf("an indent of %q is an invalid argument naming the field", indent), func(t *testing.T) {
			b, err := adkjson.Marshal(&service.Session{ID: "s", AppName: "a", UserID: "u"}, adkjson.Options{Indent: indent})
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			assert.Contains(t, err.Error(), "indent")
			assert.Nil(t, b)
		})
	}
	t.Run("an indent of JSON white space writes a document that reads back", func(t *testing.T) {
		b, err := adkjson.Marshal(&service.Session{ID: "s", AppName: "a", UserID: "u"}, adkjson.Options{Indent: "\t \r\n"})
		require.NoError(t, err)
		back, err := adkjson.Unmarshal(b)
		require.NoError(t, err)
		assert.Equal(t, "s", back.ID)
	})
}

// CONTRACT B1: an unknown format name is an ErrInvalidArgument.
func TestFormatNames(t *testing.T) {
	for _, f := range []adkjson.Format{adkjson.FormatGo, adkjson.FormatPython, adkjson.FormatJava} {
		t.Run(f.String()+" parses back from its name in any case", func(t *testing.T) {
			got, err := adkjson.ParseFormat(string(bytes.ToUpper([]byte(f.String()))))
			require.NoError(t, err)
			assert.Equal(t, f, got)
		})
	}
	t.Run("an unknown name is an invalid argument", func(t *testing.T) {
		_, err := adkjson.ParseFormat("rust")
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		assert.Equal(t, "Format(9)", adkjson.Format(9).String())
	})
}

// The Java ADK reads an event's custom metadata only as a list of genai
// CustomMetadata entries: FormatJava writes it so, in key order, and the
// codec reads it back into the same map; a value that form cannot hold is
// refused, naming it.
func TestMarshalWritesCustomMetadataInJavasForm(t *testing.T) {
	doc := `{"id":"s","appName":"a","userId":"u","state":{},"lastUpdateTime":1.7637156E9,
	  "events":[{"id":"e","author":"agent","timestamp":1763715600000,"actions":{},
	    "customMetadata":[{"key":"tags","stringListValue":{"values":["x","y"]}},{"key":"k","stringValue":"v"},{"key":"n","numericValue":1.5}]}]}`
	sess, err := adkjson.Unmarshal([]byte(doc))
	require.NoError(t, err)
	want := map[string]any{"k": "v", "n": 1.5, "tags": []any{"x", "y"}}
	require.Equal(t, want, sess.Events[0].CustomMetadata)
	b, err := adkjson.Marshal(sess, adkjson.Options{Format: adkjson.FormatJava})
	require.NoError(t, err)
	var out struct {
		Events []struct {
			CustomMetadata json.RawMessage `json:"customMetadata"`
		} `json:"events"`
	}
	require.NoError(t, json.Unmarshal(b, &out))
	assert.JSONEq(t, `[{"key":"k","stringValue":"v"},{"key":"n","numericValue":1.5},{"key":"tags","stringListValue":{"values":["x","y"]}}]`,
		string(out.Events[0].CustomMetadata))
	again, err := adkjson.Unmarshal(b)
	require.NoError(t, err)
	assert.Equal(t, want, again.Events[0].CustomMetadata)
	b, err = adkjson.Marshal(sess, adkjson.Options{Format: adkjson.FormatPython})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"customMetadata":{"k":"v","n":1.5,"tags":["x","y"]}`, "the other runtimes read a map")

	sess.Events[0].CustomMetadata = map[string]any{"ok": "v", "nested": map[string]any{"a": 1}}
	_, err = adkjson.Marshal(sess, adkjson.Options{Format: adkjson.FormatJava})
	require.ErrorIs(t, err, service.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `customMetadata["nested"]`)
}

// An event that names its fields in Python's snake_case is refused, naming
// the key, in a document whose own keys are camelCase: read as camelCase,
// its deltas would be left out. Unknown camelCase keys are still read past.
func TestUnmarshalRefusesSnakeCaseEventKeys(t *testing.T) {
	for _, c := range []struct{ event, field, key string }{
		{`{"id":"e","invocation_id":"i","timestamp":1763715600.0}`, "events[0]", "invocation_id"},
		{`{"id":"e","timestamp":1763715600.0,"actions":{"state_delta":{"k":1}}}`, "events[0].actions", "state_delta"},
		{`{"id":"e","timestamp":1763715600.0,"long_running_tool_ids":["c"]}`, "events[0]", "long_running_tool_ids"},
	} {
		doc := `{"id":"s","appName":"a","userId":"u","state":{},"lastUpdateTime":1763715600.0,"events":[` + c.event + `]}`
		_, err := adkjson.Unmarshal([]byte(doc))
		require.ErrorIs(t, err, service.ErrInvalidArgument, c.event)
		assert.Contains(t, err.Error(), c.field+": ", c.event)
		assert.Contains(t, err.Error(), fmt.Sprintf("%q", c.key), c.event)
	}
	doc := `{"id":"s","appName":"a","userId":"u","state":{},"lastUpdateTime":1763715600.0,
	  "events":[{"id":"e","timestamp":1763715600.0,"newField":1,"x_y":2,"actions":{"stateDelta":{"k":1},"someFutureAction":true}}]}`
	sess, err := adkjson.Unmarshal([]byte(doc))
	require.NoError(t, err, "unknown keys that name no field are read past")
	assert.Equal(t, map[string]any{"k": 1}, sess.Events[0].Actions.StateDelta)
}

// A state value the document cannot hold is refused, naming the state and
// the key.
func TestUnmarshalNamesABadStateValue(t *testing.T) {
	_, err := adkjson.Unmarshal([]byte(`{"id":"s","appName":"a","userId":"u","state":{"k":1e400},"lastUpdateTime":1763715600.0,"events":[]}`))
	require.ErrorIs(t, err, service.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "state: ")
	assert.Contains(t, err.Error(), `["k"]`)
}
