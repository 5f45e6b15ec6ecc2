package servicetest

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// valueCase is a value written into state and events, and the value every
// store returns for it (CONTRACT V1).
type valueCase struct {
	name string
	in   any
	want any
}

// named is a caller's own struct type, stored as its JSON form.
type named struct {
	Name  string    `json:"name"`
	Count int64     `json:"count"`
	Ratio float64   `json:"ratio"`
	When  time.Time `json:"when"`
	Tags  []string  `json:"tags"`
}

var valueTime = time.Date(2025, time.March, 1, 12, 30, 0, 123_000_000, time.UTC)

// valueCases are the values every store returns as JSON values: the JSON
// types themselves unchanged, every other Go type as its JSON form reads.
func valueCases() []valueCase {
	ptr := 7
	return []valueCase{
		{"a string", "héllo <b>&</b> \u2028 \"q\"\n", "héllo <b>&</b> \u2028 \"q\"\n"},
		{"an empty string", "", ""},
		{"true", true, true},
		{"false", false, false},
		{"nil", nil, nil},
		{"an int", 3, 3},
		{"a negative int", -42, -42},
		{"zero", 0, 0},
		{"an int beyond float64's exact range", 1<<60 + 1, 1<<60 + 1},
		{"the largest int64", math.MaxInt64, math.MaxInt64},
		{"the smallest int64", math.MinInt64, math.MinInt64},
		{"a float", 2.5, 2.5},
		{"an integral float stays a float", 3.0, 3.0},
		{"a zero float stays a float", 0.0, 0.0},
		{"a negative integral float", -17.0, -17.0},
		{"an integral float beyond int64", 1e21, 1e21},
		{"a large integral float below 1e21", float64(1 << 62), float64(1 << 62)},
		{"a tiny float", 1e-9, 1e-9},
		{"the largest float", math.MaxFloat64, math.MaxFloat64},
		{"the smallest positive float", math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
		{"an object of every kind", map[string]any{"s": "x", "i": 1, "f": 1.0, "b": false, "n": nil, "l": []any{1, 2.0, "3"}},
			map[string]any{"s": "x", "i": 1, "f": 1.0, "b": false, "n": nil, "l": []any{1, 2.0, "3"}}},
		{"an empty object", map[string]any{}, map[string]any{}},
		{"an empty array", []any{}, []any{}},
		{"nested arrays", []any{[]any{[]any{1.5}}, map[string]any{"k": []any{}}}, []any{[]any{[]any{1.5}}, map[string]any{"k": []any{}}}},
		{"an int64 becomes int", int64(1)<<62 + 3, 1<<62 + 3},
		{"an int32 becomes int", int32(-5), -5},
		{"a uint8 becomes int", uint8(200), 200},
		{"a uint64 within int64 becomes int", uint64(math.MaxInt64), math.MaxInt64},
		{"a float32 becomes the float64 of its decimal form", float32(0.1), 0.1},
		{"an integral float32 stays a float", float32(2), 2.0},
		{"a json.Number integer becomes int", json.Number("9007199254740993"), 9007199254740993},
		{"a json.Number with a fraction becomes float64", json.Number("4.0"), 4.0},
		{"a json.Number with an exponent becomes float64", json.Number("1e3"), 1000.0},
		{"a json.RawMessage becomes what it holds", json.RawMessage(`{"a": 1, "b": 1.0}`), map[string]any{"a": 1, "b": 1.0}},
		{"a time.Time becomes its RFC 3339 string", valueTime, "2025-03-01T12:30:00.123Z"},
		{"a struct becomes its JSON object", named{Name: "n", Count: 1<<60 + 1, Ratio: 0.5, When: valueTime, Tags: []string{"a"}},
			map[string]any{"name": "n", "count": 1<<60 + 1, "ratio": 0.5, "when": "2025-03-01T12:30:00.123Z", "tags": []any{"a"}}},
		{"a pointer becomes what it points to", &ptr, 7},
		{"a []string becomes []any", []string{"a", "b"}, []any{"a", "b"}},
		{"a map[string]string becomes map[string]any", map[string]string{"a": "b"}, map[string]any{"a": "b"}},
		{"a map of another value type becomes map[string]any", map[string]int64{"a": 1}, map[string]any{"a": 1}},
		{"a []byte becomes its base64 string", []byte("hi"), "aGk="},
		{"typed values inside an object", map[string]any{"when": valueTime, "ids": []int64{1, 2}, "n": uint16(9)},
			map[string]any{"when": "2025-03-01T12:30:00.123Z", "ids": []any{1, 2}, "n": 9}},
		{"a nil map becomes nil", map[string]any(nil), nil},
		{"a nil slice becomes nil", []any(nil), nil},
	}
}

// refusedValues are values JSON cannot hold, or integers outside int64:
// each is ErrInvalidArgument wherever it is written, and nothing is stored.
func refusedValues() []struct {
	name string
	in   any
} {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	return []struct {
		name string
		in   any
	}{
		{"the largest uint64", uint64(math.MaxUint64)},
		{"a uint64 just beyond int64", uint64(math.MaxInt64) + 1},
		{"an integer json.Number beyond int64", json.Number("1000000000000000000000000000000")},
		{"a json.Number that is not a number", json.Number("12abc")},
		{"an integer beyond int64 inside a json.RawMessage", json.RawMessage(`[18446744073709551615]`)},
		{"a struct holding a uint64 beyond int64", struct{ N uint64 }{math.MaxUint64}},
		{"NaN", math.NaN()},
		{"infinity", math.Inf(1)},
		{"a float32 infinity", float32(math.Inf(-1))},
		{"NaN inside an object", map[string]any{"a": []any{1, math.NaN()}}},
		{"a string that is not UTF-8", "a\xffb"},
		{"a key that is not UTF-8", map[string]any{"k\xfe": 1}},
		{"a channel", make(chan int)},
		{"a function", func() {}},
		{"a map that holds itself", cyclic},
	}
}

// valueFields are the places of a session and an event that hold JSON
// values; write puts every case's value into its place under the case's
// name, read takes the place's map back out of a stored event.
var valueFields = []struct {
	name  string
	write func(ev *service.Event, vals map[string]any)
	read  func(ev *service.Event) map[string]any
}{
	{"actions.stateDelta",
		func(ev *service.Event, vals map[string]any) { ev.Actions.StateDelta = vals },
		func(ev *service.Event) map[string]any { return ev.Actions.StateDelta }},
	{"customMetadata",
		func(ev *service.Event, vals map[string]any) { ev.CustomMetadata = vals },
		func(ev *service.Event) map[string]any { return ev.CustomMetadata }},
	{"actions.requestedAuthConfigs",
		func(ev *service.Event, vals map[string]any) { ev.Actions.RequestedAuthConfigs = vals },
		func(ev *service.Event) map[string]any { return ev.Actions.RequestedAuthConfigs }},
	{"actions.requestedToolConfirmations",
		func(ev *service.Event, vals map[string]any) { ev.Actions.RequestedToolConfirmations = vals },
		func(ev *service.Event) map[string]any { return ev.Actions.RequestedToolConfirmations }},
	{"output",
		func(ev *service.Event, vals map[string]any) { ev.Output = vals },
		func(ev *service.Event) map[string]any { m, _ := ev.Output.(map[string]any); return m }},
	{"requestedInput.payload",
		func(ev *service.Event, vals map[string]any) {
			ev.RequestedInput = &eventlog.RequestInput{InterruptID: "i", Payload: vals}
		},
		func(ev *service.Event) map[string]any {
			if ev.RequestedInput == nil {
				return nil
			}
			m, _ := ev.RequestedInput.Payload.(map[string]any)
			return m
		}},
	// The maps of JSON values inside the content's parts: each field
	// adds a part of its own.
	{"functionCall.args",
		func(ev *service.Event, vals map[string]any) {
			addPart(ev, &genai.Part{FunctionCall: &genai.FunctionCall{Name: "f", Args: vals}})
		},
		func(ev *service.Event) map[string]any {
			p := findPart(ev, func(p *genai.Part) bool { return p.FunctionCall != nil })
			if p == nil {
				return nil
			}
			return p.FunctionCall.Args
		}},
	{"functionResponse.response",
		func(ev *service.Event, vals map[string]any) {
			addPart(ev, &genai.Part{FunctionResponse: &genai.FunctionResponse{Name: "f", Response: vals}})
		},
		func(ev *service.Event) map[string]any {
			p := findPart(ev, func(p *genai.Part) bool { return p.FunctionResponse != nil })
			if p == nil {
				return nil
			}
			return p.FunctionResponse.Response
		}},
	{"toolCall.args",
		func(ev *service.Event, vals map[string]any) {
			addPart(ev, &genai.Part{ToolCall: &genai.ToolCall{ID: "t", Args: vals}})
		},
		func(ev *service.Event) map[string]any {
			p := findPart(ev, func(p *genai.Part) bool { return p.ToolCall != nil })
			if p == nil {
				return nil
			}
			return p.ToolCall.Args
		}},
	{"toolResponse.response",
		func(ev *service.Event, vals map[string]any) {
			addPart(ev, &genai.Part{ToolResponse: &genai.ToolResponse{ID: "t", Response: vals}})
		},
		func(ev *service.Event) map[string]any {
			p := findPart(ev, func(p *genai.Part) bool { return p.ToolResponse != nil })
			if p == nil {
				return nil
			}
			return p.ToolResponse.Response
		}},
	{"partMetadata",
		func(ev *service.Event, vals map[string]any) {
			addPart(ev, &genai.Part{Text: "with metadata", PartMetadata: vals})
		},
		func(ev *service.Event) map[string]any {
			p := findPart(ev, func(p *genai.Part) bool { return p.PartMetadata != nil })
			if p == nil {
				return nil
			}
			return p.PartMetadata
		}},
}

// addPart appends p to ev's content, which it creates if ev has none.
func addPart(ev *service.Event, p *genai.Part) {
	if ev.Content == nil {
		ev.Content = &genai.Content{Role: genai.RoleModel}
	}
	ev.Content.Parts = append(ev.Content.Parts, p)
}

// findPart is the first part of ev's content that match accepts, or nil.
func findPart(ev *service.Event, match func(*genai.Part) bool) *genai.Part {
	if ev.Content == nil {
		return nil
	}
	for _, p := range ev.Content.Parts {
		if p != nil && match(p) {
			return p
		}
	}
	return nil
}

// valueSession is where the value checks write.
var valueSession = key("values", "u", "s")

// emptySession holds an event whose maps are all empty.
var emptySession = key("values", "u2", "empty")

// emptyMapsEvent is an event with an empty map in each of its map fields:
// a store keeps none of them, as the JSON of the durable stores leaves
// them out, so that every store returns the same event.
func emptyMapsEvent() *service.Event {
	ev := &service.Event{ID: "empty", Author: "agent",
		CustomMetadata: map[string]any{},
		Actions: service.EventActions{StateDelta: map[string]any{}, ArtifactDelta: map[string]int64{},
			RequestedAuthConfigs: map[string]any{}, RequestedToolConfirmations: map[string]any{}}}
	for _, f := range valueFields {
		if isMapField(f.name) {
			f.write(ev, map[string]any{})
		}
	}
	return ev
}

// isMapField reports whether the value field named is a map of the event
// (the others hold one JSON value, which may be an empty object).
func isMapField(name string) bool { return name != "output" && name != "requestedInput.payload" }

// checkEmptyMaps checks that ev, stored from emptyMapsEvent, holds no map.
func checkEmptyMaps(t *testing.T, ev *service.Event, what string) {
	t.Helper()
	require.NotNil(t, ev, what)
	assert.Nil(t, ev.CustomMetadata, "%s: customMetadata", what)
	assert.Nil(t, ev.Actions.StateDelta, "%s: actions.stateDelta", what)
	assert.Nil(t, ev.Actions.ArtifactDelta, "%s: actions.artifactDelta", what)
	assert.Nil(t, ev.Actions.RequestedAuthConfigs, "%s: actions.requestedAuthConfigs", what)
	assert.Nil(t, ev.Actions.RequestedToolConfirmations, "%s: actions.requestedToolConfirmations", what)
	for _, f := range valueFields {
		if isMapField(f.name) {
			assert.Nil(t, f.read(ev), "%s: %s", what, f.name)
		}
	}
}

// writeValues creates valueSession with every case as session, app and
// user state, and appends one event that holds every case in each of its
// JSON-valued fields (in its state delta under "d."-prefixed keys, in
// every scope). It checks what the calls themselves hand back.
func (h *harness) writeValues() {
	t := h.t
	t.Helper()
	cases := valueCases()
	initial, wantState := map[string]any{}, map[string]any{}
	vals, want := map[string]any{}, map[string]any{}
	for _, c := range cases {
		for _, prefix := range []string{"", "app:", "user:"} {
			initial[prefix+c.name] = c.in
			wantState[prefix+c.name] = c.want
		}
		vals[c.name], want[c.name] = c.in, c.want
	}
	sess := h.create(valueSession, initial)
	sameValues(t, wantState, sess.State, "Create's handle")

	ev := &service.Event{ID: "values", Author: "agent"}
	for _, f := range valueFields {
		f.write(ev, vals)
	}
	delta := map[string]any{}
	for _, c := range cases {
		for _, prefix := range []string{"", "app:", "user:"} {
			delta[prefix+"d."+c.name] = c.in
			wantState[prefix+"d."+c.name] = c.want
		}
	}
	delta["temp:kept as given"] = int64(5)
	ev.Actions.StateDelta = delta
	stored := h.appendEvent(sess, ev)
	h.checkEvent(stored, want, "AppendEvent's result")
	checkEmptyMaps(t, h.appendEvent(h.create(emptySession, nil), emptyMapsEvent()), "AppendEvent's result of an event of empty maps")
	wantHandle := maps.Clone(wantState)
	wantHandle["temp:kept as given"] = int64(5) // the handle keeps temp: values as given
	sameValues(t, wantHandle, sess.State, "AppendEvent's handle")
}

// checkValues reads valueSession back in every way the service offers and
// checks that each value is returned as its case wants.
func (h *harness) checkValues() {
	t := h.t
	t.Helper()
	cases := valueCases()
	want, wantState := map[string]any{}, map[string]any{}
	for _, c := range cases {
		want[c.name] = c.want
		for _, prefix := range []string{"", "app:", "user:"} {
			wantState[prefix+c.name] = c.want
			wantState[prefix+"d."+c.name] = c.want
		}
	}
	got := h.get(valueSession)
	sameValues(t, wantState, got.State, "Get's state")
	require.Len(t, got.Events, 1)
	h.checkEvent(got.Events[0], want, "Get's event")

	events := h.events(valueSession, 0)
	require.Len(t, events, 1)
	h.checkEvent(events[0], want, "ListEvents' event")
	empty := h.get(emptySession)
	require.Len(t, empty.Events, 1)
	checkEmptyMaps(t, empty.Events[0], "Get's event of empty maps")

	listed := h.list(valueSession.AppName, valueSession.UserID, 0)
	require.Len(t, listed, 1)
	sameValues(t, wantState, listed[0].State, "List's state")

	other := h.create(key(valueSession.AppName, valueSession.UserID, "other"), nil)
	shared := map[string]any{}
	for k, v := range wantState {
		if strings.HasPrefix(k, eventlog.AppPrefix) || strings.HasPrefix(k, eventlog.UserPrefix) {
			shared[k] = v
		}
	}
	sameValues(t, shared, other.State, "another session's app and user state")
	require.NoError(t, h.svc.Delete(h.ctx, other.Key()))

	var created, appended *service.Record
	for _, rec := range h.export() {
		switch {
		case rec.Key == valueSession && rec.Kind == eventlog.KindSessionCreated:
			created = rec
		case rec.Key == valueSession && rec.Kind == eventlog.KindEventAppended:
			appended = rec
		}
	}
	require.NotNil(t, created, "the creation record")
	require.NotNil(t, appended, "the event record")
	for _, c := range cases {
		assert.Equal(t, c.want, created.State[c.name], "Export's creation record: %s", c.name)
	}
	h.checkEvent(appended.Event, want, "Export's event")

	ctx, cancel := context.WithTimeout(h.ctx, waitLimit)
	defer cancel()
	for rec, err := range h.svc.Subscribe(ctx, valueSession, 0) {
		require.NoError(t, err)
		if rec.Kind == eventlog.KindEventAppended {
			h.checkEvent(rec.Event, want, "Subscribe's event")
			break
		}
	}
	h.verify()
}

// checkEvent checks every JSON-valued field of a stored event.
func (h *harness) checkEvent(ev *service.Event, want map[string]any, what string) {
	t := h.t
	t.Helper()
	require.NotNil(t, ev, what)
	for _, f := range valueFields {
		got := f.read(ev)
		if f.name == "actions.stateDelta" {
			got = map[string]any{}
			for k, v := range ev.Actions.StateDelta {
				if name, ok := strings.CutPrefix(k, "d."); ok {
					got[name] = v
				}
			}
		}
		for _, name := range slices.Sorted(maps.Keys(want)) {
			g, ok := got[name]
			if assert.True(t, ok, "%s: %s[%q] is missing", what, f.name, name) {
				assert.Equal(t, want[name], g, "%s: %s[%q]", what, f.name, name)
			}
		}
	}
	_, hasTemp := ev.Actions.StateDelta["temp:kept as given"]
	assert.False(t, hasTemp, "%s: a temp: key is stored", what)
}

// checkRefused writes each refused value in each place and checks that
// every write fails with ErrInvalidArgument and stores nothing.
func (h *harness) checkRefused() {
	t := h.t
	t.Helper()
	k := key("values", "u", "refused")
	sess := h.create(k, map[string]any{"ok": 1})
	before := h.exportJSON()
	for _, c := range refusedValues() {
		for _, prefix := range []string{"", "app:", "user:"} {
			_, err := h.svc.Create(h.ctx, key("values", "u", "never"), map[string]any{prefix + "v": c.in})
			requireInvalid(t, err, "state", "Create with %s%s", prefix, c.name)
			ev := &service.Event{Actions: service.EventActions{StateDelta: map[string]any{prefix + "v": c.in}}}
			_, err = h.svc.AppendEvent(h.ctx, sess, ev)
			requireInvalid(t, err, "actions.stateDelta", "AppendEvent with %s%s", prefix, c.name)
		}
		for _, f := range valueFields {
			ev := &service.Event{}
			f.write(ev, map[string]any{"v": c.in})
			_, err := h.svc.AppendEvent(h.ctx, sess, ev)
			requireInvalid(t, err, f.name, "AppendEvent with %s in %s", c.name, f.name)
		}
	}
	assert.Equal(t, before, h.exportJSON(), "nothing is stored")
	_, err := h.svc.Get(h.ctx, key("values", "u", "never"), service.GetOptions{})
	require.ErrorIs(t, err, service.ErrNotFound, "no refused creation is stored")
	assert.Equal(t, map[string]any{"ok": 1}, h.get(k).State)
	assert.Equal(t, uint64(0), h.get(k).Version)
	assert.Equal(t, uint64(0), sess.Version, "the handle is unchanged")
	h.verify()
}

// v1 checks CONTRACT V1 on one store: values are written and read back
// in the same process.
func (s suite) v1(t *testing.T) {
	t.Run("every kind of value comes back as a JSON value, wherever it is read", func(t *testing.T) {
		t.Parallel()
		h := s.open(t)
		h.writeValues()
		h.checkValues()
	})
	t.Run("times are read back in UTC without a monotonic clock reading, as JSON holds them", func(t *testing.T) {
		t.Parallel()
		h := s.open(t, realTimeAndIDs)
		k := key("times", "u", "s")
		sess := h.create(k, nil)
		elsewhere := time.Now().In(time.FixedZone("UTC+3", 3*3600)) // with a monotonic reading
		given := h.appendEvent(sess, &service.Event{Author: "agent", Timestamp: elsewhere})
		stamped := h.appendEvent(sess, &service.Event{Author: "agent"})
		got := h.get(k)
		require.Len(t, got.Events, 2)
		for what, ts := range map[string]time.Time{
			"a given timestamp":            given.Timestamp,
			"a timestamp the service gave": stamped.Timestamp,
			"the handle's last update":     sess.LastUpdateTime,
			"Get's first event":            got.Events[0].Timestamp,
			"Get's second event":           got.Events[1].Timestamp,
			"Get's last update":            got.LastUpdateTime,
		} {
			assert.Same(t, time.UTC, ts.Location(), what)
			assert.True(t, ts == ts.Round(0), "%s: %s has a monotonic clock reading", what, ts)
		}
		assert.True(t, got.Events[0].Timestamp.Equal(elsewhere), "the instant is kept")
	})
	t.Run("genai durations come back in whole seconds, as genai's JSON holds them", func(t *testing.T) {
		t.Parallel()
		h := s.open(t)
		k := key("durations", "u", "s")
		sess := h.create(k, nil)
		start, end := 1500*time.Millisecond, 2200*time.Millisecond
		ev := &service.Event{Author: "agent",
			InputTranscription: &genai.Transcription{Text: "hi", StartOffset: start, EndOffset: end},
			Content: &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{
				{FileData: &genai.FileData{FileURI: "gs://b/v.mp4", MIMEType: "video/mp4"}, VideoMetadata: &genai.VideoMetadata{StartOffset: start, EndOffset: end}},
				{AudioTranscription: &genai.Transcription{Text: "ho", StartOffset: start, EndOffset: end}},
			}}}
		stored := h.appendEvent(sess, ev)
		got := h.get(k)
		require.Len(t, got.Events, 1)
		for what, e := range map[string]*service.Event{"the appended event": stored, "Get's event": got.Events[0]} {
			require.NotNil(t, e.InputTranscription, what)
			assert.Equal(t, [2]time.Duration{2 * time.Second, 2 * time.Second}, [2]time.Duration{e.InputTranscription.StartOffset, e.InputTranscription.EndOffset}, "%s: inputTranscription", what)
			require.Len(t, e.Content.Parts, 2, what)
			v := e.Content.Parts[0].VideoMetadata
			require.NotNil(t, v, what)
			assert.Equal(t, [2]time.Duration{2 * time.Second, 2 * time.Second}, [2]time.Duration{v.StartOffset, v.EndOffset}, "%s: videoMetadata", what)
			a := e.Content.Parts[1].AudioTranscription
			require.NotNil(t, a, what)
			assert.Equal(t, [2]time.Duration{2 * time.Second, 2 * time.Second}, [2]time.Duration{a.StartOffset, a.EndOffset}, "%s: audioTranscription", what)
		}
		assert.Equal(t, [2]time.Duration{1500 * time.Millisecond, 2200 * time.Millisecond},
			[2]time.Duration{ev.InputTranscription.StartOffset, ev.Content.Parts[0].VideoMetadata.EndOffset}, "the caller's event is unchanged")
		h.verify()
	})
	t.Run("values JSON cannot hold and integers beyond int64 are refused, with nothing stored", func(t *testing.T) {
		t.Parallel()
		s.open(t).checkRefused()
	})
	t.Run("values imported from an export come back the same", func(t *testing.T) {
		t.Parallel()
		h := s.open(t)
		h.writeValues()
		into := h.fresh()
		require.NoError(t, into.svc.Import(into.ctx, func(yield func(*service.Record, error) bool) {
			for _, rec := range h.export() {
				if !yield(rec, nil) {
					return
				}
			}
		}))
		into.checkValues()
	})
	t.Run("values decoded from the log's JSON come back the same", func(t *testing.T) {
		t.Parallel()
		h := s.open(t)
		h.writeValues()
		into := h.fresh()
		require.NoError(t, into.svc.Import(into.ctx, func(yield func(*service.Record, error) bool) {
			for _, line := range h.exportJSON() {
				rec := new(service.Record)
				if err := json.Unmarshal([]byte(line), rec); !yield(rec, err) {
					return
				}
			}
		}))
		into.checkValues()
	})
}

