package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

// maxValue is how many bytes of a value (an argument, a response, a state
// value) show prints; the rest is cut, ending in "...".
const maxValue = 120

func show(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	key := sessionFlags(fs, "the session to show (required)")
	version := versionFlag(fs, "show the session as it stood just after its event `N` (0: just after its creation)")
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if key.AppName == "" || key.UserID == "" || key.SessionID == "" {
		return fmt.Errorf("%w: -app, -user and -session are required: they name the session to show", errUsage)
	}
	svc, err := openService(ctx, ref, readOnly)
	if err != nil {
		return err
	}
	defer svc.Close()
	sess, err := svc.Get(ctx, *key, service.GetOptions{AtVersion: *version})
	switch {
	case errors.Is(err, service.ErrNotFound):
		return fmt.Errorf("%w: check -app, -user and -session (sessionlog inspect lists the sessions)", err)
	case err != nil && *version != nil && errors.Is(err, service.ErrInvalidArgument):
		return fmt.Errorf("-version %d: %w: check -version", **version, err)
	case err != nil:
		return err
	}
	printSession(e.stdout, sess)
	return nil
}

// printSession prints a session as a timeline: a header with its key,
// version and state, then its events, one block each.
func printSession(w io.Writer, sess *service.Session) {
	fmt.Fprintf(w, "session %s\n", sess.Key())
	fmt.Fprintf(w, "version %d, %d events, last update %s\n", sess.Version, len(sess.Events), formatTime(sess.LastUpdateTime))
	fmt.Fprintf(w, "state: %d keys\n", len(sess.State))
	for _, k := range sortedKeys(sess.State) {
		fmt.Fprintf(w, "  %s = %s\n", k, compactJSON(sess.State[k]))
	}
	active := map[*eventlog.Event]bool{}
	for _, ev := range eventlog.ActiveEvents(sess.Events) {
		active[ev] = true
	}
	for i, ev := range sess.Events {
		fmt.Fprintln(w)
		printEvent(w, uint64(i+1), ev, active[ev])
	}
}

// printEvent prints one event: a line with its sequence number, time,
// author and invocation, then a line for each thing it carries.
func printEvent(w io.Writer, seq uint64, ev *eventlog.Event, active bool) {
	fmt.Fprintf(w, "#%d %s %s", seq, formatTime(ev.Timestamp), orNone(ev.Author))
	if ev.InvocationID != "" {
		fmt.Fprintf(w, ", invocation %s", ev.InvocationID)
	}
	switch {
	case ev.Actions.RewindBeforeInvocationID != "":
		fmt.Fprintf(w, ": REWIND to just before invocation %s", ev.Actions.RewindBeforeInvocationID)
	case !active:
		fmt.Fprint(w, " [annulled by a later rewind]")
	}
	if ev.Partial {
		fmt.Fprint(w, " (partial)")
	}
	fmt.Fprintln(w)
	item := func(format string, a ...any) { fmt.Fprintf(w, "    "+format+"\n", a...) }
	if ev.Content != nil {
		for _, part := range ev.Content.Parts {
			printPart(item, part)
		}
	}
	if ev.ErrorCode != "" || ev.ErrorMessage != "" {
		item("error %s: %s", ev.ErrorCode, ev.ErrorMessage)
	}
	if ev.Actions.TransferToAgent != "" {
		item("transfer to agent %s", ev.Actions.TransferToAgent)
	}
	if ev.Actions.Escalate {
		item("escalate")
	}
	set, removed := splitDelta(ev.Actions.StateDelta, compactJSON)
	for _, kv := range set {
		item("set %s", kv)
	}
	for _, k := range removed {
		item("remove %s", k)
	}
	for _, k := range sortedKeys(ev.Actions.ArtifactDelta) {
		item("artifact %s version %d", k, ev.Actions.ArtifactDelta[k])
	}
}

// printPart prints one part of an event's content.
func printPart(item func(string, ...any), p *genai.Part) {
	if p == nil {
		return
	}
	switch {
	case p.FunctionCall != nil:
		item("call %s(%s)", p.FunctionCall.Name, compactArgs(p.FunctionCall.Args))
	case p.FunctionResponse != nil:
		item("response %s: %s", p.FunctionResponse.Name, compactJSON(p.FunctionResponse.Response))
	case p.Thought && p.Text != "":
		item("thought: %s", indentLines(p.Text))
	case p.Text != "":
		item("text: %s", indentLines(p.Text))
	case p.InlineData != nil:
		item("inline data %s, %d bytes", p.InlineData.MIMEType, len(p.InlineData.Data))
	case p.FileData != nil:
		item("file %s %s", p.FileData.MIMEType, p.FileData.FileURI)
	case p.ExecutableCode != nil:
		item("code %s: %s", p.ExecutableCode.Language, indentLines(p.ExecutableCode.Code))
	case p.CodeExecutionResult != nil:
		item("code result %s: %s", p.CodeExecutionResult.Outcome, indentLines(p.CodeExecutionResult.Output))
	}
}

// indentLines indents the lines of a text after its first to line up
// under an item's text.
func indentLines(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n      ")
}

// compactArgs formats a call's arguments as name=value, by name.
func compactArgs(args map[string]any) string {
	parts := make([]string, 0, len(args))
	for _, k := range sortedKeys(args) {
		parts = append(parts, k+"="+compactJSON(args[k]))
	}
	return strings.Join(parts, ", ")
}

// splitDelta splits a state delta into the keys it sets, as "key =
// value" with the value formatted by format, and the keys it removes, each
// by key.
func splitDelta(delta map[string]any, format func(any) string) (set, removed []string) {
	for _, k := range sortedKeys(delta) {
		v := delta[k]
		if projection.IsRemoved(v) {
			removed = append(removed, k)
			continue
		}
		set = append(set, k+" = "+format(v))
	}
	return set, removed
}

// formatJSON formats a value as JSON.
func formatJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// compactJSON formats a value as JSON, cut to maxValue bytes.
func compactJSON(v any) string {
	s := formatJSON(v)
	if len(s) > maxValue {
		cut := maxValue
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// utf8Start reports whether b starts a UTF-8 sequence, so that a cut
// there leaves whole characters.
func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func orNone(s string) string {
	if s == "" {
		return "(no author)"
	}
	return s
}
