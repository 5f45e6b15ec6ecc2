package adkgo

import (
	"encoding/json"
	"maps"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/adk/v2/model"
	"google.golang.org/adk/v2/session"
	"google.golang.org/adk/v2/tool/toolconfirmation"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// fieldCases sets one field of an ADK event each, to a value that survives
// a JSON round trip (numbers in JSON-like values are float64). Case names
// are "Type.Field"; TestEveryADKFieldHasACase checks that every field of
// the ADK's event types has one.
func fieldCases() []struct {
	name string
	set  func(*session.Event)
} {
	f32 := float32(-1.5)
	type c = struct {
		name string
		set  func(*session.Event)
	}
	return []c{
		{"Event.ID", func(e *session.Event) { e.ID = "evt-1" }},
		{"Event.Timestamp", func(e *session.Event) { e.Timestamp = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC) }},
		{"Event.InvocationID", func(e *session.Event) { e.InvocationID = "inv-1" }},
		{"Event.Branch", func(e *session.Event) { e.Branch = "root.weather" }},
		{"Event.IsolationScope", func(e *session.Event) { e.IsolationScope = "scope-a" }},
		{"Event.Author", func(e *session.Event) { e.Author = "weather_agent" }},
		{"Event.Actions", func(e *session.Event) { e.Actions = session.EventActions{Escalate: true} }},
		{"Event.LongRunningToolIDs", func(e *session.Event) { e.LongRunningToolIDs = []string{"call-1", "call-2"} }},
		{"Event.Routes", func(e *session.Event) { e.Routes = []string{"approve", "notify"} }},
		{"Event.RequestedInput", func(e *session.Event) { e.RequestedInput = &session.RequestInput{InterruptID: "ask-1"} }},
		{"Event.Output", func(e *session.Event) {
			e.Output = map[string]any{"forecast": "sun", "temps": []any{21.5, 19.25}}
		}},
		{"Event.NodeInfo", func(e *session.Event) { e.NodeInfo = &session.NodeInfo{Path: "plan/weather@1"} }},

		{"LLMResponse.Content", func(e *session.Event) {
			e.Content = &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{
				{Text: "Sunny."},
				{FunctionCall: &genai.FunctionCall{ID: "call-1", Name: "get_weather", Args: map[string]any{"city": "Oslo"}}},
				{InlineData: &genai.Blob{MIMEType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}}},
			}}
		}},
		{"LLMResponse.CitationMetadata", func(e *session.Event) {
			e.CitationMetadata = &genai.CitationMetadata{Citations: []*genai.Citation{{Title: "t", URI: "https://example.com", StartIndex: 1, EndIndex: 4}}}
		}},
		{"LLMResponse.GroundingMetadata", func(e *session.Event) {
			e.GroundingMetadata = &genai.GroundingMetadata{WebSearchQueries: []string{"oslo weather"}}
		}},
		{"LLMResponse.UsageMetadata", func(e *session.Event) {
			e.UsageMetadata = &genai.GenerateContentResponseUsageMetadata{PromptTokenCount: 3, CandidatesTokenCount: 4, TotalTokenCount: 7}
		}},
		{"LLMResponse.CustomMetadata", func(e *session.Event) {
			e.CustomMetadata = map[string]any{"trace": "abc", "n": 2.5}
		}},
		{"LLMResponse.LogprobsResult", func(e *session.Event) {
			e.LogprobsResult = &genai.LogprobsResult{
				ChosenCandidates:  []*genai.LogprobsResultCandidate{{Token: "Sun", TokenID: 7, LogProbability: -0.5}},
				LogProbabilitySum: &f32,
			}
		}},
		{"LLMResponse.InputTranscription", func(e *session.Event) {
			e.InputTranscription = &genai.Transcription{Text: "weather in oslo", Finished: true, StartOffset: time.Second}
		}},
		{"LLMResponse.OutputTranscription", func(e *session.Event) {
			e.OutputTranscription = &genai.Transcription{Text: "sunny", LanguageCode: "en"}
		}},
		{"LLMResponse.ModelVersion", func(e *session.Event) { e.ModelVersion = "gemini-2.5-flash-001" }},
		{"LLMResponse.Partial", func(e *session.Event) { e.Partial = true }},
		{"LLMResponse.TurnComplete", func(e *session.Event) { e.TurnComplete = true }},
		{"LLMResponse.Interrupted", func(e *session.Event) { e.Interrupted = true }},
		{"LLMResponse.SessionResumptionHandle", func(e *session.Event) { e.SessionResumptionHandle = "resume-1" }},
		{"LLMResponse.ErrorCode", func(e *session.Event) { e.ErrorCode = "RESOURCE_EXHAUSTED" }},
		{"LLMResponse.ErrorMessage", func(e *session.Event) { e.ErrorMessage = "quota exceeded" }},
		{"LLMResponse.FinishReason", func(e *session.Event) { e.FinishReason = genai.FinishReasonMaxTokens }},
		{"LLMResponse.AvgLogprobs", func(e *session.Event) { e.AvgLogprobs = -0.25 }},

		{"EventActions.StateDelta", func(e *session.Event) {
			e.Actions.StateDelta = map[string]any{"city": "Oslo", "user:units": "metric", "app:n": 2.5, "nested": map[string]any{"a": []any{"b"}}}
		}},
		{"EventActions.ArtifactDelta", func(e *session.Event) { e.Actions.ArtifactDelta = map[string]int64{"report.pdf": 3} }},
		{"EventActions.RequestedToolConfirmations", func(e *session.Event) {
			e.Actions.RequestedToolConfirmations = map[string]toolconfirmation.ToolConfirmation{
				"call-1": {Hint: "Book it?", Confirmed: true, Payload: map[string]any{"price": 120.0}},
				"call-2": {},
			}
		}},
		{"EventActions.SkipSummarization", func(e *session.Event) { e.Actions.SkipSummarization = true }},
		{"EventActions.TransferToAgent", func(e *session.Event) { e.Actions.TransferToAgent = "billing" }},
		{"EventActions.Escalate", func(e *session.Event) { e.Actions.Escalate = true }},

		{"ToolConfirmation.Hint", func(e *session.Event) {
			e.Actions.RequestedToolConfirmations = map[string]toolconfirmation.ToolConfirmation{"c": {Hint: "sure?"}}
		}},
		{"ToolConfirmation.Confirmed", func(e *session.Event) {
			e.Actions.RequestedToolConfirmations = map[string]toolconfirmation.ToolConfirmation{"c": {Confirmed: true}}
		}},
		{"ToolConfirmation.Payload", func(e *session.Event) {
			e.Actions.RequestedToolConfirmations = map[string]toolconfirmation.ToolConfirmation{"c": {Payload: []any{"x", 1.5}}}
		}},

		{"RequestInput.InterruptID", func(e *session.Event) { e.RequestedInput = &session.RequestInput{InterruptID: "ask-2"} }},
		{"RequestInput.Message", func(e *session.Event) { e.RequestedInput = &session.RequestInput{Message: "Approve?"} }},
		{"RequestInput.ResponseSchema", func(e *session.Event) {
			e.RequestedInput = &session.RequestInput{ResponseSchema: &jsonschema.Schema{
				Type:       "object",
				Properties: map[string]*jsonschema.Schema{"ok": {Type: "boolean", Description: "approved"}},
				Required:   []string{"ok"},
			}}
		}},
		{"RequestInput.Payload", func(e *session.Event) {
			e.RequestedInput = &session.RequestInput{Payload: map[string]any{"trip": "Oslo"}}
		}},

		{"NodeInfo.Path", func(e *session.Event) { e.NodeInfo = &session.NodeInfo{Path: "a/b@2"} }},
		{"NodeInfo.MessageAsOutput", func(e *session.Event) { e.NodeInfo = &session.NodeInfo{MessageAsOutput: true} }},
		{"NodeInfo.OutputFor", func(e *session.Event) { e.NodeInfo = &session.NodeInfo{OutputFor: []string{"a/b@2", "a"}} }},
	}
}

