package eventlog

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/genai"
)

// The maps of JSON values inside an event's content (see partValues) are
// written by AppendValue and read by DecodeValue, as the event's other
// JSON values are (CONTRACT V1); the rest of the content is genai's own
// encoding. The types below shadow those maps' fields in genai's structs:
// encoding/json takes the shallower of two fields of one name.

// contentJSON is a Content whose parts' maps are coded as JSON values.
type contentJSON struct {
	*genai.Content
	Parts []*partJSON `json:"parts,omitempty"`
}

type partJSON struct {
	*genai.Part
	FunctionCall     *functionCallJSON     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponseJSON `json:"functionResponse,omitempty"`
	ToolCall         *toolCallJSON         `json:"toolCall,omitempty"`
	ToolResponse     *toolResponseJSON     `json:"toolResponse,omitempty"`
	PartMetadata     valueMap              `json:"partMetadata,omitempty"`
}

type functionCallJSON struct {
	*genai.FunctionCall
	Args valueMap `json:"args,omitempty"`
}

type functionResponseJSON struct {
	*genai.FunctionResponse
	Response valueMap `json:"response,omitempty"`
}

type toolCallJSON struct {
	*genai.ToolCall
	Args valueMap `json:"args,omitempty"`
}

type toolResponseJSON struct {
	*genai.ToolResponse
	Response valueMap `json:"response,omitempty"`
}

// contentOut is c as [Event.MarshalJSON] hands it to encoding/json: c
// itself when its parts hold no map of JSON values (nil when c is nil,
// so that the field is left out), and otherwise c with those maps
// shadowed.
func contentOut(c *genai.Content) any {
	switch {
	case c == nil:
		return nil
	case !anyPartValues(c):
		return c
	}
	out := &contentJSON{Content: c, Parts: make([]*partJSON, len(c.Parts))}
	for i, p := range c.Parts {
		if p == nil {
			continue // written as null, as genai writes it
		}
		q := &partJSON{Part: p, PartMetadata: p.PartMetadata}
		if x := p.FunctionCall; x != nil {
			q.FunctionCall = &functionCallJSON{x, x.Args}
		}
		if x := p.FunctionResponse; x != nil {
			q.FunctionResponse = &functionResponseJSON{x, x.Response}
		}
		if x := p.ToolCall; x != nil {
			q.ToolCall = &toolCallJSON{x, x.Args}
		}
		if x := p.ToolResponse; x != nil {
			q.ToolResponse = &toolResponseJSON{x, x.Response}
		}
		out.Parts[i] = q
	}
	return out
}

// anyPartValues reports whether a part of c holds a map of JSON values.
func anyPartValues(c *genai.Content) bool {
	for _, p := range c.Parts {
		if hasPartValues(p) {
			return true
		}
	}
	return false
}

// partIn is a part as contentIn decodes it: genai's fields, and its maps
// of JSON values as they are written, for decodeMap.
type partIn struct {
	*genai.Part
	FunctionCall *struct {
		*genai.FunctionCall
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		*genai.FunctionResponse
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
	ToolCall *struct {
		*genai.ToolCall
		Args json.RawMessage `json:"args"`
	} `json:"toolCall"`
	ToolResponse *struct {
		*genai.ToolResponse
		Response json.RawMessage `json:"response"`
	} `json:"toolResponse"`
	PartMetadata json.RawMessage `json:"partMetadata"`
	// The bytes fields, read in either base64 alphabet (see decodeBytes).
	ThoughtSignature json.RawMessage `json:"thoughtSignature"`
	InlineData       *struct {
		*genai.Blob
		Data json.RawMessage `json:"data"`
	} `json:"inlineData"`
}

// contentIn decodes an event's content: genai's fields by genai's types,
// its parts' maps by DecodeValue, an error naming the part and the field.
type contentIn struct{ c *genai.Content }

func (in *contentIn) UnmarshalJSON(data []byte) error {
	in.c = nil
	if isNull(data) {
		return nil
	}
	var wire struct {
		*genai.Content
		Parts []*partIn `json:"parts"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	c := orNew(wire.Content)
	c.Parts = nil
	if wire.Parts != nil {
		c.Parts = make([]*genai.Part, len(wire.Parts))
	}
	var err error
	for i, q := range wire.Parts {
		if q == nil {
			continue
		}
		p := orNew(q.Part)
		p.PartMetadata = partField(&err, i, "partMetadata", q.PartMetadata, decodeMap)
		p.ThoughtSignature = partField(&err, i, "thoughtSignature", q.ThoughtSignature, decodeBytes)
		if x := q.InlineData; x != nil {
			p.InlineData = orNew(x.Blob)
			p.InlineData.Data = partField(&err, i, "inlineData.data", x.Data, decodeBytes)
		}
		if x := q.FunctionCall; x != nil {
			p.FunctionCall = orNew(x.FunctionCall)
			p.FunctionCall.Args = partField(&err, i, "functionCall.args", x.Args, decodeMap)
		}
		if x := q.FunctionResponse; x != nil {
			p.FunctionResponse = orNew(x.FunctionResponse)
			p.FunctionResponse.Response = partField(&err, i, "functionResponse.response", x.Response, decodeMap)
		}
		if x := q.ToolCall; x != nil {
			p.ToolCall = orNew(x.ToolCall)
			p.ToolCall.Args = partField(&err, i, "toolCall.args", x.Args, decodeMap)
		}
		if x := q.ToolResponse; x != nil {
			p.ToolResponse = orNew(x.ToolResponse)
			p.ToolResponse.Response = partField(&err, i, "toolResponse.response", x.Response, decodeMap)
		}
		c.Parts[i] = p
	}
	if err != nil {
		return err
	}
	in.c = c
	return nil
}

// partField decodes the field of part i named, as raw holds it, with
// decode; the first error, naming the field, goes to *err. A field that is
// not there is T's zero value.
func partField[T any](err *error, i int, name string, raw json.RawMessage, decode func([]byte) (T, error)) T {
	var v T
	if len(raw) == 0 {
		return v
	}
	v, ferr := decode(raw)
	if ferr != nil && *err == nil {
		*err = fmt.Errorf("content.parts[%d].%s: %w", i, name, ferr)
	}
	return v
}

// orNew is p, or a new T when p is nil: a call or response whose JSON
// object held no field but its map (or none at all).
func orNew[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// decodeBytes reads a JSON string of base64 as genai's bytes fields hold
// it, in the standard alphabet (as Go and Java write it) or the URL-safe
// one (as the Python ADK's pydantic models write it), padded or not; null
// or nothing is nil.
func decodeBytes(raw []byte) ([]byte, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("is not base64: %w", err)
	}
	return b, nil
}
