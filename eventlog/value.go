package eventlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/genai"
)

// JSON values (CONTRACT V1).
//
// State values, delta values and the any-typed fields of an [Event]
// (CustomMetadata, Output, RequestedInput.Payload,
// Actions.RequestedAuthConfigs and Actions.RequestedToolConfirmations) are
// JSON values. Every store hands them back as the same Go types, whether it
// keeps them in memory or decodes them from JSON:
//
//   - nil, bool and string;
//   - int for a number written without a fraction or exponent (exact across
//     the int64 range);
//   - float64 for every other number: a float that happens to be integral
//     stays a float64, and is written with a fraction (3.0) so that it reads
//     back as one;
//   - map[string]any and []any of these.
//
// [NormalizeValue] turns a caller's value into these types before a store
// sees it, [AppendValue] writes them, and [DecodeValue] reads them; the JSON
// codecs of [Event] and [Record] use the last two for those fields.

// maxValueDepth bounds how deeply maps and slices may nest in a value
// handed to [NormalizeValue]: deep enough for any real document, and a
// guard against a map that holds itself.
const maxValueDepth = 100

// maxCodecDepth bounds nesting when encoding and decoding, as
// encoding/json bounds it, so that a hostile input cannot exhaust the
// stack.
const maxCodecDepth = 10000

// valueError is a problem with a value, at a path inside it.
type valueError struct {
	path    []string // innermost segment first
	problem string
}

func problem(format string, args ...any) *valueError {
	return &valueError{problem: fmt.Sprintf(format, args...)}
}

// at adds the segment that leads to the value with the problem.
func (e *valueError) at(seg string) *valueError {
	e.path = append(e.path, seg)
	return e
}

func (e *valueError) atKey(k string) *valueError { return e.at("[" + strconv.Quote(k) + "]") }

func (e *valueError) atIndex(i int) *valueError { return e.at("[" + strconv.Itoa(i) + "]") }

// where names the field and the path inside it: the first few steps of a
// long path (a value nested too deeply, a cycle) and "..." for the rest.
func (e *valueError) where(field string) string {
	const shown = 8
	var b strings.Builder
	b.WriteString(field)
	for i := len(e.path) - 1; i >= 0; i-- {
		if len(e.path)-i > shown {
			b.WriteString("...")
			break
		}
		b.WriteString(e.path[i])
	}
	return b.String()
}

// invalid is the error of a value refused on the way in.
func (e *valueError) invalid(field string) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidArgument, e.where(field), e.problem)
}

// NormalizeValue returns v as the JSON value a store keeps and returns
// (see the types listed in the package's documentation on JSON values): a
// deep copy that has no memory in common with v.
//
// Values of those types are copied as they are, without a detour through
// JSON. Other integer types become int, float32 the float64 of its
// shortest decimal form, and a [json.Number] int or float64 by its
// literal. A value of any other type (a struct, a time.Time, a []string,
// a map of another type) is replaced by what reading its encoding/json
// form gives, so it reads back the same from every store; note that
// encoding/json writes an integral float inside such a value without a
// fraction, so it comes back as an int.
//
// It fails with an error wrapping [ErrInvalidArgument], naming the path to
// the first problem found, for what JSON cannot hold: NaN and the
// infinities, a string or map key that is not valid UTF-8, an integer
// outside the int64 range (outside int's, where int is 32 bits), nesting
// deeper than 100 levels, and any value encoding/json refuses (a channel,
// a function, a cycle).
func NormalizeValue(v any) (any, error) {
	out, err := normalize(v, 0)
	if err != nil {
		return nil, err.invalid("value")
	}
	return out, nil
}

// NormalizeMap is [NormalizeValue] for a map of values: the copy holds
// every key of m (nil for nil). An error names field and the path to the
// problem.
func NormalizeMap(field string, m map[string]any) (map[string]any, error) {
	return normalizeField(field, m, false)
}

// NormalizeState is [NormalizeMap] for state or a state delta as a store
// keeps it: without its temp: keys, whose values are neither checked nor
// copied, because they never reach a store.
func NormalizeState(field string, m map[string]any) (map[string]any, error) {
	return normalizeField(field, m, true)
}

// normalizeField is NormalizeMap, leaving temp: keys out when dropTemp.
func normalizeField(field string, m map[string]any, dropTemp bool) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	out, err := normalizeMap(m, 0, dropTemp)
	if err != nil {
		return nil, err.invalid(field)
	}
	return out, nil
}

