package eventlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/genai"
)

// msThreshold is the magnitude from which an epoch number is read as
// milliseconds rather than seconds: 1e11 s is in the year 5138, 1e11 ms in
// 1973, so real timestamps of either unit fall on the right side.
const msThreshold = 100_000_000_000

// MarshalJSON writes the event in ADK's camelCase wire shape, with a non-zero
// Timestamp as the one string form [FormatTimestamp] produces. Fields come
// in declaration order, but for the content and the fields of JSON
// values, which come last, before the actions. It fails for
// a timestamp outside the years 0001–9999, which no decoder could read back.
func (e Event) MarshalJSON() ([]byte, error) {
	type wire Event // drops the methods, so json.Marshal does not recurse
	w := wire(e)
	if !w.Timestamp.IsZero() {
		w.Timestamp = w.Timestamp.UTC()
		if err := checkYear(w.Timestamp); err != nil {
			return nil, fmt.Errorf("eventlog: encode event %q: %w", e.ID, err)
		}
	}
	// time.Time encodes itself as RFC 3339 with nanoseconds, which for a
	// UTC time is exactly FormatTimestamp's output. The JSON values, the
	// content's included, go through AppendValue (CONTRACT V1); the
	// actions are written here
	// rather than by their own MarshalJSON, which would encode them apart
	// and copy the result.
	return json.Marshal(struct {
		wire
		Content        any        `json:"content,omitempty"`
		CustomMetadata valueMap   `json:"customMetadata,omitempty"`
		Output         jsonValue  `json:"output,omitzero"`
		Actions        actionsOut `json:"actions"`
	}{w, contentOut(e.Content), valueMap(e.CustomMetadata), jsonValue{e.Output}, newActionsOut(&e.Actions)})
}

// actionsWire is EventActions without its methods.
type actionsWire EventActions

// actionsOut is the encoding of EventActions: its JSON values written by
// AppendValue.
type actionsOut struct {
	actionsWire
	StateDelta                 valueMap `json:"stateDelta,omitempty"`
	RequestedAuthConfigs       valueMap `json:"requestedAuthConfigs,omitempty"`
	RequestedToolConfirmations valueMap `json:"requestedToolConfirmations,omitempty"`
}

func newActionsOut(a *EventActions) actionsOut {
	return actionsOut{actionsWire(*a), a.StateDelta, a.RequestedAuthConfigs, a.RequestedToolConfirmations}
}

// actionsIn is the decoding of EventActions into the value wire points
// to, its JSON values read by DecodeValue; set moves them there.
type actionsIn struct {
	*actionsWire
	StateDelta                 valueMap `json:"stateDelta"`
	RequestedAuthConfigs       valueMap `json:"requestedAuthConfigs"`
	RequestedToolConfirmations valueMap `json:"requestedToolConfirmations"`
}

func (in *actionsIn) set() {
	in.actionsWire.StateDelta = in.StateDelta
	in.actionsWire.RequestedAuthConfigs = in.RequestedAuthConfigs
	in.actionsWire.RequestedToolConfirmations = in.RequestedToolConfirmations
}

// MarshalJSON writes the actions with their JSON values written by
// [AppendValue], so that an integral float reads back as a float.
func (a EventActions) MarshalJSON() ([]byte, error) {
	return json.Marshal(newActionsOut(&a))
}

// UnmarshalJSON reads the actions, their JSON values by [DecodeValue]:
// integers as int, other numbers as float64.
func (a *EventActions) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	var out EventActions
	aux := actionsIn{actionsWire: (*actionsWire)(&out)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	aux.set()
	*a = out
	return nil
}

// MarshalJSON writes the request with its payload written by [AppendValue].
func (r RequestInput) MarshalJSON() ([]byte, error) {
	type wire RequestInput
	return json.Marshal(struct {
		wire
		Payload jsonValue `json:"payload,omitzero"`
	}{wire(r), jsonValue{r.Payload}})
}

// UnmarshalJSON reads the request, its payload by [DecodeValue].
func (r *RequestInput) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	type wire RequestInput
	var out RequestInput
	aux := struct {
		*wire
		Payload jsonValue `json:"payload"`
	}{wire: (*wire)(&out)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	out.Payload = aux.Payload.v
	*r = out
	return nil
}

