package eventlog

import (
	"bytes"
	"maps"
	"reflect"
	"slices"

	"google.golang.org/genai"
)

// Clone returns a deep copy of e that has no memory the caller can change in
// common with e: a store keeps its own copy of an appended event, and a
// reader that wants to edit an event it was handed edits a clone. A nil e
// gives nil.
//
// Maps and slices are copied, JSON-like values inside them as [CloneValue]
// describes, and every genai value is copied in full. Values of types
// CloneValue does not know (a caller's own structs stored in StateDelta, say)
// are not copied, nor are pointer cycles, which JSON-like data never has. The
// common case, a text or function-call Content and a few scalar state keys,
// takes a handful of allocations.
func (e *Event) Clone() *Event {
	return e.clone(true)
}

// clone is Clone; without values, the maps of JSON values in the content's
// parts (see partValues) are not copied: the copy's parts share them with
// e's, for NormalizeEvent to replace with copies of its own.
func (e *Event) clone(values bool) *Event {
	if e == nil {
		return nil
	}
	var c *Event
	switch {
	case e.Content != nil && len(e.Content.Parts) == 1 && e.Content.Parts[0] != nil:
		// Most events carry one part: one allocation holds the event,
		// its content, the parts slice and the part, which live and die
		// together. The slice has capacity 1, so appending to it moves
		// the parts elsewhere rather than writing into the block.
		b := &struct {
			ev      Event
			content genai.Content
			ptrs    [1]*genai.Part
			part    genai.Part
		}{ev: *e, content: *e.Content}
		clonePartInto(&b.part, e.Content.Parts[0], values)
		b.ptrs[0] = &b.part
		b.content.Parts = b.ptrs[:]
		c = &b.ev
		c.Content = &b.content
	case e.Content != nil:
		// One allocation for the event and its content.
		b := &struct {
			ev      Event
			content genai.Content
		}{ev: *e, content: *e.Content}
		b.content.Parts = cloneParts(e.Content.Parts, values)
		c = &b.ev
		c.Content = &b.content
	default:
		c = new(Event)
		*c = *e
	}
	c.UsageMetadata = cloneUsage(e.UsageMetadata)
	if e.GroundingMetadata != nil {
		c.GroundingMetadata = deepCopy(e.GroundingMetadata)
	}
	if e.CitationMetadata != nil {
		c.CitationMetadata = deepCopy(e.CitationMetadata)
	}
	if e.LogprobsResult != nil {
		c.LogprobsResult = deepCopy(e.LogprobsResult)
	}
	if e.InputTranscription != nil {
		c.InputTranscription = deepCopy(e.InputTranscription)
	}
	if e.OutputTranscription != nil {
		c.OutputTranscription = deepCopy(e.OutputTranscription)
	}
	c.Routes = slices.Clone(e.Routes)
	if e.RequestedInput != nil {
		r := *e.RequestedInput
		r.ResponseSchema = bytes.Clone(r.ResponseSchema)
		r.Payload = CloneValue(r.Payload)
		c.RequestedInput = &r
	}
	c.Output = CloneValue(e.Output)
	if e.NodeInfo != nil {
		n := *e.NodeInfo
		n.OutputFor = slices.Clone(n.OutputFor)
		c.NodeInfo = &n
	}
	c.CustomMetadata = CloneMap(e.CustomMetadata)
	c.LongRunningToolIDs = slices.Clone(e.LongRunningToolIDs)
	c.Actions.StateDelta = CloneMap(e.Actions.StateDelta)
	c.Actions.ArtifactDelta = maps.Clone(e.Actions.ArtifactDelta)
	c.Actions.RequestedAuthConfigs = CloneMap(e.Actions.RequestedAuthConfigs)
	c.Actions.RequestedToolConfirmations = CloneMap(e.Actions.RequestedToolConfirmations)
	return c
}

// CloneMap returns a deep copy of a JSON-like map, each value copied by
// [CloneValue]. A nil map gives nil and an empty one an empty one, so the
// copy encodes exactly as the original does. Clone and the state code both
// use it, so that state and events copy values by the same rules.
func CloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = CloneValue(v)
	}
	return out
}

// CloneValue returns a deep copy of a JSON-like value: map[string]any and
// []any trees are copied recursively, and []string, map[string]string,
// []byte and []map[string]any are copied too. Scalars (strings, numbers,
// booleans, nil) are immutable and returned as they are. Any other type is
// returned as it is, not copied: CloneValue cannot know how to copy a
// caller's own types, and JSON-decoded data never holds them. Nil maps and
// slices stay nil, empty ones stay empty.
func CloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return CloneMap(x)
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = CloneValue(e)
		}
		return out
	case []map[string]any:
		if x == nil {
			return x
		}
		out := make([]map[string]any, len(x))
		for i, m := range x {
			out[i] = CloneMap(m)
		}
		return out
	case []string:
		return slices.Clone(x)
	case map[string]string:
		return maps.Clone(x)
	case []byte:
		return bytes.Clone(x)
	default:
		return v
	}
}

// NeedsClone reports whether [CloneValue] copies v: whether v is one of the
// map or slice types it knows. For any other value CloneValue returns v
// itself, so a holder of v may hand it out as it is.
func NeedsClone(v any) bool {
	switch v.(type) {
	case map[string]any, []any, []map[string]any, []string, map[string]string, []byte:
		return true
	}
	return false
}