// NormalizeEvent returns the copy of ev that a store keeps: a deep copy as
// [Event.Clone] makes, whose state delta has no temp: keys and whose JSON
// values are normalized by [NormalizeValue]: the state delta,
// CustomMetadata, Output, RequestedInput.Payload, RequestedAuthConfigs,
// RequestedToolConfirmations, and in each part of Content the function
// call's and the tool call's arguments, the function's and the tool's
// responses, and the part's metadata. Content's other genai values are
// copied as they are. An empty map of the event, as none, is nil in the
// copy, the timestamp is in UTC without a monotonic clock reading, and the
// genai durations (of video metadata and transcriptions) are in whole
// seconds, as genai's JSON writes them. An error wraps
// [ErrInvalidArgument] and names the field.
func NormalizeEvent(ev *Event) (*Event, error) {
	if ev == nil {
		return nil, nil
	}
	s := *ev
	s.CustomMetadata, s.Output = nil, nil
	s.Actions.StateDelta, s.Actions.RequestedAuthConfigs, s.Actions.RequestedToolConfirmations = nil, nil, nil
	var payload any
	if r := ev.RequestedInput; r != nil && r.Payload != nil {
		c := *r
		payload, c.Payload = c.Payload, nil
		s.RequestedInput = &c
	}
	// The copy shares the content's maps with ev, to be replaced below by
	// normalized copies: a plain copy of a map that holds itself would not
	// end.
	out := s.clone(false)
	var err error
	if out.Actions.StateDelta, err = NormalizeState("actions.stateDelta", ev.Actions.StateDelta); err != nil {
		return nil, err
	}
	if out.CustomMetadata, err = NormalizeMap("customMetadata", ev.CustomMetadata); err != nil {
		return nil, err
	}
	if out.Actions.RequestedAuthConfigs, err = NormalizeMap("actions.requestedAuthConfigs", ev.Actions.RequestedAuthConfigs); err != nil {
		return nil, err
	}
	if out.Actions.RequestedToolConfirmations, err = NormalizeMap("actions.requestedToolConfirmations", ev.Actions.RequestedToolConfirmations); err != nil {
		return nil, err
	}
	if ev.Output != nil {
		v, verr := normalize(ev.Output, 0)
		if verr != nil {
			return nil, verr.invalid("output")
		}
		out.Output = v
	}
	if payload != nil {
		v, verr := normalize(payload, 0)
		if verr != nil {
			return nil, verr.invalid("requestedInput.payload")
		}
		out.RequestedInput.Payload = v
	}
	if out.Content != nil {
		for i, p := range out.Content.Parts {
			for name, m := range partValues(p) {
				if *m == nil {
					continue
				}
				norm, verr := normalizeMap(*m, 0, false)
				if verr != nil {
					return nil, verr.invalid(fmt.Sprintf("content.parts[%d].%s", i, name))
				}
				*m = orNil(norm)
			}
		}
	}
	// genai writes its durations in whole seconds: every store keeps what
	// that JSON gives.
	if err := settleDurations(out); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if !out.Timestamp.IsZero() {
		out.Timestamp = StoredTime(out.Timestamp)
	}
	// An empty map is kept as none: the event's JSON leaves both out, so
	// every store returns nil for it.
	out.CustomMetadata = orNil(out.CustomMetadata)
	a := &out.Actions
	a.StateDelta, a.ArtifactDelta = orNil(a.StateDelta), orNil(a.ArtifactDelta)
	a.RequestedAuthConfigs, a.RequestedToolConfirmations = orNil(a.RequestedAuthConfigs), orNil(a.RequestedToolConfirmations)
	return out, nil
}

// StoredTime is t as every store reads a time back from JSON: in UTC,
// without the monotonic clock reading, so that == and reflect.DeepEqual
// agree across stores.
func StoredTime(t time.Time) time.Time { return t.UTC().Round(0) }

// orNil is m, or nil when m is empty.
func orNil[M ~map[K]V, K comparable, V any](m M) M {
	if len(m) == 0 {
		return nil
	}
	return m
}

// hasPartValues reports whether p holds a non-nil map of JSON values.
func hasPartValues(p *genai.Part) bool {
	for _, m := range partValues(p) {
		if *m != nil {
			return true
		}
	}
	return false
}