// UnmarshalJSON reads an event written by any ADK runtime. The timestamp may
// take every form [ParseTimestamp] accepts and is stored in UTC; unknown
// fields are ignored, because runtimes add fields over time. JSON null leaves
// the event unchanged; on error the event is unchanged too.
//
// A few genai values hold durations that genai's own encoder can only write
// in whole seconds (video offsets, transcription offsets, map route
// durations). These are rounded on reading exactly as writing would round
// them, so that a decoded event encodes to bytes that decode to the same
// event; a duration genai cannot write back at all is an error.
func (e *Event) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	type wire Event
	var out Event
	aux := struct {
		*wire
		// Shadow the embedded fields of the same JSON names: they are the
		// shallower ones, so encoding/json decodes these here.
		Timestamp      json.RawMessage `json:"timestamp"`
		CustomMetadata json.RawMessage `json:"customMetadata"`
		Content        contentIn       `json:"content"`
		Output         jsonValue       `json:"output"`
		Actions        actionsIn       `json:"actions"`
	}{wire: (*wire)(&out), Actions: actionsIn{actionsWire: (*actionsWire)(&out.Actions)}}
	if err := json.Unmarshal(data, &aux); err != nil {
		return fmt.Errorf("eventlog: decode event: %w", err)
	}
	ts, err := ParseTimestamp(aux.Timestamp)
	if err != nil {
		return fmt.Errorf("eventlog: decode event %q: %w", out.ID, err)
	}
	out.Timestamp = ts
	out.Content = aux.Content.c
	out.Output = aux.Output.v
	aux.Actions.set()
	if out.CustomMetadata, err = decodeCustomMetadata(aux.CustomMetadata); err != nil {
		return fmt.Errorf("eventlog: decode event %q: customMetadata: %w", out.ID, err)
	}
	if err := settleDurations(&out); err != nil {
		return fmt.Errorf("eventlog: decode event %q: %w", out.ID, err)
	}
	if n := out.NodeInfo; n != nil && n.Path == "" && !n.MessageAsOutput && len(n.OutputFor) == 0 {
		// Carries nothing: the Python ADK writes it on every event, and a
		// nil NodeInfo is what says "not from a workflow".
		out.NodeInfo = nil
	}
	*e = out
	return nil
}

