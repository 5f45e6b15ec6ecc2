package eventlog

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	"google.golang.org/genai"
)

// FuzzEventJSON checks the codec's two promises on arbitrary input: decoding
// never panics, and whatever decodes re-encodes to a fixed point after one
// round (encode, decode, encode gives the same bytes). A clone encodes to
// the same bytes as well. The committed corpus in testdata/fuzz/FuzzEventJSON
// holds events in each runtime's shape and past findings.
func FuzzEventJSON(f *testing.F) {
	full := evFixture()
	full.Content.Parts = append(full.Content.Parts, evRareParts()...)
	full.GroundingMetadata.GroundingChunks = append(full.GroundingMetadata.GroundingChunks,
		&genai.GroundingChunk{Maps: &genai.GroundingChunkMaps{Route: &genai.GroundingChunkMapsRoute{Duration: 90 * time.Second}}})
	for _, ev := range []*Event{evFixture(), full} {
		b, err := json.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"e","timestamp":1700000000.123456,"author":"user","content":{"role":"user","parts":[{"text":"hi"}]},"actions":{"stateDelta":{"k":1}}}`))
	f.Add([]byte(`{"id":"e","timestamp":1700000000123,"actions":{"artifactDelta":{"a.txt":2}}}`))
	f.Add([]byte(`{"id":"e","timestamp":"2023-11-15T00:13:20.5+02:00","unknown":[1,{"x":null}]}`))
	f.Add([]byte(`{"id":"e","content":{"parts":[null,{"videoMetadata":{"startOffset":"0.4s"}}]}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"timestamp":true}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return
		}
		first, err := json.Marshal(&ev)
		if err != nil {
			t.Fatalf("decoded event does not encode: %v\ninput: %q", err, data)
		}
		var again Event
		if err := json.Unmarshal(first, &again); err != nil {
			t.Fatalf("encoded event does not decode: %v\nencoded: %s", err, first)
		}
		second, err := json.Marshal(&again)
		if err != nil {
			t.Fatalf("re-decoded event does not encode: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("encoding is not a fixed point\nfirst:  %s\nsecond: %s", first, second)
		}
		cloned, err := json.Marshal(again.Clone())
		if err != nil {
			t.Fatalf("clone does not encode: %v", err)
		}
		if !bytes.Equal(first, cloned) {
			t.Fatalf("clone encodes differently\nevent: %s\nclone: %s", first, cloned)
		}
	})
}

// FuzzParseTimestamp checks that ParseTimestamp never panics, that every
// time it accepts is in UTC within the years 0001–9999 and survives
// FormatTimestamp exactly, and that for numbers it agrees with a float64
// reading of the same digits within float64's precision.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		`"2023-11-14T22:13:20Z"`, `"2023-11-15T00:13:20.123456789+02:00"`,
		`1700000000`, `1700000000.123456`, `1700000000123`, `-1.5`, `1.7e9`,
		`99999999999.99`, `1e11`, `null`, ``, `"abc"`, `true`, `{}`, `1e400`,
		`-1e20`, `0.000001e-5`, `"0001-01-01T00:00:00Z"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ParseTimestamp(json.RawMessage(raw))
		if err != nil {
			return
		}
		if got.IsZero() {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q: result not in UTC: %v", raw, got.Location())
		}
		if y := got.Year(); y < 1 || y > 9999 {
			t.Fatalf("%q: accepted year %d", raw, y)
		}
		back, err := ParseTimestamp(json.RawMessage(strconv.Quote(FormatTimestamp(got))))
		if err != nil || !back.Equal(got) {
			t.Fatalf("%q: %s does not read back (%v, %v)", raw, FormatTimestamp(got), back, err)
		}

		// Cross-check numbers against float64, away from the unit cut-off
		// where float rounding may pick the other unit.
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.Abs(math.Abs(v)-msThreshold) < 1 {
			return
		}
		want := v
		if math.Abs(v) >= msThreshold {
			want = v / 1000
		}
		have := float64(got.Unix()) + float64(got.Nanosecond())/1e9
		if diff := math.Abs(have - want); diff > 2e-6+1e-15*math.Abs(want) {
			t.Fatalf("%q: read as %s (%.9f s), float64 says %.9f s", raw, FormatTimestamp(got), have, want)
		}
	})
}