// partValues yields the maps of JSON values that p holds (nothing for a
// nil p), each with its field's name: the ones CONTRACT V1 covers inside
// an event's content. A map may be nil.
func partValues(p *genai.Part) iter.Seq2[string, *map[string]any] {
	return func(yield func(string, *map[string]any) bool) {
		if p == nil {
			return
		}
		if c := p.FunctionCall; c != nil && !yield("functionCall.args", &c.Args) {
			return
		}
		if r := p.FunctionResponse; r != nil && !yield("functionResponse.response", &r.Response) {
			return
		}
		if c := p.ToolCall; c != nil && !yield("toolCall.args", &c.Args) {
			return
		}
		if r := p.ToolResponse; r != nil && !yield("toolResponse.response", &r.Response) {
			return
		}
		yield("partMetadata", &p.PartMetadata)
	}
}

// normalize is NormalizeValue for a value nested depth levels deep.
func normalize(v any, depth int) (any, *valueError) {
	switch x := v.(type) {
	case nil, bool, int:
		return v, nil
	case string:
		if !utf8.ValidString(x) {
			return nil, problem("is a string that is not valid UTF-8 (%.40q)", x)
		}
		return v, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, problem("is %v, which JSON cannot hold", x)
		}
		return v, nil
	case map[string]any:
		if x == nil {
			return nil, nil
		}
		m, err := normalizeMap(x, depth, false)
		if err != nil {
			return nil, err
		}
		return m, nil
	case []any:
		if x == nil {
			return nil, nil
		}
		if depth >= maxValueDepth {
			return nil, tooDeep()
		}
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err.atIndex(i)
			}
			out[i] = n
		}
		return out, nil
	case int64:
		return fromInt64(x)
	case int32:
		return int(x), nil
	case int16:
		return int(x), nil
	case int8:
		return int(x), nil
	case uint:
		return fromUint64(uint64(x))
	case uint64:
		return fromUint64(x)
	case uint32:
		return fromUint64(uint64(x))
	case uint16:
		return int(x), nil
	case uint8:
		return int(x), nil
	case float32:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, problem("is %v, which JSON cannot hold", x)
		}
		// The float64 that float32's shortest decimal form reads as,
		// which is what its JSON form reads back as.
		f, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
		return f, nil
	case json.Number:
		b := []byte(x)
		if end, _, ok := scanNumber(b, 0); !ok || end != len(b) {
			return nil, problem("is json.Number %.40q, which is not a JSON number", string(x))
		}
		return number(b, true)
	case []string:
		if x == nil {
			return nil, nil
		}
		out := make([]any, len(x))
		for i, s := range x {
			if !utf8.ValidString(s) {
				return nil, problem("is a string that is not valid UTF-8 (%.40q)", s).atIndex(i)
			}
			out[i] = s
		}
		return out, nil
	case map[string]string:
		if x == nil {
			return nil, nil
		}
		out := make(map[string]any, len(x))
		for k, s := range x {
			if !utf8.ValidString(k) {
				return nil, problem("is a map key that is not valid UTF-8 (%.40q)", k)
			}
			if !utf8.ValidString(s) {
				return nil, problem("is a string that is not valid UTF-8 (%.40q)", s).atKey(k)
			}
			out[k] = s
		}
		return out, nil
	}
	// Any other type: its encoding/json form, read back.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, problem("(%T) cannot be written as JSON: %v", v, err)
	}
	d := decoder{data: b, strict: true}
	out, verr := d.top()
	if verr != nil {
		return nil, verr
	}
	return out, nil
}

func tooDeep() *valueError {
	return problem("nests deeper than %d levels (or refers to itself)", maxValueDepth)
}

func fromInt64(x int64) (any, *valueError) {
	if int64(int(x)) != x {
		return nil, problem("is the integer %d, outside the range of int", x)
	}
	return int(x), nil
}

func fromUint64(x uint64) (any, *valueError) {
	if x > math.MaxInt64 || uint64(int(x)) != x {
		return nil, problem("is the integer %d, outside the int64 range", x)
	}
	return int(x), nil
}

// normalizeMap copies a map at depth, its values normalized; dropTemp
// leaves out temp: keys.
func normalizeMap(m map[string]any, depth int, dropTemp bool) (map[string]any, *valueError) {
	if depth >= maxValueDepth && len(m) > 0 {
		return nil, tooDeep()
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if dropTemp && strings.HasPrefix(k, TempPrefix) {
			continue
		}
		if !utf8.ValidString(k) {
			return nil, problem("has a key that is not valid UTF-8 (%.40q)", k)
		}
		n, err := normalize(v, depth+1)
		if err != nil {
			return nil, err.atKey(k)
		}
		out[k] = n
	}
	return out, nil
}

