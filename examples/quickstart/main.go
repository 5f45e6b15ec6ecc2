// Quickstart walks through sessionlog's Go API: create a session, append
// events with state deltas, read with filters, list, subscribe and delete.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/service"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	svc, err := service.New(ctx, service.Options{})
	if err != nil {
		return err
	}
	defer svc.Close()

	// A session, with initial state in three scopes: app:, user: and the
	// session's own. temp: keys are dropped.
	key := service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "trip-1"}
	sess, err := svc.Create(ctx, key, map[string]any{
		"app:model": "gemini", "user:units": "metric", "city": "Oslo", "temp:scratch": 1,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "created %s: state %v\n", sess.ID, sess.State)

	// Subscribe before appending: the subscriber replays what is stored and
	// then follows live appends, reading the log at its own pace.
	subCtx, stopSub := context.WithCancel(ctx)
	received := make(chan string)
	go func() {
		defer close(received)
		for rec, err := range svc.Subscribe(subCtx, key, 0) {
			var msg string
			if err != nil {
				msg = "subscription error: " + err.Error()
			} else {
				msg = fmt.Sprintf("subscriber saw event %d by %s", rec.Seq, rec.Event.Author)
			}
			select {
			case received <- msg:
			case <-subCtx.Done():
				return
			}
		}
	}()
	// On every way out, stop the subscriber and wait for it to end.
	defer func() {
		stopSub()
		for range received {
		}
	}()

	// Two events. State deltas update the session, the user and the app
	// atomically with the append; the handle is updated in place.
	base := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	turns := []*service.Event{
		{Author: "user", Timestamp: base, Content: genai.NewContentFromText("Weather in Oslo?", genai.RoleUser)},
		{Author: "agent", Timestamp: base.Add(time.Second),
			Content: genai.NewContentFromText("4°C and clear.", genai.RoleModel),
			Actions: service.EventActions{StateDelta: map[string]any{
				"last_answer": "4°C", "user:units": "celsius", "temp:tool_calls": 1, "city": service.Removed,
			}}},
	}
	for _, ev := range turns {
		stored, err := svc.AppendEvent(ctx, sess, ev)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "appended %s's event as version %d\n", stored.Author, sess.Version)
		fmt.Fprintln(w, <-received)
	}
	fmt.Fprintf(w, "handle state (temp: keys live only here): %v\n", sess.State)

	// Optimistic concurrency: a handle that missed an event cannot append.
	stale := *sess
	stale.Version = 1
	if _, err := svc.AppendEvent(ctx, &stale, &service.Event{Author: "agent"}); err != nil {
		fmt.Fprintf(w, "stale handle: %v\n", err)
	}

	// Reads with filters: the last event only, and events at or after a time.
	last, err := svc.Get(ctx, key, service.GetOptions{NumRecentEvents: 1})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "last event: %q; stored state: %v\n", last.Events[0].Content.Parts[0].Text, last.State)
	later, err := svc.Get(ctx, key, service.GetOptions{After: base.Add(time.Second)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "events at or after 09:00:01: %d\n", len(later.Events))

	// A second session of the same user sees the user: state at once.
	if _, err := svc.Create(ctx, service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "trip-2"}, nil); err != nil {
		return err
	}
	page, err := svc.List(ctx, "weather", "ada", service.ListOptions{})
	if err != nil {
		return err
	}
	for _, s := range page.Sessions {
		fmt.Fprintf(w, "listed %s: units=%v\n", s.ID, s.State["user:units"])
	}

	// Delete: the session's events go; the user and app state stay; the
	// subscription completes.
	if err := svc.Delete(ctx, key); err != nil {
		return err
	}
	if _, ok := <-received; !ok {
		fmt.Fprintln(w, "subscription completed after delete")
	}
	if _, err := svc.Get(ctx, key, service.GetOptions{}); err != nil {
		fmt.Fprintf(w, "get after delete: %v\n", err)
	}
	return nil
}
