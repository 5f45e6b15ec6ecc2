package eventlog_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT V1: strings and non-integral floats are written byte for byte
// as encoding/json writes them; an integral float gets a fraction.
func TestAppendValueWritesAsEncodingJSONDoes(t *testing.T) {
	strs := []string{"", "plain", "quote \" backslash \\ slash /", "<html> & </html>", "\b\f\n\r\t\x00\x01\x1f\x7f",
		"héllo ✓ 😀", "\u2028\u2029", "bad \xff utf-8 \xc3", "\xed\xa0\x80 surrogate"}
	for _, s := range strs {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		got, err := eventlog.AppendValue(nil, s)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "%q", s)
	}
	for _, f := range []float64{0.5, -2.25, 1e-7, 1.5e-300, 1e21 + 1e6, 1.7976931348623157e308, 5e-324, 123456.789, 1e15 + 0.5} {
		want, err := json.Marshal(f)
		require.NoError(t, err)
		got, err := eventlog.AppendValue(nil, f)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "%v", f)
	}
	for f, want := range map[float64]string{
		3: "3.0", 0: "0.0", math.Copysign(0, -1): "-0.0", -17: "-17.0", 1e20: "100000000000000000000.0",
		1e21: "1e+21", 1e300: "1e+300", float64(1 << 62): "4611686018427388000.0",
	} {
		got, err := eventlog.AppendValue(nil, f)
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	}
	got, err := eventlog.AppendValue(nil, map[string]any{"b": []any{1, 2.0, nil, true}, "a": map[string]any{}, "c": []any{}})
	require.NoError(t, err)
	assert.Equal(t, `{"a":{},"b":[1,2.0,null,true],"c":[]}`, string(got), "keys sorted, as encoding/json sorts them")
}

// CONTRACT V1: what cannot be written is an invalid argument naming where
// it sits.
func TestAppendValueRefusesWhatJSONCannotHold(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(-1), map[string]any{"a": []any{0, math.Inf(1)}}, make(chan int)} {
		_, err := eventlog.AppendValue(nil, v)
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument, "%v", v)
	}
	_, err := eventlog.AppendValue(nil, map[string]any{"a": []any{0, math.NaN()}})
	assert.ErrorContains(t, err, `value["a"][1]`)
}

// CONTRACT V1: integer literals read as int, everything else as float64.
func TestDecodeValueTypes(t *testing.T) {
	for in, want := range map[string]any{
		`3`: 3, `-0`: 0, `3.0`: 3.0, `3e0`: 3.0, `3E+2`: 300.0, `-1.5`: -1.5, `0.1`: 0.1,
		`9223372036854775807`:  math.MaxInt64,
		`-9223372036854775808`: math.MinInt64,
		`1152921504606846977`:  1<<60 + 1,
		// Beyond int64: no append writes one; a log holding one still opens.
		`9223372036854775808`:                9223372036854775808.0,
		`-1000000000000000000000000000000`:   -1e30,
		` "a\u00e9\ud83d\ude00" `:            "aé😀",
		`"\ud800"`:                           "\ufffd",
		`"raw é"`:                            "raw é",
		"\"bad \xff\"":                       "bad \ufffd",
		`true`:                               true,
		`null`:                               nil,
		`[]`:                                 []any{},
		`{}`:                                 map[string]any{},
		`{"a":1,"a":2.0}`:                    map[string]any{"a": 2.0},
		` { "x" : [ 1 , { "y" : null } ] } `: map[string]any{"x": []any{1, map[string]any{"y": nil}}},
	} {
		got, err := eventlog.DecodeValue([]byte(in))
		require.NoError(t, err, "%s", in)
		assert.Equal(t, want, got, "%s", in)
	}
}

// CONTRACT B1: malformed JSON is an error, never a panic or a guess.
func TestDecodeValueRefusesMalformedJSON(t *testing.T) {
	for _, in := range []string{``, ` `, `01`, `1.`, `.5`, `1e`, `-`, `+1`, `1 2`, `tru`, `nul`, `[1,]`, `[1 2]`, `{"a"}`,
		`{"a":1,}`, `{a:1}`, `"abc`, "\"a\x01\"", `"\x"`, `[`, `{"a":`, `1e400`, `-1e400`, `NaN`, `Infinity`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001)} {
		_, err := eventlog.DecodeValue([]byte(in))
		assert.Error(t, err, "%q", in)
	}
}

