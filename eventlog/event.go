package eventlog

import (
	"encoding/json"
	"time"

	"google.golang.org/genai"
)

// Event is one ADK agent event: a model or tool turn, a user message, or a
// bare action such as a state change or an agent transfer. Its JSON form is
// the camelCase wire shape the ADK runtimes (Go, Python, Java) exchange, so a
// stored log can be read back by any of them.
//
// Timestamp is written as an RFC 3339 string in UTC with nanoseconds
// ([FormatTimestamp]) and omitted when zero. When reading, it may also be a
// JSON number, because the Python ADK writes epoch seconds (possibly
// fractional) and the Java ADK writes epoch milliseconds: a number whose
// absolute value is at least 1e11 is taken as milliseconds, any smaller one as
// seconds. The cut-off lies in 1973 for milliseconds and in the year 5138 for
// seconds, so neither runtime's real timestamps are misread. See
// [ParseTimestamp] for the full rules.
//
// Events in a log are the store's own, handed to readers without a copy:
// treat them as read-only and use [Event.Clone] for a copy you may change.
type Event struct {
	// ID identifies the event within its session; appends with an ID the
	// session already holds are deduplicated.
	ID string `json:"id"`
	// InvocationID groups the events of one run of the agent.
	InvocationID string `json:"invocationId,omitempty"`
	// Author is "user" or the name of the agent that produced the event.
	Author string `json:"author,omitempty"`
	// Branch is the dot-separated path of agents that produced the event,
	// used to hide sibling sub-agents' events from one another.
	Branch string `json:"branch,omitempty"`
	// Timestamp is when the event happened; the JSON codec keeps it to the
	// nanosecond.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Content is the message the event carries, if any.
	Content *genai.Content `json:"content,omitempty"`
	// Partial marks a streaming chunk that a later, complete event
	// supersedes.
	Partial bool `json:"partial,omitempty"`
	// TurnComplete marks the last event of a model turn in live streaming.
	TurnComplete bool `json:"turnComplete,omitempty"`
	// Interrupted marks a model turn the user cut short.
	Interrupted bool `json:"interrupted,omitempty"`
	// ErrorCode is the model's or tool's error code, when the event reports
	// a failure.
	ErrorCode string `json:"errorCode,omitempty"`
	// ErrorMessage explains ErrorCode to a person.
	ErrorMessage string `json:"errorMessage,omitempty"`
	// UsageMetadata is the model's token accounting for the response.
	UsageMetadata *genai.GenerateContentResponseUsageMetadata `json:"usageMetadata,omitempty"`
	// GroundingMetadata lists the sources a grounded response relied on.
	GroundingMetadata *genai.GroundingMetadata `json:"groundingMetadata,omitempty"`
	// CitationMetadata lists the sources the response quotes.
	CitationMetadata *genai.CitationMetadata `json:"citationMetadata,omitempty"`
	// LogprobsResult holds the log probabilities of the chosen and the top
	// candidate tokens, when the request asked for them.
	LogprobsResult *genai.LogprobsResult `json:"logprobsResult,omitempty"`
	// AvgLogprobs is the average log probability of the response's tokens.
	AvgLogprobs float64 `json:"avgLogprobs,omitempty"`
	// FinishReason is why the model stopped generating.
	FinishReason genai.FinishReason `json:"finishReason,omitempty"`
	// ModelVersion names the model version that produced the response.
	ModelVersion string `json:"modelVersion,omitempty"`
	// InputTranscription is the text of the user's audio in live
	// streaming.
	InputTranscription *genai.Transcription `json:"inputTranscription,omitempty"`
	// OutputTranscription is the text of the model's audio in live
	// streaming.
	OutputTranscription *genai.Transcription `json:"outputTranscription,omitempty"`
	// SessionResumptionHandle lets a live streaming connection resume
	// where it broke off.
	SessionResumptionHandle string `json:"sessionResumptionHandle,omitempty"`
	// CustomMetadata holds application data that ADK carries but never
	// interprets; its values are JSON values, as state values are
	// ([NormalizeValue]). Decoding also reads the Java ADK's shape, a list of
	// genai CustomMetadata entries, into this map; encoding writes the
	// map, as the Python and Go ADKs do.
	CustomMetadata map[string]any `json:"customMetadata,omitempty"`
	// LongRunningToolIDs names the function calls in Content whose results
	// arrive in a later event.
	LongRunningToolIDs []string `json:"longRunningToolIds,omitempty"`
	// IsolationScope, when set, shows the event only to agents of the same
	// isolation scope when they build a model prompt from history.
	IsolationScope string `json:"isolationScope,omitempty"`
	// Routes are the workflow edges the emitting node chose to follow.
	Routes []string `json:"routes,omitempty"`
	// RequestedInput, when set, is a workflow node asking a person for
	// input before it goes on.
	RequestedInput *RequestInput `json:"requestedInput,omitempty"`
	// Output is a workflow node's result, a JSON value as state values
	// are: a store keeps and returns it in the types [NormalizeValue]
	// describes.
	Output any `json:"output,omitempty"`
	// NodeInfo names the workflow node that emitted the event; nil for
	// events from outside a workflow. Decoding treats an empty nodeInfo
	// object (which the Python ADK writes on every event) as nil.
	NodeInfo *NodeInfo `json:"nodeInfo,omitempty"`
	// Actions are the side effects the event asks the runtime to apply.
	Actions EventActions `json:"actions"`
}

