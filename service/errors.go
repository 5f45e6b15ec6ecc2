package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sessionlog/sessionlog/eventlog"
)

// The sentinel errors. They are the same values as package eventlog's, so
// [errors.Is] recognises them whichever layer wrapped them.
var (
	// ErrInvalidArgument: the input can never succeed as given. The message
	// names the field and its problem.
	ErrInvalidArgument = eventlog.ErrInvalidArgument
	// ErrNotFound: the session does not exist (or was deleted).
	ErrNotFound = eventlog.ErrNotFound
	// ErrAlreadyExists: Create named a session that exists.
	ErrAlreadyExists = eventlog.ErrAlreadyExists
	// ErrStaleSession: the handle has not seen every stored event (see
	// Options.LastWriterWins). Get the session again and retry.
	ErrStaleSession = eventlog.ErrStaleSession
	// ErrCompacted: a user or app subscription is behind records that a
	// deletion freed. The error is a [*CompactedError]; re-read the state
	// and follow on after its Served position.
	ErrCompacted = eventlog.ErrCompacted
	// ErrClosed: the service was closed.
	ErrClosed = eventlog.ErrClosed
)

// CompactedError is the error that ends a user or app subscription behind
// records a deletion freed; it matches [ErrCompacted]. Its Served field is
// the position to follow on after. See [eventlog.CompactedError].
type CompactedError = eventlog.CompactedError

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func invalid(field, problem string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidArgument, field, fmt.Sprintf(problem, args...))
}

// required checks a name that must not be blank (CONTRACT K1).
func required(field, v string) error {
	switch {
	case v == "":
		return invalid(field, "is empty")
	case strings.TrimSpace(v) == "":
		return invalid(field, "is only whitespace (%q)", v)
	}
	return validUTF8(field, v)
}

// validUTF8 refuses a name that is not valid UTF-8 (CONTRACT K1): ADK JSON
// cannot carry it, and its encoding would make two such names one.
func validUTF8(field, v string) error {
	if !utf8.ValidString(v) {
		return invalid(field, "is not valid UTF-8 (%q)", v)
	}
	return nil
}

// checkKey validates a key that names an existing session and returns it
// with its session ID trimmed.
func checkKey(key SessionKey) (SessionKey, error) {
	if err := required("appName", key.AppName); err != nil {
		return key, err
	}
	if err := required("userId", key.UserID); err != nil {
		return key, err
	}
	key.SessionID = strings.TrimSpace(key.SessionID)
	if key.SessionID == "" {
		return key, invalid("sessionId", "is empty")
	}
	return key, validUTF8("sessionId", key.SessionID)
}

// checkImportKey applies the key rules of CONTRACT K1 to an imported record:
// retained state names only an app, every other kind a whole session.
func checkImportKey(rec *Record) error {
	if err := required("appName", rec.Key.AppName); err != nil {
		return err
	}
	if rec.Kind == eventlog.KindStateRetained {
		return nil
	}
	if err := required("userId", rec.Key.UserID); err != nil {
		return err
	}
	if err := required("sessionId", rec.Key.SessionID); err != nil {
		return err
	}
	if id := rec.Key.SessionID; strings.TrimSpace(id) != id {
		// Every call trims the IDs it is given: no call could reach it.
		return invalid("sessionId", "has surrounding whitespace (%q)", id)
	}
	return nil
}

// maxDepth bounds how deeply maps and slices may nest in state values,
// metadata and tool arguments: deep enough for any real document, and a
// guard against cyclic values, which would otherwise recurse for ever.
const maxDepth = 100

// checkValues rejects a map whose values nest deeper than maxDepth.
func checkValues(field string, m map[string]any) error {
	if len(m) > 0 && !shallow(m, maxDepth) {
		return tooDeep(field)
	}
	return nil
}

func tooDeep(field string) error {
	return invalid(field, "nests deeper than %d levels (or refers to itself)", maxDepth)
}

// shallow reports whether v nests no deeper than depth.
func shallow(v any, depth int) bool {
	if depth < 0 {
		return false
	}
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if !shallow(e, depth-1) {
				return false
			}
		}
	case []any:
		for _, e := range v {
			if !shallow(e, depth-1) {
				return false
			}
		}
	case []map[string]any:
		for _, e := range v {
			if !shallow(e, depth-1) {
				return false
			}
		}
	}
	return true
}

// checkEvent rejects an event no store should copy or encode: nil, with
// values nested too deeply, or with a response schema that is not JSON
// (CONTRACT B1).
func checkEvent(ev *Event) error {
	if ev == nil {
		return invalid("event", "is nil")
	}
	if err := checkValues("actions.stateDelta", ev.Actions.StateDelta); err != nil {
		return err
	}
	if err := checkValues("customMetadata", ev.CustomMetadata); err != nil {
		return err
	}
	if err := checkValues("actions.requestedAuthConfigs", ev.Actions.RequestedAuthConfigs); err != nil {
		return err
	}
	if err := checkValues("actions.requestedToolConfirmations", ev.Actions.RequestedToolConfirmations); err != nil {
		return err
	}
	if !shallow(ev.Output, maxDepth) {
		return tooDeep("output")
	}
	if r := ev.RequestedInput; r != nil && !shallow(r.Payload, maxDepth) {
		return tooDeep("requestedInput.payload")
	}
	if err := checkContent(ev); err != nil {
		return err
	}
	if ev.Content == nil {
		return nil
	}
	for i, p := range ev.Content.Parts {
		if p == nil {
			continue
		}
		// Field names are built only for the message.
		var field string
		switch {
		case p.FunctionCall != nil && !shallow(p.FunctionCall.Args, maxDepth):
			field = "functionCall.args"
		case p.FunctionResponse != nil && !shallow(p.FunctionResponse.Response, maxDepth):
			field = "functionResponse.response"
		case p.ToolCall != nil && !shallow(p.ToolCall.Args, maxDepth):
			field = "toolCall.args"
		case p.ToolResponse != nil && !shallow(p.ToolResponse.Response, maxDepth):
			field = "toolResponse.response"
		case !shallow(p.PartMetadata, maxDepth):
			field = "partMetadata"
		default:
			continue
		}
		return tooDeep(fmt.Sprintf("content.parts[%d].%s", i, field))
	}
	return nil
}

// checkContent is the part of [checkEvent] that the store's copy of an
// event (eventlog.NormalizeEvent) does not check as it copies: the
// response schema, which is JSON held as bytes.
func checkContent(ev *Event) error {
	if r := ev.RequestedInput; r != nil && r.ResponseSchema != nil && !json.Valid(r.ResponseSchema) {
		return invalid("requestedInput.responseSchema", "is not valid JSON (%.40q)", r.ResponseSchema)
	}
	return nil
}