// CONTRACT V1: NormalizeValue gives JSON types, copies, and refuses what
// JSON cannot hold, naming the path.
func TestNormalizeValue(t *testing.T) {
	in := map[string]any{"l": []any{map[string]any{"n": int64(5)}}, "s": []string{"a"}}
	got, err := eventlog.NormalizeValue(in)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"l": []any{map[string]any{"n": 5}}, "s": []any{"a"}}, got)
	got.(map[string]any)["l"].([]any)[0].(map[string]any)["n"] = 6
	assert.Equal(t, int64(5), in["l"].([]any)[0].(map[string]any)["n"], "the copy shares nothing with the input")

	_, err = eventlog.NormalizeValue(map[string]any{"a": []any{1, uint64(math.MaxUint64)}})
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	assert.ErrorContains(t, err, `value["a"][1] is the integer 18446744073709551615, outside the int64 range`)

	m, err := eventlog.NormalizeState("actions.stateDelta", map[string]any{"temp:x": make(chan int), "k": 1})
	require.NoError(t, err, "temp: keys are dropped unchecked")
	assert.Equal(t, map[string]any{"k": 1}, m)
	_, err = eventlog.NormalizeMap("customMetadata", map[string]any{"temp:x": math.NaN()})
	assert.ErrorContains(t, err, `customMetadata["temp:x"] is NaN`)
}