// EventActions are the side effects an event carries. The runtime applies
// them when the event is appended, so replaying a log's actions in order
// rebuilds the session's state and artifact versions.
type EventActions struct {
	// StateDelta holds the state keys the event sets. Keys may carry a scope
	// prefix ("app:", "user:", "temp:"). Values are JSON values: a store
	// keeps and returns them in the types [NormalizeValue] describes.
	StateDelta map[string]any `json:"stateDelta,omitempty"`
	// ArtifactDelta maps each artifact the event saved to its new version.
	ArtifactDelta map[string]int64 `json:"artifactDelta,omitempty"`
	// TransferToAgent names the agent that should take over the
	// conversation.
	TransferToAgent string `json:"transferToAgent,omitempty"`
	// Escalate hands control back to the parent agent, ending a loop.
	Escalate bool `json:"escalate,omitempty"`
	// SkipSummarization tells the runtime not to summarise a function
	// response with another model call.
	SkipSummarization bool `json:"skipSummarization,omitempty"`
	// RequestedAuthConfigs maps function call IDs to the credentials they
	// wait for. The values are kept as JSON-like trees because their shape
	// belongs to the auth layer, not to the log.
	RequestedAuthConfigs map[string]any `json:"requestedAuthConfigs,omitempty"`
	// RequestedToolConfirmations maps function call IDs to the
	// confirmations they wait for, kept as JSON-like trees for the same
	// reason. The ADK runtimes write each one as an object with "hint",
	// "confirmed" and "payload".
	RequestedToolConfirmations map[string]any `json:"requestedToolConfirmations,omitempty"`
	// EndOfAgent marks the last event of an agent's run, so a resumed
	// invocation knows which agents already finished.
	EndOfAgent bool `json:"endOfAgent,omitempty"`
	// RewindBeforeInvocationID, when set, marks a rewind: the session
	// goes back to how it stood before the first event of the named
	// invocation. The event's StateDelta carries the restoring values, so
	// a fold needs nothing else; readers that leave out annulled events
	// use this field to find them ([ActiveEvents]).
	RewindBeforeInvocationID string `json:"rewindBeforeInvocationId,omitempty"`
}

// RequestInput is a workflow node's request for human input: the node
// pauses, and the reply that carries the same InterruptID resumes it.
type RequestInput struct {
	// InterruptID pairs the request with the reply that answers it.
	InterruptID string `json:"interruptId"`
	// Message is the prompt shown to the person.
	Message string `json:"message,omitempty"`
	// ResponseSchema is the JSON Schema the reply must satisfy, kept as
	// the schema's JSON text: the schema types of the ADK runtimes differ,
	// and the text is what each of them writes and reads, so keeping it
	// verbatim loses nothing any runtime can express. It must be valid
	// JSON when set.
	ResponseSchema json.RawMessage `json:"responseSchema,omitempty"`
	// Payload is context for the prompt (the document to approve, say), a
	// JSON value as [Event.Output] is.
	Payload any `json:"payload,omitempty"`
}

// NodeInfo identifies the workflow node that emitted an event.
type NodeInfo struct {
	// Path is the node's path within its workflow run; empty for a
	// top-level node.
	Path string `json:"path,omitempty"`
	// MessageAsOutput marks an event whose content is the node's output
	// when Output is empty.
	MessageAsOutput bool `json:"messageAsOutput,omitempty"`
	// OutputFor lists the node paths the event's output counts for: the
	// emitter and the ancestors that use it as their own output.
	OutputFor []string `json:"outputFor,omitempty"`
}