// fullEvent is an ADK event with every field set, from fieldCases.
func fullEvent() *session.Event {
	ev := &session.Event{}
	for _, fc := range fieldCases() {
		if fc.name != "LLMResponse.Partial" { // a partial event is never stored
			fc.set(ev)
		}
	}
	ev.RequestedInput = &session.RequestInput{
		InterruptID: "ask-1", Message: "Approve?", Payload: map[string]any{"trip": "Oslo"},
		ResponseSchema: &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"ok": {Type: "boolean"}}},
	}
	ev.NodeInfo = &session.NodeInfo{Path: "plan/weather@1", MessageAsOutput: true, OutputFor: []string{"plan/weather@1"}}
	return ev
}

func TestEveryADKFieldHasACase(t *testing.T) {
	cases := map[string]bool{}
	for _, fc := range fieldCases() {
		cases[fc.name] = true
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[session.Event](), reflect.TypeFor[model.LLMResponse](),
		reflect.TypeFor[session.EventActions](), reflect.TypeFor[toolconfirmation.ToolConfirmation](),
		reflect.TypeFor[session.RequestInput](), reflect.TypeFor[session.NodeInfo](),
	} {
		t.Run("every field of "+typ.Name()+" has a round-trip case", func(t *testing.T) {
			for i := range typ.NumField() {
				f := typ.Field(i)
				if f.Anonymous {
					continue // LLMResponse, whose fields are listed on their own
				}
				assert.True(t, cases[typ.Name()+"."+f.Name],
					"%s.%s has no case in fieldCases: teach FromADK and ToADK the field", typ.Name(), f.Name)
			}
		})
	}
}