// values checks CONTRACT V1 across replicas: what one replica writes,
// another reads back as the same JSON values.
func (r replicas) values(t *testing.T) {
	rs, _ := r.open(t, 2)
	rs[0].writeValues()
	rs[1].checkValues()
}

// RunRestart checks what a durable store promises across a restart:
// everything written before it is read back after it exactly as it was
// (CONTRACT V1), and random keys stay exact and isolated (CONTRACT K1, K2).
// Each call of newLog makes a new, empty log (a directory, a database) and
// returns a function that opens a store over it; a subtest calls newLog
// once, or twice to import into a second log. RunRestart never has two
// stores of one log open at once, and closes each.
func RunRestart(t *testing.T, newLog func(t *testing.T) (open func() eventlog.Store)) {
	t.Run("V1 values come back the same after a restart", func(t *testing.T) {
		openStore := newLog(t)
		s := suite{newStore: func(*testing.T) eventlog.Store { return openStore() }}
		before := s.open(t)
		before.writeValues()
		before.close()
		after := s.open(t)
		after.checkValues()
	})
	t.Run("K1 K2 V1 random keys and values come back exact and isolated after a restart and an import", func(t *testing.T) {
		// CONTRACT K1 K2 V1
		openStore := newLog(t)
		s := suite{newStore: func(*testing.T) eventlog.Store { return openStore() }}
		before := s.open(t)
		m := before.writeProperty()
		before.close()
		after := s.open(t)
		after.checkProperty(m)
		after.checkRefusedKeys(m)
		openOther := newLog(t)
		other := suite{newStore: func(*testing.T) eventlog.Store { return openOther() }}
		into := other.open(t)
		after.importJSON(into, m)
		into.close()
		reopened := other.open(t)
		reopened.checkProperty(m)
	})
	t.Run("V1 refused values leave nothing behind after a restart", func(t *testing.T) {
		openStore := newLog(t)
		s := suite{newStore: func(*testing.T) eventlog.Store { return openStore() }}
		before := s.open(t)
		before.checkRefused()
		want := before.exportJSON()
		before.close()
		after := s.open(t)
		assert.Equal(t, want, after.exportJSON())
		after.verify()
	})
}

// sameValues checks that got holds exactly want's keys, each with want's
// value and Go type, and names each key that differs.
func sameValues(t *testing.T, want, got map[string]any, what string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		if assert.True(t, ok, "%s: %q is missing", what, k) {
			assert.Equal(t, want[k], g, "%s: %q", what, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		_, ok := want[k]
		assert.True(t, ok, "%s: %q is not expected", what, k)
	}
}