// CONTRACT V1: an event's and a record's JSON values survive their JSON
// codec with their types: ints stay int, integral floats float64.
func TestEventAndRecordKeepValueTypes(t *testing.T) {
	vals := map[string]any{"i": 1<<60 + 1, "f": 3.0, "l": []any{2, 2.0}, "m": map[string]any{"z": 0.0}}
	ev := &eventlog.Event{
		ID: "e", CustomMetadata: vals, Output: vals,
		RequestedInput: &eventlog.RequestInput{InterruptID: "i", Payload: vals},
		Actions:        eventlog.EventActions{StateDelta: vals, RequestedAuthConfigs: vals, RequestedToolConfirmations: vals},
		Content: &genai.Content{Role: "model", Parts: []*genai.Part{
			{Text: "t"},
			{FunctionCall: &genai.FunctionCall{Name: "f", Args: vals}},
			nil,
			{FunctionResponse: &genai.FunctionResponse{Name: "f", Response: vals}, PartMetadata: vals},
			{ToolCall: &genai.ToolCall{ID: "c", Args: vals}},
			{ToolResponse: &genai.ToolResponse{ID: "c", Response: vals}},
		}},
	}
	rec := &eventlog.Record{Kind: eventlog.KindEventAppended, Position: 1, Seq: 1, Event: ev, State: vals}
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"f":3.0`)
	var back eventlog.Record
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, vals, back.State)
	got := back.Event
	for name, v := range map[string]any{
		"customMetadata": got.CustomMetadata, "output": got.Output, "payload": got.RequestedInput.Payload,
		"stateDelta": got.Actions.StateDelta, "requestedAuthConfigs": got.Actions.RequestedAuthConfigs,
		"requestedToolConfirmations": got.Actions.RequestedToolConfirmations,
		"functionCall.args":          got.Content.Parts[1].FunctionCall.Args,
		"functionResponse.response":  got.Content.Parts[3].FunctionResponse.Response,
		"partMetadata":               got.Content.Parts[3].PartMetadata,
		"toolCall.args":              got.Content.Parts[4].ToolCall.Args,
		"toolResponse.response":      got.Content.Parts[5].ToolResponse.Response,
	} {
		assert.Equal(t, vals, v, name)
	}
	again, err := json.Marshal(&back)
	require.NoError(t, err)
	assert.Equal(t, string(b), string(again), "decoding and encoding again gives the same bytes")
}

// CONTRACT V1: the content's maps of JSON values written by another
// runtime, or by an earlier sessionlog, read as every other JSON value
// does: an integer as int, whatever else genai's types would make of it.
func TestContentValuesDecodeAsJSONValues(t *testing.T) {
	var ev eventlog.Event
	require.NoError(t, json.Unmarshal([]byte(`{"id":"e","content":{"role":"model","parts":[
		{"functionCall":{"name":"f","args":{"n":3,"f":2.0,"big":9007199254740993,"l":[1,{"x":1.5}]}}},
		{"functionResponse":{"name":"f","response":null}},
		{"text":"t","partMetadata":{}},
		null]}}`), &ev))
	parts := ev.Content.Parts
	require.Len(t, parts, 4)
	assert.Equal(t, map[string]any{"n": 3, "f": 2.0, "big": 9007199254740993, "l": []any{1, map[string]any{"x": 1.5}}},
		parts[0].FunctionCall.Args)
	assert.Equal(t, "f", parts[0].FunctionCall.Name, "the rest of the part is genai's")
	assert.Nil(t, parts[1].FunctionCall)
	assert.Nil(t, parts[1].FunctionResponse.Response)
	assert.Equal(t, map[string]any{}, parts[2].PartMetadata)
	assert.Nil(t, parts[3])

	require.NoError(t, json.Unmarshal([]byte(`{"id":"e","content":{"parts":[{"toolCall":{"args":{"n":1}}},{"functionResponse":{}}]}}`), &ev))
	assert.Equal(t, &genai.Content{Parts: []*genai.Part{
		{ToolCall: &genai.ToolCall{Args: map[string]any{"n": 1}}},
		{FunctionResponse: &genai.FunctionResponse{}},
	}}, ev.Content, "a call that holds nothing but its arguments, and a response that holds nothing")

	err := json.Unmarshal([]byte(`{"id":"e","content":{"parts":[{"functionCall":{"args":{"n":1e999}}}]}}`), &ev)
	assert.ErrorContains(t, err, "content.parts[0].functionCall.args", "a number no float64 holds is refused, as in the state")
	err = json.Unmarshal([]byte(`{"id":"e","content":{"parts":[{"text":"t"},{"text":"u","partMetadata":"x"}]}}`), &ev)
	assert.ErrorContains(t, err, "content.parts[1].partMetadata", "the error names the part and the field")
}

// CONTRACT A8 V1: the store's copy of an event holds the content's maps
// as JSON values of its own: the caller's types become JSON types, and
// changing what the caller passed changes nothing in the copy. A value
// JSON cannot hold, or a cycle, is refused and names the part.
func TestNormalizeEventCopiesContentValues(t *testing.T) {
	type point struct{ X int }
	ids := []int{1, 2}
	args := map[string]any{"ids": ids, "p": &point{X: 4}, "n": int64(5), "f": float32(0.5), "ok": 1.0}
	meta := map[string]any{"m": uint8(1)}
	ev := &eventlog.Event{ID: "e", Content: &genai.Content{Parts: []*genai.Part{
		{Text: "t"},
		{FunctionCall: &genai.FunctionCall{Name: "f", Args: args}, PartMetadata: meta},
		{ToolResponse: &genai.ToolResponse{Response: map[string]any{"r": []string{"a"}}}},
	}}}
	out, err := eventlog.NormalizeEvent(ev)
	require.NoError(t, err)
	want := map[string]any{"ids": []any{1, 2}, "p": map[string]any{"X": 4}, "n": 5, "f": 0.5, "ok": 1.0}
	assert.Equal(t, want, out.Content.Parts[1].FunctionCall.Args)
	assert.Equal(t, map[string]any{"m": 1}, out.Content.Parts[1].PartMetadata)
	assert.Equal(t, map[string]any{"r": []any{"a"}}, out.Content.Parts[2].ToolResponse.Response)
	assert.Equal(t, []int{1, 2}, ev.Content.Parts[1].FunctionCall.Args["ids"], "the caller's event is left as it was")
	assert.IsType(t, &point{}, ev.Content.Parts[1].FunctionCall.Args["p"])

	ids[0] = 99
	args["n"] = 6
	ev.Content.Parts[1].FunctionCall.Name = "g"
	assert.Equal(t, want, out.Content.Parts[1].FunctionCall.Args)
	assert.Equal(t, "f", out.Content.Parts[1].FunctionCall.Name)

	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	for field, p := range map[string]*genai.Part{
		"content.parts[1].functionCall.args":         {FunctionCall: &genai.FunctionCall{Args: map[string]any{"x": math.NaN()}}},
		"content.parts[1].functionResponse.response": {FunctionResponse: &genai.FunctionResponse{Response: cyclic}},
		"content.parts[1].toolCall.args":             {ToolCall: &genai.ToolCall{Args: map[string]any{"c": make(chan int)}}},
		"content.parts[1].toolResponse.response":     {ToolResponse: &genai.ToolResponse{Response: map[string]any{"u": uint64(math.MaxUint64)}}},
		"content.parts[1].partMetadata":              {PartMetadata: map[string]any{"s": "a\xffb"}},
	} {
		_, err := eventlog.NormalizeEvent(&eventlog.Event{ID: "e", Content: &genai.Content{Parts: []*genai.Part{{Text: "t"}, p}}})
		assert.ErrorIs(t, err, eventlog.ErrInvalidArgument, field)
		assert.ErrorContains(t, err, field)
	}
}

// The common case costs nothing beyond the copy CloneMap makes: scalar
// values are not converted or boxed again.
func TestNormalizeMapAllocatesAsCloneMapDoes(t *testing.T) {
	delta := map[string]any{"k": 12345, "user:u": "text", "app:a": 2.5, "b": true, "n": nil,
		"m": map[string]any{"x": 1, "y": []any{"a", 2}}}
	clone := testing.AllocsPerRun(100, func() { _ = eventlog.CloneMap(delta) })
	norm := testing.AllocsPerRun(100, func() {
		if _, err := eventlog.NormalizeMap("d", delta); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, norm, clone)
}

// FuzzDecodeValue: DecodeValue accepts exactly the JSON encoding/json
// accepts (bar numbers beyond float64), and what it reads writes back to
// bytes that read back the same.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.0,"x",null,true]}`, `1e400`, `"\ud800"`, `-0.0`, `[[[]]]`, `18446744073709551616`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := eventlog.DecodeValue(data)
		var std any
		stdErr := json.Unmarshal(data, &std)
		if err != nil {
			if stdErr == nil {
				assert.Contains(t, err.Error(), "float64 range", "encoding/json reads %q", data)
			}
			return
		}
		require.NoError(t, stdErr, "DecodeValue read %q, which encoding/json refuses", data)
		b, err := eventlog.AppendValue(nil, v)
		require.NoError(t, err)
		again, err := eventlog.DecodeValue(b)
		require.NoError(t, err)
		assert.Equal(t, v, again, "%q wrote %s", data, b)
	})
}