// roundTrip converts ev to sessionlog's model and back.
func roundTrip(t *testing.T, ev *session.Event) *session.Event {
	t.Helper()
	stored, err := FromADK(ev)
	require.NoError(t, err)
	back, err := ToADK(stored)
	require.NoError(t, err)
	return back
}

// viaEventlogJSON encodes v, decodes the bytes as an eventlog.Event and
// converts that to the ADK's model: what a durable store does between an
// append and a read.
func viaEventlogJSON(t *testing.T, v any) *session.Event {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var decoded eventlog.Event
	require.NoError(t, json.Unmarshal(b, &decoded))
	back, err := ToADK(&decoded)
	require.NoError(t, err)
	return back
}

func TestEventRoundTrip(t *testing.T) {
	for _, fc := range fieldCases() {
		t.Run(fc.name+" survives FromADK and ToADK", func(t *testing.T) {
			ev := &session.Event{}
			fc.set(ev)
			require.NotEqual(t, &session.Event{}, ev, "the case sets nothing")
			assert.Equal(t, ev, roundTrip(t, ev))
		})

		t.Run(fc.name+" survives eventlog's JSON form too", func(t *testing.T) {
			ev := &session.Event{}
			fc.set(ev)
			stored, err := FromADK(ev)
			require.NoError(t, err)
			assert.Equal(t, ev, viaEventlogJSON(t, stored))
		})
	}

	t.Run("nil and empty maps and slices stay apart", func(t *testing.T) {
		ev := &session.Event{
			LongRunningToolIDs: []string{},
			Actions: session.EventActions{
				StateDelta:                 map[string]any{},
				RequestedToolConfirmations: map[string]toolconfirmation.ToolConfirmation{},
			},
		}
		back := roundTrip(t, ev)
		assert.Equal(t, ev, back)
		assert.NotNil(t, back.Actions.StateDelta)
		assert.Nil(t, back.Actions.ArtifactDelta)
	})
}

// The JSON the Go ADK writes for an event and the JSON eventlog writes are
// the same wire shape: each side decodes the other's to the same event.
//
// The numbers in fullEvent's JSON values are not integral: the ADK
// writes JSON with encoding/json, which writes an integral float64 without
// a fraction, and eventlog reads such a number as an int (CONTRACT V1);
// the ADK reads every number as a float64. An integral number of either
// type would come back as the other type on one side.
func TestEventJSONMatchesTheADKs(t *testing.T) {
	ev := fullEvent()

	t.Run("eventlog reads the ADK's JSON as FromADK converts the event", func(t *testing.T) {
		assert.Equal(t, ev, viaEventlogJSON(t, ev))
	})

	t.Run("the ADK reads eventlog's JSON as ToADK converts the event", func(t *testing.T) {
		stored, err := FromADK(ev)
		require.NoError(t, err)
		b, err := json.Marshal(stored)
		require.NoError(t, err)
		var decoded session.Event
		require.NoError(t, json.Unmarshal(b, &decoded))
		assert.Equal(t, ev, &decoded)
	})
}

