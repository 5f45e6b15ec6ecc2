// Pipeline shows a live rxgo pipeline over an app-wide stream of
// sessionlog records. A simulated agent, in a goroutine of its own, creates
// three sessions of the "travel" app and appends events to them from
// several authors, with state deltas. Meanwhile the pipeline
//
//	SessionService.AppEvents("travel", 0).Rx(rxgo.WithContext(ctx)).
//		Filter(appended events only).
//		Map(to author, session and state keys changed).
//		BufferWithCount(4)
//
// prints, for each buffer of four events, how many each author wrote and
// which state keys they changed, then the totals. It stops by itself: once
// it has seen every event the agent appends it cancels the stream's context
// and drains the pipeline, and run returns only after the agent's goroutine
// and rxgo's have ended.
//
//	go run ./examples/pipeline
package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reactivex/rxgo/v2"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

// app is the app whose stream the pipeline follows.
const app = "travel"

// bufferSize is how many events each buffer holds. The script's length is
// a multiple of it, so that the last buffer fills up and reaches the
// pipeline before it stops.
const bufferSize = 4

// turn is one event of the agent's script.
type turn struct {
	user, session string
	author        string
	text          string
	delta         map[string]any
}

// script is what the simulated agent appends, in this order, to three
// sessions (ada's, bob's and cyd's). The temp: key is never stored, so the
// stream does not show it.
var script = []turn{
	{"ada", "oslo", "user", "A weekend in Oslo?", nil},
	{"ada", "oslo", "planner", "Friday to Sunday.", map[string]any{"destination": "Oslo", "temp:step": "plan"}},
	{"bob", "rome", "user", "Rome in May?", nil},
	{"ada", "oslo", "weather", "Snow likely.", map[string]any{"forecast": "snow"}},
	{"bob", "rome", "planner", "Five days.", map[string]any{"destination": "Rome", "user:budget": 900}},
	{"cyd", "lima", "user", "Lima, cheaply?", nil},
	{"bob", "rome", "booker", "Booked Trastevere.", map[string]any{"hotel": "Trastevere", "app:bookings": 1}},
	{"cyd", "lima", "planner", "A week in Barranco.", map[string]any{"destination": "Lima", "user:budget": 400}},
	{"ada", "oslo", "booker", "Booked Grünerløkka.", map[string]any{"hotel": "Grünerløkka", "app:bookings": 2}},
	{"cyd", "lima", "weather", "Mild and grey.", map[string]any{"forecast": "mild"}},
	{"bob", "rome", "user", "Thanks!", nil},
	{"cyd", "lima", "booker", "Booked Miraflores.", map[string]any{"hotel": "Miraflores", "app:bookings": 3}},
}

// change is what the pipeline keeps of an appended event.
type change struct {
	Author  string
	Session string   // user/session
	Keys    []string // state keys the event changed, sorted
}

// newService returns a service over an in-memory store with a clock that
// ticks one second per call and numbered IDs, so that runs are alike.
func newService(ctx context.Context) (*service.Service, error) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	n := 0
	return service.New(ctx, service.Options{
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Second)
			return now
		},
		NewID: func() string {
			mu.Lock()
			defer mu.Unlock()
			n++
			return fmt.Sprint("id-", n)
		},
	})
}

// runAgent plays the script: it creates the sessions the script names, then
// appends its events one by one with a short pause between them, as an
// agent thinking would. It stops early when ctx is done.
func runAgent(ctx context.Context, sessions *observable.SessionService) error {
	handles := map[string]*observable.Session{}
	for _, t := range script {
		key := observable.SessionKey{AppName: app, UserID: t.user, SessionID: t.session}
		if handles[key.String()] != nil {
			continue
		}
		sess, err := sessions.CreateSession(ctx, key, nil).BlockingGet(ctx)
		if err != nil {
			return fmt.Errorf("agent: create %s: %w", key, err)
		}
		handles[key.String()] = sess
	}
	for i, t := range script {
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent: stopped before event %d: %w", i+1, ctx.Err())
		case <-time.After(time.Millisecond):
		}
		sess := handles[observable.SessionKey{AppName: app, UserID: t.user, SessionID: t.session}.String()]
		ev := &observable.Event{
			Author:  t.author,
			Content: genai.NewContentFromText(t.text, genai.RoleModel),
			Actions: service.EventActions{StateDelta: t.delta},
		}
		if _, err := sessions.AppendEvent(ctx, sess, ev).BlockingGet(ctx); err != nil {
			return fmt.Errorf("agent: append event %d: %w", i+1, err)
		}
	}
	return nil
}

