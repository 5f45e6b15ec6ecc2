package eventlog

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"
)

// evFixture builds an event with every field set. Numbers inside
// map[string]any are float64 and no slice or map is empty, so the event
// survives a JSON round trip unchanged. Each call builds fresh memory.
func evFixture() *Event {
	willContinue := true
	logSum := float32(-1.5)
	return &Event{
		ID:           "evt-1",
		InvocationID: "inv-1",
		Author:       "weather_agent",
		Branch:       "root.weather_agent",
		Timestamp:    time.Date(2023, 11, 14, 22, 13, 20, 123456789, time.UTC),
		Content: &genai.Content{
			Role: "model",
			Parts: []*genai.Part{
				{Text: "Let me look that up."},
				{Text: "thinking...", Thought: true, ThoughtSignature: []byte{1, 2, 3}},
				{FunctionCall: &genai.FunctionCall{
					ID:   "call-1",
					Name: "get_weather",
					Args: map[string]any{
						"city":  "Paris",
						"days":  3.0,
						"units": map[string]any{"temp": "C", "wind": []any{"km/h", 1.5}},
					},
					WillContinue: &willContinue,
				}},
				{FunctionResponse: &genai.FunctionResponse{
					ID:       "call-1",
					Name:     "get_weather",
					Response: map[string]any{"forecast": []any{"sun", "rain", nil}, "ok": true},
				}},
				{InlineData: &genai.Blob{MIMEType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}, DisplayName: "chart"}},
				{FileData: &genai.FileData{MIMEType: "application/pdf", FileURI: "gs://bucket/report.pdf"}},
				{ExecutableCode: &genai.ExecutableCode{Code: "print(1)", Language: genai.LanguagePython}},
				{CodeExecutionResult: &genai.CodeExecutionResult{Outcome: genai.OutcomeOK, Output: "1\n"}},
			},
		},
		Partial:      true,
		TurnComplete: true,
		Interrupted:  true,
		ErrorCode:    "RESOURCE_EXHAUSTED",
		ErrorMessage: "quota exceeded",
		UsageMetadata: &genai.GenerateContentResponseUsageMetadata{
			PromptTokenCount:     10,
			CandidatesTokenCount: 20,
			TotalTokenCount:      30,
			ThoughtsTokenCount:   5,
			PromptTokensDetails: []*genai.ModalityTokenCount{
				{Modality: genai.MediaModalityText, TokenCount: 8},
				{Modality: genai.MediaModalityImage, TokenCount: 2},
			},
			TrafficType: genai.TrafficTypeOnDemand,
		},
		GroundingMetadata: &genai.GroundingMetadata{
			WebSearchQueries: []string{"paris weather"},
			GroundingChunks: []*genai.GroundingChunk{
				{Web: &genai.GroundingChunkWeb{URI: "https://example.com/w", Title: "Weather", Domain: "example.com"}},
			},
			GroundingSupports: []*genai.GroundingSupport{{
				ConfidenceScores:      []float32{0.5, 0.25},
				GroundingChunkIndices: []int32{0},
				Segment:               &genai.Segment{StartIndex: 0, EndIndex: 7, Text: "Sunny"},
			}},
			SearchEntryPoint: &genai.SearchEntryPoint{RenderedContent: "<div/>", SDKBlob: []byte("blob")},
		},
		CitationMetadata: &genai.CitationMetadata{Citations: []*genai.Citation{
			{StartIndex: 1, EndIndex: 9, Title: "Paris", URI: "https://example.com/p", License: "cc-by"},
		}},
		LogprobsResult: &genai.LogprobsResult{
			ChosenCandidates: []*genai.LogprobsResultCandidate{{Token: "Let", TokenID: 7, LogProbability: -0.5}},
			TopCandidates: []*genai.LogprobsResultTopCandidates{{Candidates: []*genai.LogprobsResultCandidate{
				{Token: "Let", TokenID: 7, LogProbability: -0.5}, {Token: "I", TokenID: 3, LogProbability: -1.25},
			}}},
			LogProbabilitySum: &logSum,
		},
		AvgLogprobs:  -0.75,
		FinishReason: genai.FinishReasonStop,
		ModelVersion: "gemini-2.5-flash-001",
		InputTranscription: &genai.Transcription{Text: "weather in paris", Finished: true, LanguageCode: "en",
			Words: []*genai.WordInfo{{Word: "weather", StartOffset: "0s", EndOffset: "1s"}}, StartOffset: time.Second},
		OutputTranscription:     &genai.Transcription{Text: "let me look", SpeakerLabel: "model", EndOffset: 2 * time.Second},
		SessionResumptionHandle: "resume-1",
		CustomMetadata:          map[string]any{"trace": "abc", "nested": map[string]any{"n": 1.0, "tags": []any{"a", "b"}}},
		LongRunningToolIDs:      []string{"call-1", "call-2"},
		IsolationScope:          "scope-a",
		Routes:                  []string{"approve", "notify"},
		RequestedInput: &RequestInput{
			InterruptID:    "ask-1",
			Message:        "Approve the trip?",
			ResponseSchema: []byte(`{"type":"object","properties":{"ok":{"type":"boolean"}}}`),
			Payload:        map[string]any{"trip": "Paris", "days": []any{1.0, 2.0}},
		},
		Output:   map[string]any{"forecast": "sun", "temps": []any{21.5, 19.0}},
		NodeInfo: &NodeInfo{Path: "plan/weather@1", MessageAsOutput: true, OutputFor: []string{"plan/weather@1", "plan"}},
		Actions: EventActions{
			StateDelta: map[string]any{
				"counter":   2.0,
				"user:name": "Ada",
				"profile":   map[string]any{"langs": []any{"go", "py"}, "age": 36.0},
				"cleared":   nil,
			},
			ArtifactDelta:              map[string]int64{"report.pdf": 3},
			TransferToAgent:            "billing_agent",
			Escalate:                   true,
			SkipSummarization:          true,
			RequestedAuthConfigs:       map[string]any{"call-1": map[string]any{"authScheme": "oauth2"}},
			RequestedToolConfirmations: map[string]any{"call-2": map[string]any{"hint": "confirm?", "confirmed": false}},
			EndOfAgent:                 true,
			RewindBeforeInvocationID:   "inv-0",
		},
	}
}

