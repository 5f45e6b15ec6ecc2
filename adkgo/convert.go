package adkgo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/jsonschema-go/jsonschema"
	"google.golang.org/adk/v2/model"
	"google.golang.org/adk/v2/session"
	"google.golang.org/adk/v2/tool/toolconfirmation"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// FromADK converts a Go ADK event to sessionlog's event model. Every field
// of ev has a place in the result, so [ToADK] gives ev back (less any nil
// content parts, which carry nothing): the embedded
// model.LLMResponse, the actions, the long-running tool IDs, the branch,
// the isolation scope and the workflow fields. Two ADK types that the
// event log does not import are kept in their JSON form, as every ADK
// runtime writes them: a tool confirmation as a {"hint", "confirmed",
// "payload"} map, and a requested input's response schema as its JSON text.
//
// The keys of CustomMetadata that carry the actions the Go ADK's event has
// no field for ([MetadataKeyRewindBeforeInvocationID],
// [MetadataKeyEndOfAgent], [MetadataKeyRequestedAuthConfigs]) are moved
// into those actions and left out of the result's CustomMetadata, which is
// nil when nothing else is left in it. So an ADK event that carries
// [MetadataKeyRewindBeforeInvocationID] appends as a rewind marker: reads
// that leave out rewound events honour it, but its state delta is only
// what ev holds ([Service.Rewind] computes the restoring delta).
//
// The result holds ev's own maps, slices and pointers, not copies (but for
// CustomMetadata when it holds one of those keys); the service copies what
// it stores. A nil ev, a value under one of those keys of another kind than
// ToADK writes, and a response schema that does not survive its own JSON
// encoding, give ErrInvalidArgument.
func FromADK(ev *session.Event) (*eventlog.Event, error) {
	if ev == nil {
		return nil, fmt.Errorf("%w: event is nil", service.ErrInvalidArgument)
	}
	r := &ev.LLMResponse
	out := &eventlog.Event{
		ID:                      ev.ID,
		InvocationID:            ev.InvocationID,
		Author:                  ev.Author,
		Branch:                  ev.Branch,
		Timestamp:               ev.Timestamp,
		Content:                 r.Content,
		Partial:                 r.Partial,
		TurnComplete:            r.TurnComplete,
		Interrupted:             r.Interrupted,
		ErrorCode:               r.ErrorCode,
		ErrorMessage:            r.ErrorMessage,
		UsageMetadata:           r.UsageMetadata,
		GroundingMetadata:       r.GroundingMetadata,
		CitationMetadata:        r.CitationMetadata,
		LogprobsResult:          r.LogprobsResult,
		AvgLogprobs:             r.AvgLogprobs,
		FinishReason:            r.FinishReason,
		ModelVersion:            r.ModelVersion,
		InputTranscription:      r.InputTranscription,
		OutputTranscription:     r.OutputTranscription,
		SessionResumptionHandle: r.SessionResumptionHandle,
		LongRunningToolIDs:      ev.LongRunningToolIDs,
		IsolationScope:          ev.IsolationScope,
		Routes:                  ev.Routes,
		Output:                  ev.Output,
		Actions: eventlog.EventActions{
			StateDelta:        ev.Actions.StateDelta,
			ArtifactDelta:     ev.Actions.ArtifactDelta,
			TransferToAgent:   ev.Actions.TransferToAgent,
			Escalate:          ev.Actions.Escalate,
			SkipSummarization: ev.Actions.SkipSummarization,
		},
	}
	meta, err := takeCarried(r.CustomMetadata, &out.Actions)
	if err != nil {
		return nil, err
	}
	out.CustomMetadata = meta
	if c := ev.Actions.RequestedToolConfirmations; c != nil {
		out.Actions.RequestedToolConfirmations = make(map[string]any, len(c))
		for id, tc := range c {
			out.Actions.RequestedToolConfirmations[id] = map[string]any{
				"hint": tc.Hint, "confirmed": tc.Confirmed, "payload": tc.Payload,
			}
		}
	}
	if in := ev.RequestedInput; in != nil {
		req := &eventlog.RequestInput{InterruptID: in.InterruptID, Message: in.Message, Payload: in.Payload}
		if in.ResponseSchema != nil {
			b, err := json.Marshal(in.ResponseSchema)
			if err == nil {
				// Checked here so that what is stored always reads back.
				_, err = decodeSchema(b)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: requestedInput.responseSchema cannot be converted: %v", service.ErrInvalidArgument, err)
			}
			req.ResponseSchema = b
		}
		out.RequestedInput = req
	}
	if n := ev.NodeInfo; n != nil {
		out.NodeInfo = &eventlog.NodeInfo{Path: n.Path, MessageAsOutput: n.MessageAsOutput, OutputFor: n.OutputFor}
	}
	return out, nil
}

// ToADK converts a sessionlog event to the Go ADK's event model, the
// inverse of [FromADK]. Every field of eventlog.Event has a place in the
// result. Three actions that the Go ADK's event has no field for, which
// other ADK runtimes write and [service.Service.Rewind] appends, are
// carried in the result's CustomMetadata, each under its own key:
// Actions.RewindBeforeInvocationID under
// [MetadataKeyRewindBeforeInvocationID], Actions.EndOfAgent under
// [MetadataKeyEndOfAgent] and Actions.RequestedAuthConfigs under
// [MetadataKeyRequestedAuthConfigs]. Those keys mean those actions and
// nothing else: a stored CustomMetadata entry under one of them (written
// through the service, not through FromADK) gives way to the action, or is
// left out when the action is not set. Nil content parts are left out too:
// they carry nothing, and the Go ADK's runner panics on them.
//
// The result holds ev's own maps, slices and pointers, not copies (but for
// CustomMetadata when one of those actions is set or one of those keys is
// held), so treat it as read-only when ev is a stored event. A nil ev, a
// tool confirmation that is not an object of the ADK's shape, and a
// response schema that is not a JSON Schema give ErrInvalidArgument.
func ToADK(ev *eventlog.Event) (*session.Event, error) {
	if ev == nil {
		return nil, fmt.Errorf("%w: event is nil", service.ErrInvalidArgument)
	}
	out := new(session.Event)
	if err := toADKInto(out, ev); err != nil {
		return nil, err
	}
	return out, nil
}