// CONTRACT A1 B1: conversions refuse what they cannot carry, with
// ErrInvalidArgument naming the field.
func TestConversionErrors(t *testing.T) {
	cases := []struct {
		name  string
		run   func() error
		field string
	}{
		{"FromADK of a nil event is refused", func() error { _, err := FromADK(nil); return err }, "event is nil"},
		{"ToADK of a nil event is refused", func() error { _, err := ToADK(nil); return err }, "event is nil"},
		{"a response schema that cannot be encoded is refused", func() error {
			var unencodable any = func() {}
			_, err := FromADK(&session.Event{RequestedInput: &session.RequestInput{ResponseSchema: &jsonschema.Schema{Const: &unencodable}}})
			return err
		}, "requestedInput.responseSchema"},
		{"a stored response schema that is not a JSON Schema is refused", func() error {
			_, err := ToADK(&eventlog.Event{RequestedInput: &eventlog.RequestInput{ResponseSchema: json.RawMessage(`{"type":7}`)}})
			return err
		}, "requestedInput.responseSchema"},
		{"a stored tool confirmation with a hint that is not a string is refused", func() error {
			_, err := ToADK(&eventlog.Event{Actions: eventlog.EventActions{RequestedToolConfirmations: map[string]any{"c": map[string]any{"hint": 3.0}}}})
			return err
		}, `requestedToolConfirmations["c"]`},
		{"a stored tool confirmation with confirmed that is not a boolean is refused", func() error {
			_, err := ToADK(&eventlog.Event{Actions: eventlog.EventActions{RequestedToolConfirmations: map[string]any{"c": map[string]any{"confirmed": "yes"}}}})
			return err
		}, `requestedToolConfirmations["c"]`},
		{"a stored tool confirmation that is not an object is refused", func() error {
			_, err := ToADK(&eventlog.Event{Actions: eventlog.EventActions{RequestedToolConfirmations: map[string]any{"c": "yes"}}})
			return err
		}, `requestedToolConfirmations["c"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			assert.Contains(t, err.Error(), tc.field)
		})
	}

	t.Run("a tool confirmation stored as a Go value is read through its JSON form", func(t *testing.T) {
		got, err := ToADK(&eventlog.Event{Actions: eventlog.EventActions{RequestedToolConfirmations: map[string]any{
			"c": toolconfirmation.ToolConfirmation{Hint: "ok?", Confirmed: true},
		}}})
		require.NoError(t, err)
		assert.Equal(t, toolconfirmation.ToolConfirmation{Hint: "ok?", Confirmed: true}, got.Actions.RequestedToolConfirmations["c"])
	})

	t.Run("nil content parts are left out of ToADK and the stored event keeps them", func(t *testing.T) {
		stored := &eventlog.Event{Content: &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{nil, {Text: "a"}, nil, {Text: "b"}}}}
		got, err := ToADK(stored)
		require.NoError(t, err)
		assert.Equal(t, &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{{Text: "a"}, {Text: "b"}}}, got.Content)
		assert.Len(t, stored.Content.Parts, 4)
		assert.Nil(t, stored.Content.Parts[0])

		whole := &eventlog.Event{Content: genai.NewContentFromText("c", genai.RoleUser)}
		got, err = ToADK(whole)
		require.NoError(t, err)
		assert.Same(t, whole.Content, got.Content, "content without nil parts is the same pointer, not a copy")
	})

	cases2 := []struct {
		name string
		meta map[string]any
		key  string
	}{
		{"a rewind under its key that is not a string is refused", map[string]any{MetadataKeyRewindBeforeInvocationID: 7}, MetadataKeyRewindBeforeInvocationID},
		{"an empty rewind invocation ID is refused", map[string]any{MetadataKeyRewindBeforeInvocationID: ""}, MetadataKeyRewindBeforeInvocationID},
		{"end of agent false is refused (the key is absent for false)", map[string]any{MetadataKeyEndOfAgent: false}, MetadataKeyEndOfAgent},
		{"end of agent as a string is refused", map[string]any{MetadataKeyEndOfAgent: "true"}, MetadataKeyEndOfAgent},
		{"auth configs that are not a map are refused", map[string]any{MetadataKeyRequestedAuthConfigs: []any{}}, MetadataKeyRequestedAuthConfigs},
		{"nil auth configs are refused", map[string]any{MetadataKeyRequestedAuthConfigs: map[string]any(nil)}, MetadataKeyRequestedAuthConfigs},
	}
	for _, tc := range cases2 {
		t.Run(tc.name, func(t *testing.T) {
			meta := maps.Clone(tc.meta)
			_, err := FromADK(&session.Event{LLMResponse: model.LLMResponse{CustomMetadata: meta}})
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			assert.Contains(t, err.Error(), "customMetadata["+strconv.Quote(tc.key)+"]")
			assert.Equal(t, tc.meta, meta, "the caller's metadata is not changed")
		})
	}
}

// storedCases set one field each of a stored event that the Go ADK's event
// has no field for: ToADK carries them in CustomMetadata.
func storedCases() []struct {
	name string
	set  func(*eventlog.Event)
	key  string
	want any
} {
	auth := map[string]any{"call-1": map[string]any{"authScheme": map[string]any{"type": "oauth2"}}}
	return []struct {
		name string
		set  func(*eventlog.Event)
		key  string
		want any
	}{
		{"EventActions.RewindBeforeInvocationID", func(e *eventlog.Event) { e.Actions.RewindBeforeInvocationID = "inv-7" }, MetadataKeyRewindBeforeInvocationID, "inv-7"},
		{"EventActions.EndOfAgent", func(e *eventlog.Event) { e.Actions.EndOfAgent = true }, MetadataKeyEndOfAgent, true},
		{"EventActions.RequestedAuthConfigs", func(e *eventlog.Event) { e.Actions.RequestedAuthConfigs = auth }, MetadataKeyRequestedAuthConfigs, auth},
	}
}

// fullStored is a stored event with every field set: fullEvent converted,
// plus the actions only the log has a field for.
func fullStored(t *testing.T) *eventlog.Event {
	t.Helper()
	e, err := FromADK(fullEvent())
	require.NoError(t, err)
	for _, sc := range storedCases() {
		sc.set(e)
	}
	e.Partial = true // fullEvent leaves it out because it is never stored; it converts all the same
	return e
}

// Every field of the stored event survives ToADK and FromADK; the test
// fails when eventlog.Event gains a field that fullStored does not set.
// CONTRACT T2: the rewind field reaches the ADK's side and comes back.
func TestStoredEventRoundTrip(t *testing.T) {
	t.Run("every field of eventlog.Event and its actions is set in the full event", func(t *testing.T) {
		e := fullStored(t)
		for _, v := range []reflect.Value{reflect.ValueOf(*e), reflect.ValueOf(e.Actions)} {
			for i := range v.NumField() {
				assert.False(t, v.Field(i).IsZero(), "%s.%s is not set: give it a place in ToADK and FromADK", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	})

	t.Run("the full stored event survives ToADK and FromADK", func(t *testing.T) {
		e := fullStored(t)
		adk, err := ToADK(e)
		require.NoError(t, err)
		back, err := FromADK(adk)
		require.NoError(t, err)
		assert.Equal(t, e, back)
	})

	for _, sc := range storedCases() {
		t.Run(sc.name+" travels in CustomMetadata under its key and comes back", func(t *testing.T) {
			for _, own := range []map[string]any{nil, {"trace": "abc"}} {
				e := &eventlog.Event{ID: "e", CustomMetadata: maps.Clone(own)}
				sc.set(e)
				adk, err := ToADK(e)
				require.NoError(t, err)
				want := maps.Clone(own)
				if want == nil {
					want = map[string]any{}
				}
				want[sc.key] = sc.want
				assert.Equal(t, want, adk.CustomMetadata)
				assert.Equal(t, own, e.CustomMetadata, "the stored event's metadata is not changed")

				back, err := FromADK(adk)
				require.NoError(t, err)
				assert.Equal(t, e, back, "FromADK moves the value back into the action and leaves no key behind")
				assert.Equal(t, want, adk.CustomMetadata, "FromADK does not change the ADK event's metadata")
			}
		})

		t.Run(sc.name+" survives the ADK's JSON and eventlog's", func(t *testing.T) {
			e := &eventlog.Event{ID: "e"}
			sc.set(e)
			adk, err := ToADK(e)
			require.NoError(t, err)
			b, err := json.Marshal(adk)
			require.NoError(t, err)
			var decoded session.Event
			require.NoError(t, json.Unmarshal(b, &decoded))
			back, err := FromADK(&decoded)
			require.NoError(t, err)
			assert.Equal(t, e, back)
		})
	}

	t.Run("an ADK event carrying the keys converts to the actions and back to itself", func(t *testing.T) {
		ev := &session.Event{ID: "e", LLMResponse: model.LLMResponse{CustomMetadata: map[string]any{
			MetadataKeyRewindBeforeInvocationID: "inv-2", MetadataKeyEndOfAgent: true, "trace": "abc",
		}}}
		stored, err := FromADK(ev)
		require.NoError(t, err)
		assert.Equal(t, "inv-2", stored.Actions.RewindBeforeInvocationID)
		assert.True(t, stored.Actions.EndOfAgent)
		assert.Equal(t, map[string]any{"trace": "abc"}, stored.CustomMetadata)
		assert.Equal(t, ev, roundTrip(t, ev))

		only := &session.Event{LLMResponse: model.LLMResponse{CustomMetadata: map[string]any{MetadataKeyEndOfAgent: true}}}
		stored, err = FromADK(only)
		require.NoError(t, err)
		assert.Nil(t, stored.CustomMetadata, "metadata that held only carried keys is stored as none")
		assert.Equal(t, only, roundTrip(t, only))
	})

	// The keys are reserved: in an ADK event from ToADK, each one is
	// present exactly when its action is set, whatever the stored
	// metadata (written through the service, not FromADK) holds.
	t.Run("a stored metadata entry under a reserved key gives way to the action", func(t *testing.T) {
		e := &eventlog.Event{
			CustomMetadata: map[string]any{MetadataKeyRewindBeforeInvocationID: "theirs", "trace": "abc"},
			Actions:        eventlog.EventActions{RewindBeforeInvocationID: "inv-1"},
		}
		adk, err := ToADK(e)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{MetadataKeyRewindBeforeInvocationID: "inv-1", "trace": "abc"}, adk.CustomMetadata)
		assert.Equal(t, "theirs", e.CustomMetadata[MetadataKeyRewindBeforeInvocationID], "the stored event is not changed")
	})

	t.Run("a stored metadata entry under a reserved key is left out when the action is not set", func(t *testing.T) {
		adk, err := ToADK(&eventlog.Event{CustomMetadata: map[string]any{MetadataKeyEndOfAgent: "user data", "trace": "abc"}})
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"trace": "abc"}, adk.CustomMetadata)

		adk, err = ToADK(&eventlog.Event{CustomMetadata: map[string]any{MetadataKeyRequestedAuthConfigs: 1}})
		require.NoError(t, err)
		assert.Nil(t, adk.CustomMetadata)
	})

	t.Run("metadata without carried actions or keys is the stored map itself", func(t *testing.T) {
		meta := map[string]any{"trace": "abc"}
		adk, err := ToADK(&eventlog.Event{CustomMetadata: meta})
		require.NoError(t, err)
		assert.Equal(t, reflect.ValueOf(meta).Pointer(), reflect.ValueOf(adk.CustomMetadata).Pointer())
	})
}

// carriesAny is the fast test withCarried makes before it walks the table:
// it holds exactly when one of the table's actions is set.
func TestCarriesAnyAgreesWithTheTable(t *testing.T) {
	assert.False(t, carriesAny(&eventlog.EventActions{StateDelta: map[string]any{"k": 1}, Escalate: true}))
	require.Len(t, storedCases(), len(carriedActions), "every carried action has a stored case")
	for _, sc := range storedCases() {
		t.Run(sc.name, func(t *testing.T) {
			e := &eventlog.Event{}
			sc.set(e)
			assert.True(t, carriesAny(&e.Actions))
			for _, c := range carriedActions {
				assert.Equal(t, c.key == sc.key, c.has(&e.Actions), c.key)
			}
		})
	}
}