// isAppended keeps the records of appended events: the app's stream also
// carries session creations and deletions.
func isAppended(item any) bool {
	rec, ok := item.(*observable.Record)
	return ok && rec.Kind == eventlog.KindEventAppended
}

// toChange maps an appended event's record to a change.
func toChange(_ context.Context, item any) (any, error) {
	rec, ok := item.(*observable.Record)
	if !ok || rec.Event == nil {
		return nil, fmt.Errorf("unexpected item %T in the stream", item)
	}
	return change{
		Author:  rec.Event.Author,
		Session: rec.Key.UserID + "/" + rec.Key.SessionID,
		Keys:    slices.Sorted(maps.Keys(rec.Event.Actions.StateDelta)),
	}, nil
}

// counts formats per-author counts as "a=1 b=2", authors sorted.
func counts(byAuthor map[string]int) string {
	parts := make([]string, 0, len(byAuthor))
	for _, author := range slices.Sorted(maps.Keys(byAuthor)) {
		parts = append(parts, fmt.Sprintf("%s=%d", author, byAuthor[author]))
	}
	return strings.Join(parts, " ")
}

func run(ctx context.Context, w io.Writer) error {
	if len(script)%bufferSize != 0 {
		return fmt.Errorf("the script's %d events do not fill buffers of %d", len(script), bufferSize)
	}
	svc, err := newService(ctx)
	if err != nil {
		return fmt.Errorf("new service: %w", err)
	}
	defer svc.Close()
	sessions := observable.New(svc)

	total := map[string]int{}
	seen, buffers := 0, 0
	var pipeErr error

	// The stream's context: cancelling it ends the observation at its
	// source. Every stage after it runs until its input channel closes, so
	// when the last channel closes every stage has ended; that is why the
	// loop below always reads to the end, and why only the source gets the
	// context.
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	items := sessions.AppEvents(app, 0).Rx(rxgo.WithContext(streamCtx)).
		Filter(isAppended).
		Map(toChange).
		BufferWithCount(bufferSize).
		Observe()

	// The agent works live, while the pipeline reads, under a context of
	// its own: the pipeline may see the last event before the agent's
	// AppendEvent has returned, and must not cancel that call. The agent
	// is stopped only when the pipeline fails; if the agent fails, it stops
	// the stream, since the pipeline would otherwise wait for events that
	// never come.
	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	agentDone := make(chan error, 1)
	go func() {
		err := runAgent(agentCtx, sessions)
		if err != nil {
			stopStream()
		}
		agentDone <- err
	}()
	fail := func(err error) {
		if pipeErr == nil {
			pipeErr = err
		}
		stopStream()
		stopAgent()
	}

	for item := range items {
		if item.E != nil {
			if streamCtx.Err() == nil { // not an effect of stopping the stream
				fail(fmt.Errorf("pipeline: %w", item.E))
			}
			continue
		}
		batch, ok := item.V.([]any)
		if !ok {
			fail(fmt.Errorf("pipeline: unexpected item %T", item.V))
			continue
		}
		buffers++
		byAuthor := map[string]int{}
		var lines []string
		for _, v := range batch {
			c, ok := v.(change)
			if !ok {
				fail(fmt.Errorf("pipeline: unexpected buffered item %T", v))
				break
			}
			byAuthor[c.Author]++
			total[c.Author]++
			if len(c.Keys) > 0 {
				lines = append(lines, fmt.Sprintf("  %s set %v in %s", c.Author, c.Keys, c.Session))
			}
		}
		seen += len(batch)
		fmt.Fprintf(w, "buffer %d (events %d-%d): %s\n", buffers, seen-len(batch)+1, seen, counts(byAuthor))
		for _, line := range lines {
			fmt.Fprintln(w, line)
		}
		if seen == len(script) {
			stopStream() // all seen: end the stream, then drain
		}
	}
	// The stream is over. An agent with events left has nobody to write
	// for: stop it, then wait for it.
	stopStream()
	if seen != len(script) {
		stopAgent()
	}
	agentErr := <-agentDone
	switch {
	case pipeErr != nil: // the agent's error, if any, is that it was stopped
		return pipeErr
	case agentErr != nil:
		return agentErr
	}
	switch {
	case seen == len(script):
	case ctx.Err() != nil:
		return fmt.Errorf("pipeline: stopped after %d of %d events: %w", seen, len(script), ctx.Err())
	default:
		return fmt.Errorf("pipeline: the stream ended after %d of %d events", seen, len(script))
	}
	fmt.Fprintf(w, "totals: %d events in %d buffers: %s\n", seen, buffers, counts(total))
	return nil
}