// toADKInto converts ev into *out, which it overwrites: Get converts a whole
// session's events into one slab this way.
func toADKInto(out *session.Event, ev *eventlog.Event) error {
	*out = session.Event{
		LLMResponse: model.LLMResponse{
			Content:                 withoutNilParts(ev.Content),
			CitationMetadata:        ev.CitationMetadata,
			GroundingMetadata:       ev.GroundingMetadata,
			UsageMetadata:           ev.UsageMetadata,
			CustomMetadata:          ev.CustomMetadata,
			LogprobsResult:          ev.LogprobsResult,
			InputTranscription:      ev.InputTranscription,
			OutputTranscription:     ev.OutputTranscription,
			ModelVersion:            ev.ModelVersion,
			Partial:                 ev.Partial,
			TurnComplete:            ev.TurnComplete,
			Interrupted:             ev.Interrupted,
			SessionResumptionHandle: ev.SessionResumptionHandle,
			ErrorCode:               ev.ErrorCode,
			ErrorMessage:            ev.ErrorMessage,
			FinishReason:            ev.FinishReason,
			AvgLogprobs:             ev.AvgLogprobs,
		},
		ID:                 ev.ID,
		Timestamp:          ev.Timestamp,
		InvocationID:       ev.InvocationID,
		Branch:             ev.Branch,
		IsolationScope:     ev.IsolationScope,
		Author:             ev.Author,
		LongRunningToolIDs: ev.LongRunningToolIDs,
		Routes:             ev.Routes,
		Output:             ev.Output,
		Actions: session.EventActions{
			StateDelta:        ev.Actions.StateDelta,
			ArtifactDelta:     ev.Actions.ArtifactDelta,
			SkipSummarization: ev.Actions.SkipSummarization,
			TransferToAgent:   ev.Actions.TransferToAgent,
			Escalate:          ev.Actions.Escalate,
		},
	}
	if len(ev.CustomMetadata) > 0 || carriesAny(&ev.Actions) {
		out.CustomMetadata = withCarried(ev.CustomMetadata, &ev.Actions)
	}
	if c := ev.Actions.RequestedToolConfirmations; c != nil {
		out.Actions.RequestedToolConfirmations = make(map[string]toolconfirmation.ToolConfirmation, len(c))
		for id, v := range c {
			tc, err := toolConfirmation(v)
			if err != nil {
				return fmt.Errorf("%w: actions.requestedToolConfirmations[%q]: %v", service.ErrInvalidArgument, id, err)
			}
			out.Actions.RequestedToolConfirmations[id] = tc
		}
	}
	if in := ev.RequestedInput; in != nil {
		req := &session.RequestInput{InterruptID: in.InterruptID, Message: in.Message, Payload: in.Payload}
		if in.ResponseSchema != nil {
			schema, err := decodeSchema(in.ResponseSchema)
			if err != nil {
				return fmt.Errorf("%w: requestedInput.responseSchema: %v", service.ErrInvalidArgument, err)
			}
			req.ResponseSchema = schema
		}
		out.RequestedInput = req
	}
	if n := ev.NodeInfo; n != nil {
		out.NodeInfo = &session.NodeInfo{Path: n.Path, MessageAsOutput: n.MessageAsOutput, OutputFor: n.OutputFor}
	}
	return nil
}

// withoutNilParts returns c without its nil parts, and c itself when it has
// none. A nil part carries nothing, and the Go ADK reads every part without
// a nil check, so one stored nil part would make every later turn of the
// session panic.
func withoutNilParts(c *genai.Content) *genai.Content {
	if c == nil || !slices.Contains(c.Parts, nil) {
		return c
	}
	out := *c
	out.Parts = slices.DeleteFunc(slices.Clone(c.Parts), func(p *genai.Part) bool { return p == nil })
	return &out
}

// toolConfirmation reads a tool confirmation from its JSON-like form: the
// map FromADK writes (and JSON decoding gives), or any value whose JSON
// encoding is a confirmation object.
func toolConfirmation(v any) (toolconfirmation.ToolConfirmation, error) {
	var tc toolconfirmation.ToolConfirmation
	m, ok := v.(map[string]any)
	if !ok {
		b, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(b, &tc)
		}
		if err != nil {
			return tc, fmt.Errorf("want a tool confirmation object, got %T", v)
		}
		return tc, nil
	}
	if h, ok := m["hint"]; ok && h != nil {
		if tc.Hint, ok = h.(string); !ok {
			return tc, fmt.Errorf("hint is a %T, want a string", h)
		}
	}
	if c, ok := m["confirmed"]; ok && c != nil {
		if tc.Confirmed, ok = c.(bool); !ok {
			return tc, fmt.Errorf("confirmed is a %T, want a boolean", c)
		}
	}
	tc.Payload = m["payload"]
	return tc, nil
}

// decodeSchema reads a response schema from its JSON text; JSON null is no
// schema.
func decodeSchema(b json.RawMessage) (*jsonschema.Schema, error) {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil, nil
	}
	s := new(jsonschema.Schema)
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	return s, nil
}