// AppendValue appends the JSON encoding of v to dst. Values of the types
// [NormalizeValue] returns are written directly: map keys sorted, strings
// escaped as encoding/json escapes them, and a float64 with a fraction or
// exponent even when it is integral (3.0, 1e+21), so that it reads back as
// a float64. A value of any other type is written as encoding/json writes
// it. It fails, wrapping [ErrInvalidArgument], for NaN, the infinities and
// whatever encoding/json refuses.
func AppendValue(dst []byte, v any) ([]byte, error) {
	out, err := appendValue(dst, v, 0)
	if err != nil {
		return dst, err.invalid("value")
	}
	return out, nil
}

func appendValue(b []byte, v any, depth int) ([]byte, *valueError) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float64:
		return appendFloat(b, x)
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		if depth >= maxCodecDepth {
			return b, problem("nests deeper than %d levels (or refers to itself)", maxCodecDepth)
		}
		var buf [16]string
		keys := buf[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err *valueError
			if b, err = appendValue(b, x[k], depth+1); err != nil {
				return b, err.atKey(k)
			}
		}
		return append(b, '}'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		if depth >= maxCodecDepth {
			return b, problem("nests deeper than %d levels (or refers to itself)", maxCodecDepth)
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err *valueError
			if b, err = appendValue(b, e, depth+1); err != nil {
				return b, err.atIndex(i)
			}
		}
		return append(b, ']'), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, problem("(%T) cannot be written as JSON: %v", v, err)
	}
	return append(b, j...), nil
}

// appendFloat writes f as encoding/json does, plus ".0" when that form
// has neither a fraction nor an exponent.
func appendFloat(b []byte, f float64) ([]byte, *valueError) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, problem("is %v, which JSON cannot hold", f)
	}
	start := len(b)
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 is written 1e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b, nil
	}
	for _, c := range b[start:] {
		if c == '.' {
			return b, nil
		}
	}
	return append(b, ".0"...), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, escaped as encoding/json escapes
// it: quotes, backslashes and control characters, the HTML characters <, >
// and &, U+2028 and U+2029; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// DecodeValue reads one JSON value into the types [NormalizeValue]
// returns: objects as map[string]any (a repeated key keeps its last
// value), arrays as []any, strings (invalid UTF-8 and lone surrogates
// become U+FFFD, as with encoding/json), booleans, null as nil, an integer
// literal as int and any other number as float64. An integer literal
// outside the int64 range, which no append accepts but a log written by
// another program may hold, reads as the nearest float64, so that such a
// log still opens. White space may surround the value; anything else
// after it is an error, as is malformed JSON and a number beyond float64's
// range.
func DecodeValue(data []byte) (any, error) {
	d := decoder{data: data}
	v, err := d.top()
	if err != nil {
		return nil, fmt.Errorf("JSON value%s: %s", err.where(""), err.problem)
	}
	return v, nil
}

// decodeMap is DecodeValue for a value that must be an object or null.
func decodeMap(data []byte) (map[string]any, error) {
	v, err := DecodeValue(data)
	if err != nil {
		return nil, err
	}
	switch m := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return m, nil
	}
	kind := "a number"
	switch v.(type) {
	case string:
		kind = "a string"
	case bool:
		kind = "a boolean"
	case []any:
		kind = "an array"
	}
	return nil, fmt.Errorf("JSON value is %s, not an object", kind)
}

// decoder reads JSON values; strict refuses integer literals outside
// the int64 range rather than reading them as float64.
type decoder struct {
	data   []byte
	i      int
	strict bool
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *decoder) space() {
	for d.i < len(d.data) && isSpace(d.data[d.i]) {
		d.i++
	}
}

func (d *decoder) top() (any, *valueError) {
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.data) {
		return nil, problem("has data after its end, at offset %d", d.i)
	}
	return v, nil
}

func (d *decoder) value(depth int) (any, *valueError) {
	d.space()
	if d.i >= len(d.data) {
		return nil, problem("ends early")
	}
	switch c := d.data[d.i]; c {
	case '{':
		return d.object(depth)
	case '[':
		return d.array(depth)
	case '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return s, nil
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	default:
		end, _, ok := scanNumber(d.data, d.i)
		if !ok {
			return nil, problem("has an unexpected %q at offset %d", c, d.i)
		}
		lit := d.data[d.i:end]
		d.i = end
		return number(lit, d.strict)
	}
}

func (d *decoder) literal(word string) *valueError {
	if !bytes.HasPrefix(d.data[d.i:], []byte(word)) {
		return problem("has an unexpected %q at offset %d", d.data[d.i], d.i)
	}
	d.i += len(word)
	return nil
}

