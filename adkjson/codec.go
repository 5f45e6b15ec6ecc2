package adkjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// Format is the timestamp form [Marshal] writes, named after the ADK
// runtime that writes it. The zero value is [FormatGo].
type Format int

// The formats, one per ADK runtime.
const (
	// FormatGo writes every time as an RFC 3339 string in UTC with up to
	// nanosecond digits, as the Go ADK's events and sessionlog do.
	FormatGo Format = iota
	// FormatPython writes every time as epoch seconds with up to nine
	// fractional digits, as the Python ADK's float fields do.
	FormatPython
	// FormatJava writes lastUpdateTime as fractional epoch seconds and event
	// timestamps as whole epoch milliseconds (finer digits are dropped), as
	// the Java ADK does, and an event's customMetadata as the Java ADK's
	// list of entries (key and stringValue, numericValue or
	// stringListValue): a value of another kind is ErrInvalidArgument.
	FormatJava
)

var formatNames = [...]string{FormatGo: "go", FormatPython: "python", FormatJava: "java"}

// String returns the format's name: "go", "python" or "java".
func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat returns the format a name from [Format.String] names, in any
// letter case.
func ParseFormat(name string) (Format, error) {
	for i, n := range formatNames {
		if strings.EqualFold(n, name) {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("adkjson: %w: format %q is not one of %s", service.ErrInvalidArgument, name, strings.Join(formatNames[:], ", "))
}

// Options configure [Marshal] and [Export]. The zero value writes compact
// JSON in [FormatGo].
type Options struct {
	// Format chooses how times are written.
	Format Format
	// Indent, when not empty, puts each nested value on its own line,
	// indented by this string per level, as [json.MarshalIndent] does. It
	// may hold only JSON white space (spaces, tabs, line breaks).
	Indent string
}

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"

// Epoch numbers below these magnitudes read back in the other unit (see
// [eventlog.ParseTimestamp]), so the encoder refuses to write them.
const (
	maxSeconds = 100_000_000_000 // 1e11 s: the year 5138
	minMillis  = 100_000_000_000 // 1e11 ms: March 1973
)

// document is the wire shape of a session.
type document struct {
	ID             string            `json:"id"`
	AppName        string            `json:"appName"`
	UserID         string            `json:"userId"`
	State          stateMap          `json:"state"`
	Events         []json.RawMessage `json:"events"`
	LastUpdateTime json.RawMessage   `json:"lastUpdateTime,omitempty"`
}

// Marshal encodes sess as an ADK session document: its key, its State (nil
// is written as {}), its Events (nil as []) and its LastUpdateTime (left out
// when zero), with times in opts.Format. Version is not part of the
// document. Map keys are written sorted, so equal sessions encode to equal
// bytes.
//
// It fails with an error wrapping [service.ErrInvalidArgument] and naming
// the field for a nil session or event, an unknown format, an indent that
// is not JSON white space, a state value JSON cannot hold
// (NaN, a channel, a cycle, ...), and a time the format cannot write so that
// every reader reads it back: outside the years 0001–9999, and as epoch
// numbers also after the year 5138 in seconds or between 1966 and 1973 in
// Java's milliseconds, where the two units overlap.
func Marshal(sess *service.Session, opts Options) ([]byte, error) {
	if sess == nil {
		return nil, encodeErr(invalid("session", "is nil"))
	}
	if opts.Format < FormatGo || opts.Format > FormatJava {
		return nil, encodeErr(invalid("format", "%d is not a Format", int(opts.Format)))
	}
	if strings.Trim(opts.Indent, jsonSpace) != "" {
		return nil, encodeErr(invalid("indent", "%q is not JSON white space: the document would not parse", opts.Indent))
	}
	doc := document{
		ID: sess.ID, AppName: sess.AppName, UserID: sess.UserID,
		State:  stateMap(sess.State),
		Events: make([]json.RawMessage, len(sess.Events)),
	}
	if doc.State == nil {
		doc.State = map[string]any{}
	}
	if err := checkEncodable(sess.State); err != nil {
		return nil, encodeErr(err)
	}
	for i, ev := range sess.Events {
		b, err := marshalEvent(ev, opts.Format)
		if err != nil {
			return nil, encodeErr(fmt.Errorf("events[%d]: %w", i, err))
		}
		doc.Events[i] = b
	}
	if !sess.LastUpdateTime.IsZero() {
		t, err := formatTime(sess.LastUpdateTime, opts.Format, false)
		if err != nil {
			return nil, encodeErr(fmt.Errorf("lastUpdateTime: %w", err))
		}
		doc.LastUpdateTime = t
	}
	var (
		b   []byte
		err error
	)
	if opts.Indent != "" {
		b, err = json.MarshalIndent(doc, "", opts.Indent)
	} else {
		b, err = json.Marshal(doc)
	}
	if err != nil { // every part was checked above; kept for safety
		return nil, encodeErr(fmt.Errorf("%w: %w", service.ErrInvalidArgument, err))
	}
	return b, nil
}

func encodeErr(err error) error { return fmt.Errorf("adkjson: encode session: %w", err) }

// checkEncodable names the first state key, in sorted order, whose value
// JSON cannot hold. Encoding the whole map first keeps the common case to
// one pass.
func checkEncodable(state map[string]any) error {
	if _, err := eventlog.AppendValue(nil, state); err == nil {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(state)) {
		if _, err := eventlog.AppendValue(nil, state[k]); err != nil {
			return invalid(fmt.Sprintf("state[%q]", k), "cannot be written as JSON: %v", err)
		}
	}
	return invalid("state", "cannot be written as JSON")
}

// marshalEvent encodes ev with the event codec, then rewrites its timestamp
// in format f.
func marshalEvent(ev *eventlog.Event, f Format) (json.RawMessage, error) {
	if ev == nil {
		return nil, invalid("event", "is nil")
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", service.ErrInvalidArgument, err)
	}
	javaMetadata := f == FormatJava && len(ev.CustomMetadata) > 0
	if f == FormatGo || (ev.Timestamp.IsZero() && !javaMetadata) {
		return b, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	if !ev.Timestamp.IsZero() {
		ts, err := formatTime(ev.Timestamp, f, true)
		if err != nil {
			return nil, fmt.Errorf("timestamp: %w", err)
		}
		fields["timestamp"] = ts
	}
	if javaMetadata {
		list, err := javaCustomMetadata(ev.CustomMetadata)
		if err != nil {
			return nil, err
		}
		fields["customMetadata"] = list
	}
	return json.Marshal(fields)
}

// javaCustomMetadata writes an event's custom metadata in the Java ADK's
// form, a list of genai CustomMetadata entries in key order, which the
// event codec reads back into the same map: a string as stringValue, a
// number as numericValue, a list of strings as stringListValue. Another
// value has no form there: ErrInvalidArgument naming it.
func javaCustomMetadata(m map[string]any) (json.RawMessage, error) {
	type stringList struct {
		Values []string `json:"values"`
	}
	type entry struct {
		Key             string      `json:"key"`
		StringValue     *string     `json:"stringValue,omitempty"`
		NumericValue    *float64    `json:"numericValue,omitempty"`
		StringListValue *stringList `json:"stringListValue,omitempty"`
	}
	entries := make([]entry, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e := entry{Key: k}
		switch v := m[k].(type) {
		case string:
			e.StringValue = &v
		case float64:
			e.NumericValue = &v
		case int:
			f := float64(v)
			e.NumericValue = &f
		case []any:
			list := make([]string, len(v))
			for i, x := range v {
				s, ok := x.(string)
				if !ok {
					return nil, invalid(fmt.Sprintf("customMetadata[%q]", k), "is a list that holds %T: the Java ADK's form holds lists of strings only", x)
				}
				list[i] = s
			}
			e.StringListValue = &stringList{Values: list}
		default:
			return nil, invalid(fmt.Sprintf("customMetadata[%q]", k), "is %T: the Java ADK's form holds a string, a number or a list of strings", v)
		}
		entries = append(entries, e)
	}
	return json.Marshal(entries)
}

// formatTime writes t in format f; event says whether t is an event's
// timestamp (the Java ADK writes those in milliseconds).
func formatTime(t time.Time, f Format, event bool) (json.RawMessage, error) {
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return nil, invalid("", "%s is outside the years 0001-9999", eventlog.FormatTimestamp(t))
	}
	switch {
	case f == FormatGo:
		return json.Marshal(eventlog.FormatTimestamp(t))
	case f == FormatJava && event:
		ms := t.UnixMilli()
		if ms != 0 && ms > -minMillis && ms < minMillis {
			return nil, invalid("", "%s in epoch milliseconds (%d) would read back as seconds", eventlog.FormatTimestamp(t), ms)
		}
		return json.RawMessage(strconv.FormatInt(ms, 10)), nil
	}
	sec := t.Unix()
	if sec >= maxSeconds || sec <= -maxSeconds {
		return nil, invalid("", "%s in epoch seconds (%d) would read back as milliseconds", eventlog.FormatTimestamp(t), sec)
	}
	return json.RawMessage(epochSeconds(sec, int64(t.Nanosecond()))), nil
}

// epochSeconds writes sec + nsec/1e9 exactly, with no trailing zeros.
func epochSeconds(sec, nsec int64) string {
	sign := ""
	if sec < 0 {
		// time.Unix floors: -0.25 s is sec -1, nsec 750000000.
		sign = "-"
		if nsec > 0 {
			sec, nsec = -(sec + 1), 1_000_000_000-nsec
		} else {
			sec = -sec
		}
	}
	s := sign + strconv.FormatInt(sec, 10)
	if nsec > 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%09d", nsec), "0")
	}
	return s
}

// Unmarshal decodes an ADK session document written by any ADK runtime:
// times may take every form [eventlog.ParseTimestamp] accepts, in any mix.
// Unknown fields are ignored, because the runtimes add fields over time.
// State values decode as the values in the events' state deltas do
// ([eventlog.DecodeValue]): an integer as int, any other number as float64
// (CONTRACT V1).
//
// Unmarshal checks the document's syntax and types; it does not check that
// the document could be stored (keys present, events in order, IDs unique):
// [ImportSession] does. It fails with an error wrapping
// [service.ErrInvalidArgument] and naming the field, for JSON that is not
// one session object, a null event, a malformed time, and a document in
// Python's snake_case field names (app_name, user_id: what pydantic writes
// without by_alias=True), or with an event that names one of its fields or
// its actions' so (state_delta), which this codec could not read in full.
// The returned session has Version 0.
func Unmarshal(data []byte) (*service.Session, error) {
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] != '{' {
		return nil, decodeErr(invalid("document", "is %s, not a session object", jsonKind(trimmed)))
	}
	var in struct {
		document
		// Python's own field names, which pydantic writes when
		// model_dump_json is called without by_alias=True; events then
		// carry them too (state_delta, ...), so such a document is refused
		// rather than read with its deltas missing.
		SnakeAppName json.RawMessage `json:"app_name"`
		SnakeUserID  json.RawMessage `json:"user_id"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, decodeErr(fmt.Errorf("%w: %w", service.ErrInvalidArgument, err))
	}
	doc := in.document
	if (in.SnakeAppName != nil && doc.AppName == "") || (in.SnakeUserID != nil && doc.UserID == "") {
		return nil, decodeErr(invalid("document", "has Python's snake_case field names (app_name, user_id): "+
			"ADK session JSON is camelCase, as Python writes it with model_dump_json(by_alias=True)"))
	}
	sess := &service.Session{ID: doc.ID, AppName: doc.AppName, UserID: doc.UserID, State: doc.State}
	if sess.State == nil {
		sess.State = map[string]any{}
	}
	t, err := eventlog.ParseTimestamp(doc.LastUpdateTime)
	if err != nil {
		return nil, decodeErr(fmt.Errorf("lastUpdateTime: %w: %w", service.ErrInvalidArgument, err))
	}
	sess.LastUpdateTime = t
	sess.Events = make([]*eventlog.Event, len(doc.Events))
	for i, raw := range doc.Events {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, decodeErr(invalid(fmt.Sprintf("events[%d]", i), "is null"))
		}
		ev := new(eventlog.Event)
		if err := json.Unmarshal(raw, ev); err != nil {
			return nil, decodeErr(fmt.Errorf("events[%d]: %w: %w", i, service.ErrInvalidArgument, err))
		}
		if err := snakeKeys(fmt.Sprintf("events[%d]", i), raw); err != nil {
			return nil, decodeErr(err)
		}
		sess.Events[i] = ev
	}
	return sess, nil
}

// jsonKind names the kind of JSON value b starts, for messages.
func jsonKind(b []byte) string {
	switch {
	case b[0] == '[':
		return "an array"
	case b[0] == '"':
		return "a string"
	case bytes.Equal(b, []byte("null")):
		return "null"
	case bytes.Equal(b, []byte("true")) || bytes.Equal(b, []byte("false")):
		return "a boolean"
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		return "a number"
	}
	return "not JSON"
}

func decodeErr(err error) error { return fmt.Errorf("adkjson: decode session: %w", err) }

// invalid builds an ErrInvalidArgument error that starts with the field
// it names (if any), like the field prefixes of errors from deeper down.
func invalid(field, problem string, args ...any) error {
	if field != "" {
		field += ": "
	}
	return fmt.Errorf("%s%w: %s", field, service.ErrInvalidArgument, fmt.Sprintf(problem, args...))
}

// stateMap is a session's state as the document holds it: values written
// by [eventlog.AppendValue] (an integral float keeps a fraction) and read
// by [eventlog.DecodeValue], as the events' values are.
type stateMap map[string]any

// MarshalJSON writes the state with eventlog.AppendValue.
func (m stateMap) MarshalJSON() ([]byte, error) {
	return eventlog.AppendValue(nil, map[string]any(m))
}

// UnmarshalJSON reads an object (or null) with eventlog.DecodeValue.
func (m *stateMap) UnmarshalJSON(b []byte) error {
	v, err := eventlog.DecodeValue(b)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	switch v := v.(type) {
	case nil:
		*m = nil
	case map[string]any:
		*m = v
	default:
		return fmt.Errorf("state is not an object")
	}
	return nil
}

// eventFields and actionFields are the JSON names of an event's fields and
// of its actions' (camelCase, as every runtime writes them with aliases).
var eventFields, actionFields = jsonNames(reflect.TypeFor[eventlog.Event]()), jsonNames(reflect.TypeFor[eventlog.EventActions]())

// jsonNames returns the JSON names of t's fields.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

// snakeKeys refuses an event (field, already decoded from raw) that names one of
// its fields or its actions' in snake_case (state_delta for stateDelta):
// the codec, which reads camelCase, would have left it out. Other unknown
// keys are left alone, as the runtimes add fields over time.
func snakeKeys(field string, raw json.RawMessage) error {
	var ev struct {
		Fields  map[string]json.RawMessage
		Actions map[string]json.RawMessage `json:"actions"`
	}
	if json.Unmarshal(raw, &ev.Fields) != nil {
		return nil // the event decoded; its keys are its codec's business
	}
	if a, ok := ev.Fields["actions"]; ok {
		_ = json.Unmarshal(a, &ev.Actions)
	}
	for _, c := range []struct {
		where  string
		keys   map[string]json.RawMessage
		fields map[string]bool
	}{{field, ev.Fields, eventFields}, {field + ".actions", ev.Actions, actionFields}} {
		for _, k := range slices.Sorted(maps.Keys(c.keys)) {
			if camel := camelCase(k); camel != k && c.fields[camel] {
				return invalid(c.where, "has %q, Python's snake_case name of %q: ADK session JSON is camelCase, "+
					"as Python writes it with model_dump_json(by_alias=True)", k, camel)
			}
		}
	}
	return nil
}

// camelCase turns a snake_case name into camelCase: state_delta into
// stateDelta, long_running_tool_ids into longRunningToolIds.
func camelCase(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if p := parts[i]; p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}