// TestFixtureSetsEveryField keeps evFixture complete: the JSON, Clone and
// mutation tests only cover the fields it sets, so a field added to Event
// without a fixture value fails here rather than going untested.
func TestFixtureSetsEveryField(t *testing.T) {
	ev := evFixture()
	for _, v := range []reflect.Value{
		reflect.ValueOf(*ev), reflect.ValueOf(ev.Actions),
		reflect.ValueOf(*ev.RequestedInput), reflect.ValueOf(*ev.NodeInfo),
	} {
		t.Run("every field of "+v.Type().Name()+" is set", func(t *testing.T) {
			for i := range v.NumField() {
				assert.False(t, v.Field(i).IsZero(), "evFixture leaves %s.%s unset", v.Type().Name(), v.Type().Field(i).Name)
			}
		})
	}
}

// evRareParts returns parts that use genai fields models send rarely, with
// values a JSON round trip would change (sub-second durations, int map
// values), so Clone is shown to be exact for them too.
func evRareParts() []*genai.Part {
	fps := 2.5
	tokens := int32(64)
	willContinue := false
	num := 4.0
	return []*genai.Part{
		{
			FileData:        &genai.FileData{MIMEType: "video/mp4", FileURI: "gs://b/v.mp4"},
			VideoMetadata:   &genai.VideoMetadata{StartOffset: 1500 * time.Millisecond, EndOffset: 2 * time.Second, FPS: &fps},
			MediaResolution: &genai.PartMediaResolution{Level: genai.PartMediaResolutionLevelMediaResolutionHigh, NumTokens: &tokens},
			PartMetadata:    map[string]any{"source": "upload", "index": 7},
		},
		{ToolCall: &genai.ToolCall{ID: "t1", Args: map[string]any{"q": "x", "n": 3}}},
		{ToolResponse: &genai.ToolResponse{ID: "t1", Response: map[string]any{"hits": []any{1, 2}}}},
		{AudioTranscription: &genai.Transcription{Text: "hello", StartOffset: 250 * time.Millisecond, Words: []*genai.WordInfo{{Word: "hello"}}}},
		{Text: "spoken", SpeechMetadata: &genai.SpeechMetadata{Speaker: "narrator"}},
		{FunctionCall: &genai.FunctionCall{Name: "stream", PartialArgs: []*genai.PartialArg{{JsonPath: "$.a", NumberValue: &num, WillContinue: &willContinue}}}},
		{FunctionResponse: &genai.FunctionResponse{Name: "img", Parts: []*genai.FunctionResponsePart{{InlineData: &genai.FunctionResponseBlob{MIMEType: "image/png", Data: []byte{9, 9}}}}}},
		nil,
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	t.Run("a fully populated event decodes to an equal event", func(t *testing.T) {
		want := evFixture()
		b, err := json.Marshal(want)
		require.NoError(t, err)

		var got Event
		require.NoError(t, json.Unmarshal(b, &got))
		require.Equal(t, want, &got)
	})

	t.Run("a value and a pointer encode the same", func(t *testing.T) {
		ev := evFixture()
		byPtr, err := json.Marshal(ev)
		require.NoError(t, err)
		byVal, err := json.Marshal(*ev)
		require.NoError(t, err)
		assert.Equal(t, string(byPtr), string(byVal))
	})

	t.Run("the timestamp is decoded in UTC whatever offset was written", func(t *testing.T) {
		var got Event
		require.NoError(t, json.Unmarshal([]byte(`{"id":"e","timestamp":"2023-11-15T00:13:20+02:00"}`), &got))
		assert.Equal(t, time.UTC, got.Timestamp.Location())
	})

	t.Run("JSON null leaves the event unchanged", func(t *testing.T) {
		ev := evFixture()
		require.NoError(t, json.Unmarshal([]byte(`null`), ev))
		assert.Equal(t, evFixture(), ev)
	})

	t.Run("a failed decode leaves the event unchanged", func(t *testing.T) {
		ev := evFixture()
		err := json.Unmarshal([]byte(`{"id":"other","timestamp":true}`), ev)
		require.Error(t, err)
		assert.Equal(t, evFixture(), ev)
	})

	t.Run("a rewind's invocation ID travels in the ADK's wire field", func(t *testing.T) {
		// CONTRACT T2: the field the Python ADK writes and reads.
		doc := `{"id":"r","author":"user","actions":{"stateDelta":{"k":"__ADK_SENTINEL_REMOVED__"},"rewindBeforeInvocationId":"inv-2"}}`
		var got Event
		require.NoError(t, json.Unmarshal([]byte(doc), &got))
		assert.Equal(t, "inv-2", got.Actions.RewindBeforeInvocationID)
		b, err := json.Marshal(&got)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"rewindBeforeInvocationId":"inv-2"`)
		var again Event
		require.NoError(t, json.Unmarshal(b, &again))
		assert.Equal(t, &got, &again)
		b, err = json.Marshal(got.Actions)
		require.NoError(t, err, "the actions encode on their own too")
		assert.Contains(t, string(b), `"rewindBeforeInvocationId":"inv-2"`)
		kept, err := NormalizeEvent(&got)
		require.NoError(t, err)
		assert.Equal(t, "inv-2", kept.Actions.RewindBeforeInvocationID, "the stored copy keeps it")
		assert.Equal(t, "inv-2", got.Clone().Actions.RewindBeforeInvocationID)
		b, err = json.Marshal(&Event{ID: "plain"})
		require.NoError(t, err)
		assert.NotContains(t, string(b), "rewindBeforeInvocationId", "left out when empty")
	})

	t.Run("decoding replaces every field rather than merging", func(t *testing.T) {
		ev := evFixture()
		require.NoError(t, json.Unmarshal([]byte(`{"id":"fresh"}`), ev))
		assert.Equal(t, &Event{ID: "fresh"}, ev)
	})
}

func TestParseTimestamp(t *testing.T) {
	base := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC) // 1700000000
	good := []struct {
		name string
		raw  string // the JSON value; empty for a missing field
		want time.Time
	}{
		{"an RFC 3339 string in UTC is read", `"2023-11-14T22:13:20Z"`, base},
		{"an RFC 3339 string with an offset is read as the same instant", `"2023-11-15T00:13:20+02:00"`, base},
		{"an RFC 3339 string keeps nanoseconds", `"2023-11-14T22:13:20.123456789Z"`, base.Add(123456789)},
		{"an escaped string is read like any JSON string", `"2023-11-14T22:13:20\u005a"`, base},
		{"integer epoch seconds are read", `1700000000`, base},
		{"fractional epoch seconds keep their microseconds", `1700000000.123456`, base.Add(123456 * time.Microsecond)},
		{"fractional epoch seconds keep nanoseconds and drop finer digits", `1700000000.1234567899`, base.Add(123456789)},
		{"epoch seconds may use an exponent", `1.7e9`, base},
		{"epoch seconds may be negative", `-1.5`, time.Date(1969, 12, 31, 23, 59, 58, 500_000_000, time.UTC)},
		{"zero is the epoch, not the zero time", `0`, time.Unix(0, 0).UTC()},
		{"integer epoch milliseconds are read", `1700000000123`, base.Add(123 * time.Millisecond)},
		{"fractional epoch milliseconds keep microseconds", `1700000000123.456`, base.Add(123456 * time.Microsecond)},
		{"just under 1e11 is still seconds", `99999999999`, time.Unix(99999999999, 0).UTC()},
		{"1e11 is already milliseconds", `100000000000`, time.Unix(100000000, 0).UTC()},
		{"negative values from -1e11 down are milliseconds", `-100000000000`, time.Unix(-100000000, 0).UTC()},
		{"a tiny exponent is the epoch", `5e-99999999999999999999`, time.Unix(0, 0).UTC()},
		{"null is the zero time", `null`, time.Time{}},
		{"a missing field is the zero time", ``, time.Time{}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTimestamp(json.RawMessage(tc.raw))
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "got %s, want %s", got, tc.want)
			assert.Equal(t, tc.want, got)

			// The same value inside an event decodes the same way.
			doc := `{"id":"e"}`
			if tc.raw != "" {
				doc = `{"id":"e","timestamp":` + tc.raw + `}`
			}
			var ev Event
			require.NoError(t, json.Unmarshal([]byte(doc), &ev))
			assert.Equal(t, tc.want, ev.Timestamp)
		})
	}

	bad := []struct {
		name, raw, msg string
	}{
		{"a string that is not a time is rejected", `"abc"`, "not an RFC 3339 time"},
		{"a boolean is rejected", `true`, "got a boolean"},
		{"an object is rejected", `{}`, "got an object"},
		{"an array is rejected", `[1700000000]`, "got an array"},
		{"a number beyond float64 is rejected", `1e400`, "outside the years"},
		{"a number far before year 1 is rejected", `-1e20`, "outside the years"},
		{"milliseconds past the year 9999 are rejected", `253402300800000`, "outside the years"},
		{"an impossible date is rejected", `"2023-13-45T00:00:00Z"`, "not an RFC 3339 time"},
		{"a string whose UTC year is 0 is rejected", `"0001-01-01T00:00:00+01:00"`, "outside the years"},
		{"a string without a zone is rejected", `"2023-11-14T22:13:20"`, "not an RFC 3339 time"},
		{"an empty string is rejected", `""`, "not an RFC 3339 time"},
		{"a number with a leading zero is rejected", `01700000000`, "invalid JSON number"},
		{"a number with a dangling point is rejected", `17.`, "invalid JSON number"},
		{"a number with trailing text is rejected", `17x`, "invalid JSON number"},
		{"a NaN spelled as a string is rejected", `"NaN"`, "not an RFC 3339 time"},
		{"an infinity spelled as a string is rejected", `"Infinity"`, "not an RFC 3339 time"},
		{"a bare word is rejected", `NaN`, "invalid JSON"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTimestamp(json.RawMessage(tc.raw))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "timestamp")
			assert.Contains(t, err.Error(), tc.msg)

			if json.Valid([]byte(tc.raw)) {
				var ev Event
				err := json.Unmarshal([]byte(`{"id":"e","timestamp":`+tc.raw+`}`), &ev)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "timestamp")
			}
		})
	}
}

func TestEventTimestampEncoding(t *testing.T) {
	t.Run("a timestamp is written as RFC 3339 in UTC with nanoseconds", func(t *testing.T) {
		ev := Event{ID: "e1", Timestamp: time.Date(2023, 11, 15, 0, 13, 20, 123456000, time.FixedZone("CEST", 2*3600))}
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		assert.Equal(t, `{"id":"e1","timestamp":"2023-11-14T22:13:20.123456Z","actions":{}}`, string(b))
	})

	t.Run("a zero timestamp is omitted", func(t *testing.T) {
		b, err := json.Marshal(Event{ID: "e1"})
		require.NoError(t, err)
		assert.Equal(t, `{"id":"e1","actions":{}}`, string(b))
	})

	t.Run("the written form is FormatTimestamp's", func(t *testing.T) {
		for _, ts := range []time.Time{
			time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC),
			time.Date(2023, 11, 14, 22, 13, 20, 1, time.UTC),
			time.Date(2023, 11, 14, 22, 13, 20, 100_000_000, time.UTC),
			time.Date(2023, 11, 14, 22, 13, 20, 999_999_999, time.FixedZone("", -7*3600)),
			time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
			time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
			time.Now(),
		} {
			b, err := json.Marshal(Event{Timestamp: ts})
			require.NoError(t, err)
			assert.Contains(t, string(b), `"timestamp":"`+FormatTimestamp(ts)+`"`)
			assert.NotContains(t, FormatTimestamp(ts), "+")
		}
	})

	t.Run("a timestamp outside the years 0001-9999 is an encoding error", func(t *testing.T) {
		for _, ts := range []time.Time{
			time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC),
			time.Date(1, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600)), // year 0 in UTC
		} {
			_, err := json.Marshal(Event{ID: "e1", Timestamp: ts})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "timestamp")
		}
	})
}

func TestEventJSONFieldNames(t *testing.T) {
	t.Run("unknown fields are ignored", func(t *testing.T) {
		doc := `{"id":"e","futureField":{"x":[1,2]},"author":"user",
			"content":{"role":"user","parts":[{"text":"hi","futurePartField":1}]},
			"actions":{"futureAction":true,"escalate":true}}`
		var ev Event
		require.NoError(t, json.Unmarshal([]byte(doc), &ev))
		assert.Equal(t, &Event{
			ID:      "e",
			Author:  "user",
			Content: genai.NewContentFromText("hi", genai.RoleUser),
			Actions: EventActions{Escalate: true},
		}, &ev)
	})

	t.Run("a populated event is written with exactly ADK's camelCase names", func(t *testing.T) {
		b, err := json.Marshal(evFixture())
		require.NoError(t, err)
		var doc map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &doc))
		assert.ElementsMatch(t, []string{
			"id", "invocationId", "author", "branch", "timestamp", "content",
			"partial", "turnComplete", "interrupted", "errorCode", "errorMessage",
			"usageMetadata", "groundingMetadata", "citationMetadata",
			"logprobsResult", "avgLogprobs", "finishReason", "modelVersion",
			"inputTranscription", "outputTranscription",
			"sessionResumptionHandle", "customMetadata", "longRunningToolIds",
			"isolationScope", "routes", "requestedInput", "output", "nodeInfo",
			"actions",
		}, slices.Collect(maps.Keys(doc)))

		var input, node map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(doc["requestedInput"], &input))
		assert.ElementsMatch(t, []string{"interruptId", "message", "responseSchema", "payload"}, slices.Collect(maps.Keys(input)))
		require.NoError(t, json.Unmarshal(doc["nodeInfo"], &node))
		assert.ElementsMatch(t, []string{"path", "messageAsOutput", "outputFor"}, slices.Collect(maps.Keys(node)))

		var actions map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(doc["actions"], &actions))
		assert.ElementsMatch(t, []string{
			"stateDelta", "artifactDelta", "transferToAgent", "escalate",
			"skipSummarization", "requestedAuthConfigs",
			"requestedToolConfirmations", "endOfAgent", "rewindBeforeInvocationId",
		}, slices.Collect(maps.Keys(actions)))
	})

	t.Run("an empty nodeInfo object decodes as no node info", func(t *testing.T) {
		var ev Event
		require.NoError(t, json.Unmarshal([]byte(`{"id":"e","nodeInfo":{}}`), &ev))
		assert.Nil(t, ev.NodeInfo)
		require.NoError(t, json.Unmarshal([]byte(`{"id":"e","nodeInfo":{"outputFor":["a"]}}`), &ev))
		assert.Equal(t, &NodeInfo{OutputFor: []string{"a"}}, ev.NodeInfo)
	})

	t.Run("fields are written in declaration order, the content and the JSON values last", func(t *testing.T) {
		b, err := json.Marshal(evFixture())
		require.NoError(t, err)
		s := string(b)
		last := -1
		for _, key := range []string{`"id"`, `"invocationId"`, `"author"`, `"branch"`, `"timestamp"`, `"partial"`, `"longRunningToolIds"`,
			`"nodeInfo"`, `"content"`, `"customMetadata"`, `"output":{"forecast"`, `"actions"`} {
			// The event's output: the content's code result has one too.
			i := strings.Index(s, key)
			require.Greater(t, i, last, "key %s out of order in %s", key, s)
			last = i
		}
	})
}

// TestEventJSONGenaiDurations covers the genai values whose durations genai
// writes in whole seconds: decoding rounds them as encoding would, so a
// decoded event re-encodes to bytes that decode to the same event.
func TestEventJSONGenaiDurations(t *testing.T) {
	t.Run("a sub-second video offset is rounded as genai would write it", func(t *testing.T) {
		var ev Event
		require.NoError(t, json.Unmarshal([]byte(`{"id":"e","content":{"parts":[{"videoMetadata":{"startOffset":"1.5s","endOffset":"0.4s"}}]}}`), &ev))
		assert.Equal(t, 2*time.Second, ev.Content.Parts[0].VideoMetadata.StartOffset)
		assert.Equal(t, time.Duration(0), ev.Content.Parts[0].VideoMetadata.EndOffset)
	})

	t.Run("an offset below half a second disappears rather than flip-flopping", func(t *testing.T) {
		var ev Event
		require.NoError(t, json.Unmarshal([]byte(`{"id":"e","content":{"parts":[{"audioTranscription":{"text":"hi","startOffset":"0.4s"}}]}}`), &ev))
		b, err := json.Marshal(&ev)
		require.NoError(t, err)
		assert.Equal(t, `{"id":"e","content":{"parts":[{"audioTranscription":{"text":"hi"}}]},"actions":{}}`, string(b))
	})

	t.Run("a route duration in grounding metadata is rounded too", func(t *testing.T) {
		var ev Event
		require.NoError(t, json.Unmarshal([]byte(`{"id":"e","groundingMetadata":{"groundingChunks":[{"maps":{"route":{"duration":"90.6s"}}}]}}`), &ev))
		assert.Equal(t, 91*time.Second, ev.GroundingMetadata.GroundingChunks[0].Maps.Route.Duration)
	})

	t.Run("a sub-second transcription offset is rounded too", func(t *testing.T) {
		var ev Event
		require.NoError(t, json.Unmarshal([]byte(`{"id":"e","inputTranscription":{"text":"hi","endOffset":"2.6s"},"outputTranscription":{"startOffset":"0.2s"}}`), &ev))
		assert.Equal(t, 3*time.Second, ev.InputTranscription.EndOffset)
		assert.Equal(t, time.Duration(0), ev.OutputTranscription.StartOffset)
	})

	t.Run("a duration genai could not read back is an error", func(t *testing.T) {
		var ev Event
		err := json.Unmarshal([]byte(`{"id":"e","content":{"parts":[{"videoMetadata":{"startOffset":"2562047h47m16.854775807s"}}]}}`), &ev)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "videoMetadata")
	})
}

func TestEventClone(t *testing.T) {
	t.Run("cloning nil gives nil", func(t *testing.T) {
		var ev *Event
		assert.Nil(t, ev.Clone())
	})

	t.Run("a clone equals its original", func(t *testing.T) {
		ev := evFixture()
		assert.Equal(t, ev, ev.Clone())

		ev.Content.Parts = append(ev.Content.Parts, evRareParts()...)
		assert.Equal(t, ev, ev.Clone())
	})

	t.Run("a clone keeps nil and empty apart", func(t *testing.T) {
		ev := &Event{
			Content:            &genai.Content{Parts: []*genai.Part{}},
			CustomMetadata:     map[string]any{},
			LongRunningToolIDs: []string{},
			Actions:            EventActions{StateDelta: map[string]any{"list": []any{}, "none": []any(nil)}},
		}
		c := ev.Clone()
		require.Equal(t, ev, c)
		assert.NotNil(t, c.Content.Parts)
		assert.NotNil(t, c.CustomMetadata)
		assert.NotNil(t, c.LongRunningToolIDs)
		assert.NotNil(t, c.Actions.StateDelta["list"])
		assert.Nil(t, c.Actions.StateDelta["none"])
		assert.Nil(t, (&Event{}).Clone().Actions.StateDelta)
	})

	// CONTRACT G4: a clone has no memory in common with its original.
	t.Run("a clone has no pointer, map or slice in common with its original", func(t *testing.T) {
		ev := evFixture()
		ev.Content.Parts = append(ev.Content.Parts, evRareParts()...)
		ev.GroundingMetadata.GroundingChunks = append(ev.GroundingMetadata.GroundingChunks, &genai.GroundingChunk{
			Maps: &genai.GroundingChunkMaps{Route: &genai.GroundingChunkMapsRoute{Duration: time.Minute}},
		})
		seen := map[uintptr]string{}
		evCollectRefs(reflect.ValueOf(ev), "event", seen)
		require.NotEmpty(t, seen)
		evCheckRefs(t, reflect.ValueOf(ev.Clone()), "clone", seen)
	})

	// CONTRACT A8: changing the original after cloning changes nothing in
	// the clone.
	t.Run("changing the original after cloning leaves the clone as it was", func(t *testing.T) {
		ev := evFixture()
		c := ev.Clone()
		evMutate(ev)
		assert.Equal(t, evFixture(), c)
	})

	// CONTRACT G4: the independence holds the other way round too.
	t.Run("changing the clone leaves the original as it was", func(t *testing.T) {
		ev := evFixture()
		evMutate(ev.Clone())
		assert.Equal(t, evFixture(), ev)
	})

	// CONTRACT G4: the one-part layout Clone uses for the common case is
	// as independent as the general one.
	t.Run("a one-part event clones independently of its original", func(t *testing.T) {
		for _, p := range append(evFixture().Content.Parts, evRareParts()...) {
			ev := evFixture()
			ev.Content.Parts = []*genai.Part{p}
			c := ev.Clone()
			require.Equal(t, ev, c)
			seen := map[uintptr]string{}
			evCollectRefs(reflect.ValueOf(ev), "event", seen)
			evCheckRefs(t, reflect.ValueOf(c), "clone", seen)

			c.Content.Parts = append(c.Content.Parts, &genai.Part{Text: "more"})
			c.Content.Parts[0] = &genai.Part{Text: "replaced"}
			assert.Equal(t, []*genai.Part{p}, ev.Content.Parts)
		}
	})

	t.Run("a clone encodes to the same JSON as its original", func(t *testing.T) {
		ev := evFixture()
		want, err := json.Marshal(ev)
		require.NoError(t, err)
		got, err := json.Marshal(ev.Clone())
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	})
}

// evMutate changes, in place, every map, slice and pointed-to value of an
// evFixture event.
func evMutate(ev *Event) {
	ev.ID = "changed"
	ev.Timestamp = ev.Timestamp.Add(time.Hour)
	ev.Actions.StateDelta["counter"] = 99.0
	ev.Actions.StateDelta["profile"].(map[string]any)["age"] = 99.0
	ev.Actions.StateDelta["profile"].(map[string]any)["langs"].([]any)[0] = "rust"
	ev.Actions.StateDelta["new"] = "key"
	ev.Actions.ArtifactDelta["report.pdf"] = 99
	ev.Actions.RequestedAuthConfigs["call-1"].(map[string]any)["authScheme"] = "apiKey"
	ev.Actions.RequestedToolConfirmations["call-2"].(map[string]any)["confirmed"] = true
	ev.CustomMetadata["trace"] = "changed"
	ev.CustomMetadata["nested"].(map[string]any)["tags"].([]any)[1] = "z"
	ev.LongRunningToolIDs[0] = "changed"
	ev.Content.Role = "user"
	parts := ev.Content.Parts
	parts[0].Text = "changed"
	parts[1].ThoughtSignature[0] = 0xff
	parts[2].FunctionCall.Args["city"] = "Rome"
	parts[2].FunctionCall.Args["units"].(map[string]any)["wind"].([]any)[1] = 9.0
	*parts[2].FunctionCall.WillContinue = false
	parts[3].FunctionResponse.Response["forecast"].([]any)[0] = "snow"
	parts[4].InlineData.Data[0] = 0
	parts[5].FileData.FileURI = "gs://other"
	parts[6].ExecutableCode.Code = "print(2)"
	parts[7].CodeExecutionResult.Output = "2\n"
	ev.Content.Parts[0] = &genai.Part{Text: "replaced"}
	ev.UsageMetadata.TotalTokenCount = 99
	ev.UsageMetadata.PromptTokensDetails[0].TokenCount = 99
	ev.GroundingMetadata.WebSearchQueries[0] = "changed"
	ev.GroundingMetadata.GroundingChunks[0].Web.URI = "changed"
	ev.GroundingMetadata.GroundingSupports[0].ConfidenceScores[0] = 0.9
	ev.GroundingMetadata.GroundingSupports[0].Segment.Text = "changed"
	ev.GroundingMetadata.SearchEntryPoint.SDKBlob[0] = 'X'
	ev.CitationMetadata.Citations[0].Title = "changed"
	ev.LogprobsResult.TopCandidates[0].Candidates[1].Token = "changed"
	*ev.LogprobsResult.LogProbabilitySum = 9
	ev.InputTranscription.Words[0].Word = "changed"
	ev.OutputTranscription.Text = "changed"
	ev.Routes[0] = "changed"
	ev.RequestedInput.ResponseSchema[0] = '['
	ev.RequestedInput.Payload.(map[string]any)["days"].([]any)[0] = 9.0
	ev.RequestedInput.Message = "changed"
	ev.Output.(map[string]any)["temps"].([]any)[0] = 9.0
	ev.NodeInfo.OutputFor[0] = "changed"
	ev.NodeInfo.Path = "changed"
}

// evCollectRefs records the address of every pointer target, map and
// non-empty slice array reachable from v.
func evCollectRefs(v reflect.Value, path string, seen map[uintptr]string) {
	evWalkRefs(v, path, func(addr uintptr, p string) { seen[addr] = p })
}

// evCheckRefs fails the test for every reference reachable from v that was
// also reachable from the original.
func evCheckRefs(t *testing.T, v reflect.Value, path string, seen map[uintptr]string) {
	t.Helper()
	evWalkRefs(v, path, func(addr uintptr, p string) {
		if orig, ok := seen[addr]; ok {
			t.Errorf("%s points to the same memory as %s", p, orig)
		}
	})
}

func evWalkRefs(v reflect.Value, path string, ref func(uintptr, string)) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		ref(v.Pointer(), path)
		evWalkRefs(v.Elem(), path, ref)
	case reflect.Interface:
		if !v.IsNil() {
			evWalkRefs(v.Elem(), path, ref)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return // immutable; its *Location is not copied, by design
		}
		for i := range v.NumField() {
			evWalkRefs(v.Field(i), path+"."+v.Type().Field(i).Name, ref)
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		if v.Cap() > 0 {
			ref(v.Pointer(), path)
		}
		for i := range v.Len() {
			evWalkRefs(v.Index(i), path+"["+strconv.Itoa(i)+"]", ref)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		ref(v.Pointer(), path)
		for it := v.MapRange(); it.Next(); {
			evWalkRefs(it.Value(), path+"["+it.Key().String()+"]", ref)
		}
	}
}

// TestCloneCoversGenaiFields pins the genai fields Clone copies by hand. A
// field genai adds later is copied by plain assignment, which is only a
// deep copy if the field holds no pointer, map, slice or interface; when
// this test fails after a genai upgrade, teach clonePartInto or cloneUsage
// the new field and list it here.
func TestCloneCoversGenaiFields(t *testing.T) {
	handled := []struct {
		typ    reflect.Type
		fields []string // fields that hold references and are deep-copied
	}{
		{reflect.TypeFor[genai.Content](), []string{"Parts"}},
		{reflect.TypeFor[genai.Part](), []string{
			"MediaResolution", "CodeExecutionResult", "ExecutableCode", "FileData",
			"FunctionCall", "FunctionResponse", "InlineData", "ThoughtSignature",
			"VideoMetadata", "ToolCall", "ToolResponse", "PartMetadata",
			"AudioTranscription", "SpeechMetadata",
		}},
		{reflect.TypeFor[genai.Blob](), []string{"Data"}},
		{reflect.TypeFor[genai.FileData](), nil},
		{reflect.TypeFor[genai.FunctionCall](), []string{"Args", "PartialArgs", "WillContinue"}},
		{reflect.TypeFor[genai.FunctionResponse](), []string{"Response", "Parts", "WillContinue"}},
		{reflect.TypeFor[genai.ExecutableCode](), nil},
		{reflect.TypeFor[genai.CodeExecutionResult](), nil},
		{reflect.TypeFor[genai.ModalityTokenCount](), nil},
		{reflect.TypeFor[genai.GenerateContentResponseUsageMetadata](), []string{
			"CacheTokensDetails", "CandidatesTokensDetails", "PromptTokensDetails", "ToolUsePromptTokensDetails",
		}},
	}
	for _, h := range handled {
		t.Run("every reference field of "+h.typ.Name()+" is copied by hand", func(t *testing.T) {
			for i := range h.typ.NumField() {
				f := h.typ.Field(i)
				if slices.Contains(h.fields, f.Name) {
					continue
				}
				assert.False(t, evHoldsRefs(f.Type), "genai.%s.%s (%s) holds references that Clone would not copy", h.typ.Name(), f.Name, f.Type)
			}
		})
	}
}

func evHoldsRefs(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return evHoldsRefs(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if evHoldsRefs(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

func TestCloneValue(t *testing.T) {
	type custom struct{ N int }
	uncopied := &custom{N: 1}
	cases := []struct {
		name string
		in   any
	}{
		{"nil stays nil", nil},
		{"a string is returned as is", "s"},
		{"a float is returned as is", 1.5},
		{"an int is returned as is", 7},
		{"a bool is returned as is", true},
		{"a json.Number is returned as is", json.Number("12")},
		{"a nested map and slice tree is copied", map[string]any{"a": []any{1.0, map[string]any{"b": "c"}}}},
		{"a string slice is copied", []string{"x", "y"}},
		{"a string map is copied", map[string]string{"k": "v"}},
		{"a byte slice is copied", []byte("bytes")},
		{"a slice of maps is copied", []map[string]any{{"k": 1.0}, nil}},
		{"a typed nil map stays a typed nil map", map[string]any(nil)},
		{"a typed nil slice stays a typed nil slice", []any(nil)},
		{"an empty map stays empty, not nil", map[string]any{}},
		{"an empty slice stays empty, not nil", []any{}},
		{"an unknown type is returned as it is, as documented", uncopied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CloneValue(tc.in)
			require.Equal(t, tc.in, got)
			if tc.in != nil {
				assert.Equal(t, reflect.ValueOf(tc.in).Kind() == reflect.Map && reflect.ValueOf(tc.in).IsNil(),
					reflect.ValueOf(got).Kind() == reflect.Map && reflect.ValueOf(got).IsNil())
			}
		})
	}

	// CONTRACT A8: changing the original after cloning changes nothing in
	// the clone.
	t.Run("changing a cloned tree leaves the clone as it was", func(t *testing.T) {
		orig := map[string]any{
			"list":  []any{1.0, map[string]any{"deep": "x"}},
			"strs":  []string{"a"},
			"smap":  map[string]string{"k": "v"},
			"bytes": []byte{1},
			"maps":  []map[string]any{{"k": "v"}},
		}
		c := CloneMap(orig)
		orig["list"].([]any)[1].(map[string]any)["deep"] = "changed"
		orig["list"].([]any)[0] = 2.0
		orig["strs"].([]string)[0] = "changed"
		orig["smap"].(map[string]string)["k"] = "changed"
		orig["bytes"].([]byte)[0] = 9
		orig["maps"].([]map[string]any)[0]["k"] = "changed"
		orig["added"] = true
		assert.Equal(t, map[string]any{
			"list":  []any{1.0, map[string]any{"deep": "x"}},
			"strs":  []string{"a"},
			"smap":  map[string]string{"k": "v"},
			"bytes": []byte{1},
			"maps":  []map[string]any{{"k": "v"}},
		}, c)
	})

	t.Run("an unknown type is not copied", func(t *testing.T) {
		assert.Same(t, uncopied, CloneValue(uncopied))
	})

	t.Run("CloneMap of nil is nil", func(t *testing.T) {
		assert.Nil(t, CloneMap(nil))
	})
}

// BenchmarkEventClone measures the append hot path: a text reply with a few
// scalar state writes.
func BenchmarkEventClone(b *testing.B) {
	ev := &Event{
		ID:           "evt-1",
		InvocationID: "inv-1",
		Author:       "agent",
		Timestamp:    time.Now(),
		Content:      genai.NewContentFromText("The weather in Paris is sunny.", genai.RoleModel),
		Actions: EventActions{StateDelta: map[string]any{
			"counter": 3.0,
			"name":    "Ada",
			"done":    true,
		}},
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = ev.Clone()
	}
}

// The Java ADK writes customMetadata as a list of genai CustomMetadata
// entries; the Python and Go ADKs as an object. Both decode to the map.
func TestCustomMetadataInJavasShape(t *testing.T) {
	java := `{"id":"e","timestamp":1700000000000,"customMetadata":[
		{"key":"tier","stringValue":"gold"},
		{"key":"score","numericValue":0.5},
		{"key":"tags","stringListValue":{"values":["a","b"]}},
		{"key":"empty"}]}`
	var ev Event
	require.NoError(t, json.Unmarshal([]byte(java), &ev))
	assert.Equal(t, map[string]any{"tier": "gold", "score": 0.5, "tags": []any{"a", "b"}, "empty": nil}, ev.CustomMetadata)

	var python Event
	require.NoError(t, json.Unmarshal([]byte(`{"id":"e","customMetadata":{"tier":"gold"}}`), &python))
	assert.Equal(t, map[string]any{"tier": "gold"}, python.CustomMetadata)

	for _, bad := range []string{`[{"stringValue":"no key"}]`, `[null]`, `"text"`, `[1]`} {
		err := json.Unmarshal([]byte(`{"id":"e","customMetadata":`+bad+`}`), new(Event))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "customMetadata", bad)
	}
}

// genai's bytes fields of a part (a thought signature, inline data) are
// read in either base64 alphabet, padded or not: the Python ADK writes the
// URL-safe one, Go and Java the standard one. Anything else is an error
// naming the field.
func TestEventJSONBytesInEitherAlphabet(t *testing.T) {
	for _, c := range []struct{ signature, data string }{
		{`"+//+"`, `"+/8="`}, // standard, padded
		{`"-__-"`, `"-_8="`}, // URL-safe, padded
		{`"-__-"`, `"-_8"`},  // URL-safe, unpadded
		{`"+//+"`, `"+/8"`},  // standard, unpadded
	} {
		var ev Event
		body := `{"id":"e","content":{"role":"model","parts":[{"functionCall":{"name":"f"},"thoughtSignature":` + c.signature +
			`},{"inlineData":{"mimeType":"image/png","data":` + c.data + `}}]}}`
		require.NoError(t, json.Unmarshal([]byte(body), &ev), body)
		assert.Equal(t, []byte{0xfb, 0xff, 0xfe}, ev.Content.Parts[0].ThoughtSignature, body)
		assert.Equal(t, "f", ev.Content.Parts[0].FunctionCall.Name, body)
		assert.Equal(t, []byte{0xfb, 0xff}, ev.Content.Parts[1].InlineData.Data, body)
		assert.Equal(t, "image/png", ev.Content.Parts[1].InlineData.MIMEType, body)
		out, err := json.Marshal(&ev)
		require.NoError(t, err)
		assert.Contains(t, string(out), `"thoughtSignature":"+//+"`, "written in the standard alphabet")
	}
	var ev Event
	err := json.Unmarshal([]byte(`{"id":"e","content":{"parts":[{"text":"t"},{"inlineData":{"data":"not base64!"}}]}}`), &ev)
	require.ErrorContains(t, err, "content.parts[1].inlineData.data")
	err = json.Unmarshal([]byte(`{"id":"e","content":{"parts":[{"thoughtSignature":7}]}}`), &ev)
	require.ErrorContains(t, err, "content.parts[0].thoughtSignature")
}