// functionCallEvent is a model's call of a tool: a text part and a
// function call with a few arguments, and one state key.
func functionCallEvent() *eventlog.Event {
	return &eventlog.Event{
		ID: "e2", Author: "agent", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Content: &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{
			{Text: "Looking it up."},
			{FunctionCall: &genai.FunctionCall{ID: "call-1", Name: "search_flights",
				Args: map[string]any{"to": "LIS", "from": "BER", "passengers": 2, "flexible": true, "budget": 450.5}}},
		}},
		Actions: eventlog.EventActions{StateDelta: map[string]any{"k": 12345}},
	}
}

// BenchmarkEventJSON encodes and decodes an event with a function call,
// as the stores that keep JSON do on each append and each read.
func BenchmarkEventJSON(b *testing.B) {
	ev := functionCallEvent()
	data, err := json.Marshal(ev)
	require.NoError(b, err)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out eventlog.Event
			if err := json.Unmarshal(data, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStoreCopy compares the copy a store keeps of a common event
// (one text part, three integer state keys) made by NormalizeEvent with
// a plain deep copy by Clone and CloneMap, and times the copy of an event
// with a function call.
func BenchmarkStoreCopy(b *testing.B) {
	ev := &eventlog.Event{
		ID: "e1", Author: "agent",
		Content: genai.NewContentFromText("It is sunny.", genai.RoleModel),
		Actions: eventlog.EventActions{StateDelta: map[string]any{"k": 12345, "user:u": 12345, "app:a": 12345}},
	}
	b.Run("clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			shallow := *ev
			shallow.Actions.StateDelta = nil
			c := shallow.Clone()
			c.Actions.StateDelta = eventlog.CloneMap(ev.Actions.StateDelta)
		}
	})
	b.Run("normalize", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := eventlog.NormalizeEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	call := functionCallEvent()
	b.Run("normalize a function call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := eventlog.NormalizeEvent(call); err != nil {
				b.Fatal(err)
			}
		}
	})
}
