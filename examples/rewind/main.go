// Rewind shows "edit the last message" with sessionlog's rewind: a user
// asks a writing agent for two poems; the user then edits the second
// request. The program rewinds the session to just before the invocation
// that request started, appends the edited request and a new reply, and
// prints the conversation and the state the agent now sees. It then shows
// that nothing was lost: the full log still holds the old turn and the
// rewind itself, and the session can still be read as it stood before the
// edit.
//
//	go run ./examples/rewind
package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rewind:", err)
		os.Exit(1)
	}
}

// turn appends one user message and the agent's reply, both in invocation
// inv; the reply records what the agent wrote in the session's state.
func turn(ctx context.Context, svc *service.Service, sess *service.Session, inv, ask, reply string, delta map[string]any) error {
	for _, ev := range []*service.Event{
		{InvocationID: inv, Author: "user", Content: genai.NewContentFromText(ask, genai.RoleUser)},
		{InvocationID: inv, Author: "poet", Content: genai.NewContentFromText(reply, genai.RoleModel),
			Actions: service.EventActions{StateDelta: delta}},
	} {
		if _, err := svc.AppendEvent(ctx, sess, ev); err != nil {
			return err
		}
	}
	return nil
}

func run(ctx context.Context, w io.Writer) error {
	// A fixed clock and numbered IDs make every run print the same.
	clock := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	n := 0
	svc, err := service.New(ctx, service.Options{
		Now:   func() time.Time { clock = clock.Add(time.Second); return clock },
		NewID: func() string { n++; return fmt.Sprint("id-", n) },
	})
	if err != nil {
		return err
	}
	defer svc.Close()

	// The session starts with a tone; each reply records the poem's topic
	// and draft, and the second also its form.
	key := service.SessionKey{AppName: "writer", UserID: "ada", SessionID: "chat-1"}
	sess, err := svc.Create(ctx, key, map[string]any{"tone": "playful"})
	if err != nil {
		return err
	}
	if err := turn(ctx, svc, sess, "inv-1", "A haiku about autumn, please.", "Red leaves let go.",
		map[string]any{"topic": "autumn", "draft": "Red leaves let go."}); err != nil {
		return err
	}
	if err := turn(ctx, svc, sess, "inv-2", "Now one about the sea.", "Salt wind, grey waves.",
		map[string]any{"topic": "the sea", "draft": "Salt wind, grey waves.", "form": "haiku"}); err != nil {
		return err
	}
	fmt.Fprintf(w, "before the edit, version %d, state %s\n", sess.Version, show(sess.State))

	// The user edits their last message: find the invocation it started
	// and rewind to just before it. Through the handle the user looked
	// at, the rewind is refused if anything was appended since
	// (ErrStaleSession), or if the session was deleted (ErrNotFound).
	edited := sess.Version
	inv := lastUserMessage(sess.Events).InvocationID
	rw, err := svc.Rewind(ctx, key, inv, service.RewindOptions{Session: sess})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "rewound before %s: the rewind event by %s restores %s\n",
		rw.Actions.RewindBeforeInvocationID, rw.Author, show(rw.Actions.StateDelta))

	// A fresh handle (the old one has not seen the rewind): the state is
	// as it stood before inv-2, the creation's tone included.
	sess, err = svc.Get(ctx, key, service.GetOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "after the rewind, version %d, state %s\n", sess.Version, show(sess.State))

	// The agent answers the edited message in a new invocation.
	if err := turn(ctx, svc, sess, "inv-3", "Now one about the mountains.", "Stone peaks hold the snow.",
		map[string]any{"topic": "the mountains", "draft": "Stone peaks hold the snow."}); err != nil {
		return err
	}

	// What the agent sees from now on: the active conversation, without
	// the annulled turn and the rewind, and the restored state.
	active, err := svc.Get(ctx, key, service.GetOptions{SkipRewound: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "active conversation, version %d:\n", active.Version)
	for _, e := range active.Events {
		fmt.Fprintf(w, "  %s: %s\n", e.Author, text(e))
	}
	fmt.Fprintf(w, "state %s\n", show(active.State))

	// The log still holds everything: the rewind is history.
	all, err := svc.Get(ctx, key, service.GetOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "full log, %d events:\n", len(all.Events))
	activeIDs := map[string]bool{}
	for _, e := range active.Events {
		activeIDs[e.ID] = true
	}
	for i, e := range all.Events {
		mark := "annulled"
		if activeIDs[e.ID] {
			mark = "active"
		}
		fmt.Fprintf(w, "  %d %-8s %s %s: %s\n", i+1, mark, e.InvocationID, e.Author, text(e))
	}

	// And the session as it stood before the edit can still be read.
	old, err := svc.Get(ctx, key, service.GetOptions{AtVersion: &edited})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "version %d still reads: last user message %q, state %s\n",
		old.Version, text(lastUserMessage(old.Events)), show(old.State))
	return nil
}

// lastUserMessage returns the last event the user wrote (the program's
// sessions always hold one).
func lastUserMessage(events []*service.Event) *service.Event {
	for _, e := range slices.Backward(events) {
		if e.Author == "user" {
			return e
		}
	}
	return nil
}

// text returns an event's text, or a description of a rewind.
func text(e *service.Event) string {
	if inv := e.Actions.RewindBeforeInvocationID; inv != "" {
		return "(rewind before " + inv + ")"
	}
	if e.Content == nil || len(e.Content.Parts) == 0 {
		return ""
	}
	return e.Content.Parts[0].Text
}

// show prints a state or a delta with its keys in order, and a removal as
// (removed).
func show(m map[string]any) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := fmt.Sprintf("%q", m[k])
		if projection.IsRemoved(m[k]) {
			v = "(removed)"
		}
		parts = append(parts, k+"="+v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