func (d *decoder) object(depth int) (any, *valueError) {
	if depth >= maxCodecDepth {
		return nil, problem("nests deeper than %d levels", maxCodecDepth)
	}
	d.i++ // {
	m := make(map[string]any)
	d.space()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, problem("has no object key at offset %d", d.i)
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return nil, problem("has no colon after an object key, at offset %d", d.i)
		}
		d.i++
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err.atKey(k)
		}
		m[k] = v
		d.space()
		if d.i < len(d.data) {
			switch d.data[d.i] {
			case ',':
				d.i++
				continue
			case '}':
				d.i++
				return m, nil
			}
		}
		return nil, problem("has an object without its closing brace, at offset %d", d.i)
	}
}

func (d *decoder) array(depth int) (any, *valueError) {
	if depth >= maxCodecDepth {
		return nil, problem("nests deeper than %d levels", maxCodecDepth)
	}
	d.i++ // [
	a := []any{}
	d.space()
	if d.i < len(d.data) && d.data[d.i] == ']' {
		d.i++
		return a, nil
	}
	for {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err.atIndex(len(a))
		}
		a = append(a, v)
		d.space()
		if d.i < len(d.data) {
			switch d.data[d.i] {
			case ',':
				d.i++
				continue
			case ']':
				d.i++
				return a, nil
			}
		}
		return nil, problem("has an array without its closing bracket, at offset %d", d.i)
	}
}

// str reads the string at d.i. Strings without escapes that are valid
// UTF-8 are taken as they are; the others go through encoding/json, so
// that escapes, surrogates and invalid bytes read exactly as it reads them.
func (d *decoder) str() (string, *valueError) {
	start := d.i
	i := start + 1
	escaped, ascii := false, true
	for ; i < len(d.data); i++ {
		c := d.data[i]
		if c == '"' {
			break
		}
		switch {
		case c == '\\':
			escaped = true
			i++
		case c < 0x20:
			return "", problem("has a control character in a string, at offset %d", i)
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if i >= len(d.data) {
		return "", problem("has a string without its closing quote, at offset %d", start)
	}
	d.i = i + 1
	body := d.data[start+1 : i]
	if !escaped && (ascii || utf8.Valid(body)) {
		return string(body), nil
	}
	var s string
	if err := json.Unmarshal(d.data[start:i+1], &s); err != nil {
		return "", problem("has a malformed string at offset %d: %v", start, err)
	}
	return s, nil
}

// scanNumber returns the end of the JSON number that starts at b[i], and
// whether it is an integer literal (no fraction, no exponent); ok is false
// if no number starts there.
func scanNumber(b []byte, i int) (end int, isInt, ok bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, false, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, isInt, true
}

// number converts a well-formed JSON number literal: an integer literal to
// int, any other to float64. An integer literal outside int's range is an
// error when strict, and otherwise read as a float64.
func number(lit []byte, strict bool) (any, *valueError) {
	isInt := true
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			isInt = false
			break
		}
	}
	if isInt {
		digits := lit
		if digits[0] == '-' {
			digits = digits[1:]
		}
		if len(digits) <= 18 { // fits in int64 whatever the digits
			var n int64
			for _, c := range digits {
				n = n*10 + int64(c-'0')
			}
			if lit[0] == '-' {
				n = -n
			}
			if int64(int(n)) == n {
				return int(n), nil
			}
		} else if n, err := strconv.ParseInt(string(lit), 10, 0); err == nil {
			return int(n), nil
		}
		if strict {
			return nil, problem("is the integer %.40s, outside the int64 range", lit)
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, problem("is the number %.40s, outside the float64 range", lit)
	}
	return f, nil
}

// valueMap is a map of JSON values as the record and event codecs write
// and read it: with [AppendValue] and [DecodeValue].
type valueMap map[string]any

// MarshalJSON writes the map with AppendValue.
func (m valueMap) MarshalJSON() ([]byte, error) {
	return AppendValue(make([]byte, 0, 64), map[string]any(m))
}

// UnmarshalJSON reads an object (or null) with DecodeValue.
func (m *valueMap) UnmarshalJSON(b []byte) error {
	v, err := decodeMap(b)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// jsonValue is one JSON value as the event codec writes and reads it.
// Its zero value holds nil, so a field of this type tagged omitzero is
// left out when nil.
type jsonValue struct{ v any }

// MarshalJSON writes the value with AppendValue.
func (j jsonValue) MarshalJSON() ([]byte, error) { return AppendValue(nil, j.v) }

// UnmarshalJSON reads the value with DecodeValue.
func (j *jsonValue) UnmarshalJSON(b []byte) error {
	v, err := DecodeValue(b)
	if err != nil {
		return err
	}
	j.v = v
	return nil
}