// cloneParts copies a Content's parts. The parts live in one backing array,
// so n parts cost two allocations rather than n+1; nil entries stay nil.
func cloneParts(parts []*genai.Part, values bool) []*genai.Part {
	if parts == nil {
		return nil
	}
	out := make([]*genai.Part, len(parts))
	n := 0
	for _, p := range parts {
		if p != nil {
			n++
		}
	}
	backing := make([]genai.Part, n)
	j := 0
	for i, p := range parts {
		if p == nil {
			continue
		}
		clonePartInto(&backing[j], p, values)
		out[i] = &backing[j]
		j++
	}
	return out
}

// clonePartInto deep-copies p into dst, but for its maps of JSON values,
// which dst shares with p unless values. The fields models send on every
// turn are copied by hand; the rare ones go through deepCopy, which is
// slower but exact. A JSON round trip would not be: genai writes durations in whole
// seconds, and numbers in map[string]any come back as float64.
// TestCloneCoversGenaiFields fails when genai adds a field this misses.
func clonePartInto(dst, p *genai.Part, values bool) {
	*dst = *p
	dst.ThoughtSignature = bytes.Clone(p.ThoughtSignature)
	if p.InlineData != nil {
		b := *p.InlineData
		b.Data = bytes.Clone(b.Data)
		dst.InlineData = &b
	}
	if p.FileData != nil {
		f := *p.FileData
		dst.FileData = &f
	}
	if p.FunctionCall != nil {
		fc := *p.FunctionCall
		if values {
			fc.Args = CloneMap(fc.Args)
		}
		fc.WillContinue = cloneBoolPtr(fc.WillContinue)
		if fc.PartialArgs != nil {
			fc.PartialArgs = deepCopy(fc.PartialArgs)
		}
		dst.FunctionCall = &fc
	}
	if p.FunctionResponse != nil {
		fr := *p.FunctionResponse
		if values {
			fr.Response = CloneMap(fr.Response)
		}
		fr.WillContinue = cloneBoolPtr(fr.WillContinue)
		if fr.Parts != nil {
			fr.Parts = deepCopy(fr.Parts)
		}
		dst.FunctionResponse = &fr
	}
	if p.ExecutableCode != nil {
		x := *p.ExecutableCode
		dst.ExecutableCode = &x
	}
	if p.CodeExecutionResult != nil {
		x := *p.CodeExecutionResult
		dst.CodeExecutionResult = &x
	}
	if values {
		dst.PartMetadata = CloneMap(p.PartMetadata)
	}
	if p.MediaResolution != nil {
		dst.MediaResolution = deepCopy(p.MediaResolution)
	}
	if p.VideoMetadata != nil {
		dst.VideoMetadata = deepCopy(p.VideoMetadata)
	}
	if p.ToolCall != nil {
		x := *p.ToolCall
		x.Args = nil // copied apart: deepCopy would not end on a cycle
		dst.ToolCall = deepCopy(&x)
		dst.ToolCall.Args = p.ToolCall.Args
		if values {
			dst.ToolCall.Args = CloneMap(p.ToolCall.Args)
		}
	}
	if p.ToolResponse != nil {
		x := *p.ToolResponse
		x.Response = nil
		dst.ToolResponse = deepCopy(&x)
		dst.ToolResponse.Response = p.ToolResponse.Response
		if values {
			dst.ToolResponse.Response = CloneMap(p.ToolResponse.Response)
		}
	}
	if p.AudioTranscription != nil {
		dst.AudioTranscription = deepCopy(p.AudioTranscription)
	}
	if p.SpeechMetadata != nil {
		dst.SpeechMetadata = deepCopy(p.SpeechMetadata)
	}
}

// cloneUsage copies usage metadata by hand: it rides on every model
// response, so it is worth keeping off the reflective path.
func cloneUsage(u *genai.GenerateContentResponseUsageMetadata) *genai.GenerateContentResponseUsageMetadata {
	if u == nil {
		return nil
	}
	c := *u
	c.CacheTokensDetails = cloneTokenCounts(u.CacheTokensDetails)
	c.CandidatesTokensDetails = cloneTokenCounts(u.CandidatesTokensDetails)
	c.PromptTokensDetails = cloneTokenCounts(u.PromptTokensDetails)
	c.ToolUsePromptTokensDetails = cloneTokenCounts(u.ToolUsePromptTokensDetails)
	return &c
}

func cloneTokenCounts(s []*genai.ModalityTokenCount) []*genai.ModalityTokenCount {
	if s == nil {
		return nil
	}
	out := make([]*genai.ModalityTokenCount, len(s))
	backing := make([]genai.ModalityTokenCount, len(s))
	for i, m := range s {
		if m != nil {
			backing[i] = *m
			out[i] = &backing[i]
		}
	}
	return out
}

func cloneBoolPtr(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// deepCopy copies any value reflectively: pointers, structs, slices, maps,
// arrays and interfaces are followed; other kinds are copied by value, and
// unexported struct fields by assignment. It serves the genai values that
// are too rare or too deep to be worth copying by hand.
func deepCopy[T any](v T) T {
	return deepCopyValue(reflect.ValueOf(&v).Elem()).Interface().(T)
}

func deepCopyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(deepCopyValue(v.Elem()))
		return n
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type()).Elem()
		n.Set(deepCopyValue(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		for i := range n.NumField() {
			if f := n.Field(i); f.CanSet() {
				f.Set(deepCopyValue(v.Field(i)))
			}
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		if v.Type().Elem().Kind() == reflect.Uint8 {
			reflect.Copy(n, v)
			return n
		}
		for i := range v.Len() {
			n.Index(i).Set(deepCopyValue(v.Index(i)))
		}
		return n
	case reflect.Array:
		n := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			n.Index(i).Set(deepCopyValue(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			n.SetMapIndex(it.Key(), deepCopyValue(it.Value()))
		}
		return n
	default:
		return v
	}
}