// decodeCustomMetadata reads customMetadata in either shape the ADK
// runtimes write: an object of keys and values (Python, Go), or a list of
// genai CustomMetadata entries, {"key", and one of "stringValue",
// "numericValue" or "stringListValue": {"values": [...]}} (Java), which
// becomes the same map: a string, a float64, or a []any of strings. A key
// listed twice keeps its last value.
func decodeCustomMetadata(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	if raw[0] != '[' {
		return decodeMap(raw)
	}
	var entries []*struct {
		Key             *string  `json:"key"`
		StringValue     *string  `json:"stringValue"`
		NumericValue    *float64 `json:"numericValue"`
		StringListValue *struct {
			Values []string `json:"values"`
		} `json:"stringListValue"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, err
	}
	m := make(map[string]any, len(entries))
	for i, e := range entries {
		if e == nil || e.Key == nil {
			return nil, fmt.Errorf("entry %d has no key", i)
		}
		var v any
		switch {
		case e.StringValue != nil:
			v = *e.StringValue
		case e.NumericValue != nil:
			v = *e.NumericValue
		case e.StringListValue != nil:
			list := make([]any, len(e.StringListValue.Values))
			for j, s := range e.StringListValue.Values {
				list[j] = s
			}
			v = list
		}
		m[*e.Key] = v
	}
	return m, nil
}

// FormatTimestamp writes t the one way sessionlog stores times: RFC 3339 in
// UTC with as many fractional digits as needed, up to nanoseconds
// ([time.RFC3339Nano]). One form means stored bytes compare and sort the
// same way the times do (within the years 0001–9999). It does not check the
// year; [Event.MarshalJSON] does.
func FormatTimestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// ParseTimestamp reads a JSON timestamp in any form an ADK runtime writes:
//
//   - an RFC 3339 string, with or without fractional seconds, at any UTC
//     offset (Go ADK and sessionlog itself);
//   - a JSON number of epoch seconds, possibly fractional (Python ADK);
//   - a JSON number of epoch milliseconds (Java ADK).
//
// A number whose absolute value is at least 1e11 is milliseconds, any
// smaller one seconds. Numbers are read from their decimal digits rather
// than through float64, so 1700000000.123456 keeps its microseconds exactly;
// digits finer than a nanosecond are dropped. An empty raw value (a missing
// field) and JSON null give the zero time. Every other input is an error
// naming the timestamp: other JSON types, malformed strings or numbers, and
// times outside the years 0001–9999 (which covers the infinities and
// overflowing exponents). The result is in UTC.
func ParseTimestamp(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return time.Time{}, nil
	}
	var t time.Time
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fmt.Errorf("timestamp: invalid JSON string %s", snippet(raw))
		}
		p, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp: %q is not an RFC 3339 time", snippet([]byte(s)))
		}
		t = p.UTC()
	case c == '-' || (c >= '0' && c <= '9'):
		p, err := parseEpoch(string(raw))
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp: %w", err)
		}
		t = p
	default:
		return time.Time{}, fmt.Errorf("timestamp: want an RFC 3339 string or an epoch number, got %s", jsonKind(c))
	}
	if err := checkYear(t); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// parseEpoch reads a JSON number of epoch seconds or milliseconds from its
// decimal digits, so no precision is lost to float64.
func parseEpoch(s string) (time.Time, error) {
	bad := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("invalid JSON number %s", snippet([]byte(s)))
	}
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intDigits := s[intStart:i]
	if len(intDigits) == 0 || (len(intDigits) > 1 && intDigits[0] == '0') {
		return bad()
	}
	var fracDigits string
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracDigits = s[start:i]
		if len(fracDigits) == 0 {
			return bad()
		}
	}
	exp := 0
	hugeExp := 0 // +1 or -1 when the exponent is too large to matter exactly
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if start == i {
			return bad()
		}
		e, err := strconv.Atoi(s[start:i])
		if err != nil || e > 1_000_000 {
			hugeExp = 1
		} else {
			exp = e
		}
		if expNeg {
			exp, hugeExp = -exp, -hugeExp
		}
	}
	if i != len(s) {
		return bad()
	}

	// The value is 0.<digits> × 10^point once leading zeros are gone.
	digits := intDigits + fracDigits
	point := len(intDigits) + exp
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
		point--
	}
	if len(digits) == 0 || hugeExp < 0 {
		// Zero, or so small that it rounds to the epoch itself.
		return time.Unix(0, 0).UTC(), nil
	}
	if hugeExp > 0 || point > 15 {
		// At least 1e15: beyond the year 9999 in either unit.
		return time.Time{}, fmt.Errorf("%s is outside the years 0001-9999", snippet([]byte(s)))
	}
	digitAt := func(k int) int64 { // k-th digit after the leading zeros
		if k < 0 || k >= len(digits) {
			return 0
		}
		return int64(digits[k] - '0')
	}
	var whole int64
	for k := range point {
		whole = whole*10 + digitAt(k)
	}
	frac := func(n int) int64 { // first n fractional digits as an integer
		var f int64
		for k := range n {
			f = f*10 + digitAt(point+k)
		}
		return f
	}
	var sec, nsec int64
	if whole >= msThreshold {
		sec = whole / 1000
		nsec = (whole%1000)*1_000_000 + frac(6)
	} else {
		sec = whole
		nsec = frac(9)
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// checkYear rejects times that RFC 3339 cannot hold with a four-digit year
// or that sit outside what any ADK runtime produces.
func checkYear(t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("timestamp: %s is outside the years 0001-9999", t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// settleDurations rounds the genai durations that genai's encoder writes in
// whole seconds (in parts, transcriptions and map routes), by passing each
// such value through genai's own encoder and decoder until its encoding
// stops changing.
func settleDurations(ev *Event) error {
	if ev.Content != nil {
		for i, p := range ev.Content.Parts {
			if p == nil {
				continue
			}
			if p.VideoMetadata != nil {
				v, err := settle(p.VideoMetadata)
				if err != nil {
					return fmt.Errorf("content.parts[%d].videoMetadata: %w", i, err)
				}
				p.VideoMetadata = v
			}
			if p.AudioTranscription != nil {
				v, err := settle(p.AudioTranscription)
				if err != nil {
					return fmt.Errorf("content.parts[%d].audioTranscription: %w", i, err)
				}
				p.AudioTranscription = v
			}
		}
	}
	for _, t := range []struct {
		name string
		v    **genai.Transcription
	}{{"inputTranscription", &ev.InputTranscription}, {"outputTranscription", &ev.OutputTranscription}} {
		if *t.v == nil {
			continue
		}
		v, err := settle(*t.v)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		*t.v = v
	}
	if ev.GroundingMetadata != nil {
		for i, c := range ev.GroundingMetadata.GroundingChunks {
			if c == nil || c.Maps == nil || c.Maps.Route == nil {
				continue
			}
			v, err := settle(c.Maps.Route)
			if err != nil {
				return fmt.Errorf("groundingMetadata.groundingChunks[%d].maps.route: %w", i, err)
			}
			c.Maps.Route = v
		}
	}
	return nil
}

// settle returns the value genai would decode from its own encoding of v,
// once that encoding has stopped changing.
func settle[T any](v *T) (*T, error) {
	prev, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	for range 3 {
		next := new(T)
		if err := json.Unmarshal(prev, next); err != nil {
			return nil, fmt.Errorf("genai cannot read back its own encoding %s: %w", snippet(prev), err)
		}
		b, err := json.Marshal(next)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(b, prev) {
			return next, nil
		}
		prev = b
	}
	return nil, errors.New("genai's encoding of the value does not settle")
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// jsonKind names the JSON type that starts with c, for error messages.
func jsonKind(c byte) string {
	switch c {
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	case '[':
		return "an array"
	default:
		return "invalid JSON"
	}
}

// snippet shortens b for an error message, so a huge input does not make a
// huge error.
func snippet(b []byte) string {
	const max = 64
	if len(b) <= max {
		return string(b)
	}
	return string(b[:max]) + "..."
}
