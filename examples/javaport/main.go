// Javaport shows how code written against the Java ADK's BaseSessionService
// (RxJava Single, Maybe and Completable) reads in Go with package
// observable. Each step gives, as a comment, a short Java-like line of the
// usual Java usage, and below it the same step in Go, line by line:
// createSession, appendEvent with a state delta, getSession with a config
// and for a missing session, listSessions mapped to IDs, listEvents, a
// flatMap from createSession to appendEvent, closeSession and
// deleteSession.
//
//	go run ./examples/javaport
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "javaport:", err)
		os.Exit(1)
	}
}

// newService returns the reactive session service over an in-memory store
// with a clock that ticks one second per call and numbered IDs (id-1,
// id-2, ...), so that the program prints the same thing on every run.
func newService(ctx context.Context) (*observable.SessionService, error) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	n := 0
	svc, err := service.New(ctx, service.Options{
		Now:   func() time.Time { now = now.Add(time.Second); return now },
		NewID: func() string { n++; return fmt.Sprint("id-", n) },
	})
	if err != nil {
		return nil, fmt.Errorf("new service: %w", err)
	}
	return observable.New(svc), nil
}

// textEvent returns an event by author carrying text and a state delta.
func textEvent(author, role, text string, delta map[string]any) *observable.Event {
	return &observable.Event{
		Author:  author,
		Content: genai.NewContentFromText(text, genai.Role(role)),
		Actions: service.EventActions{StateDelta: delta},
	}
}

// texts returns the text of each event, for printing.
func texts(events []*observable.Event) string {
	out := make([]string, 0, len(events))
	for _, ev := range events {
		if ev.Content != nil && len(ev.Content.Parts) > 0 {
			out = append(out, fmt.Sprintf("%q", ev.Content.Parts[0].Text))
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

func run(ctx context.Context, w io.Writer) error {
	sessionService, err := newService(ctx)
	if err != nil {
		return err
	}
	defer sessionService.Service().Close()

	// 1. createSession, then blockingGet. Java passes a null session ID to
	// get a generated one; Go leaves SessionKey.SessionID empty. temp: keys
	// are dropped.
	//
	// Java: Map<String, Object> state = Map.of("app:model", "gemini", "user:lang", "en", "city", "Oslo");
	// Java: Session session = sessionService.createSession("travel", "ada", state, null).blockingGet();
	state := map[string]any{"app:model": "gemini", "user:lang": "en", "city": "Oslo", "temp:draft": true}
	session, err := sessionService.CreateSession(ctx, observable.SessionKey{AppName: "travel", UserID: "ada"}, state).BlockingGet(ctx)
	if err != nil {
		return fmt.Errorf("createSession: %w", err)
	}
	fmt.Fprintf(w, "createSession: %s state=%v\n", session.ID, session.State)

	// 2. appendEvent with a state delta in every scope, then subscribe with
	// a success and an error callback. In Go the callbacks run before
	// Subscribe returns; the handle is updated in place, as in Java.
	//
	// Java: Event question = Event.builder().author("user").content(text("Trains to Bergen?")).build();
	// Java: sessionService.appendEvent(session, question).subscribe(e -> print(e), err -> print(err));
	// Java: Event answer = Event.builder().author("planner").content(text("Three a day."))
	// Java:     .actions(EventActions.builder().stateDelta(delta).build()).build();
	// Java: sessionService.appendEvent(session, answer).subscribe(e -> print(e), err -> print(err));
	question := textEvent("user", genai.RoleUser, "Trains to Bergen?", nil)
	answer := textEvent("planner", genai.RoleModel, "Three a day.", map[string]any{
		"app:model": "gemini-pro", "user:lang": "nb", "temp:scratch": 42, "city": "Bergen",
	})
	var appendErr error
	for _, ev := range []*observable.Event{question, answer} {
		sessionService.AppendEvent(ctx, session, ev).Subscribe(
			func(e *observable.Event) {
				fmt.Fprintf(w, "appendEvent: %s by %s at %s, stored delta=%v\n",
					e.ID, e.Author, e.Timestamp.Format(time.TimeOnly), e.Actions.StateDelta)
			},
			func(err error) { appendErr = err },
		)
		if appendErr != nil {
			return fmt.Errorf("appendEvent: %w", appendErr)
		}
	}
	fmt.Fprintf(w, "session handle: version=%d state=%v\n", session.Version, session.State)

	// 3. getSession with a config asking for the most recent event only.
	// Java's Maybe gives null from blockingGet when there is no session; Go
	// gives ok == false.
	//
	// Java: GetSessionConfig config = GetSessionConfig.builder().numRecentEvents(1).build();
	// Java: Session latest = sessionService.getSession("travel", "ada", session.id(), Optional.of(config)).blockingGet();
	one := 1
	config := &observable.GetSessionConfig{NumRecentEvents: &one}
	latest, ok, err := sessionService.GetSession(ctx, session.Key(), config).BlockingGet(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("getSession: %w", err)
	case !ok:
		return fmt.Errorf("getSession: session %s is missing", session.ID)
	}
	fmt.Fprintf(w, "getSession(numRecentEvents=1): %s events=%s state=%v\n", latest.ID, texts(latest.Events), latest.State)

	// Java: Session missing = sessionService.getSession("travel", "ada", "nope", Optional.empty()).blockingGet(); // null
	_, ok, err = sessionService.GetSession(ctx, observable.SessionKey{AppName: "travel", UserID: "ada", SessionID: "nope"}, nil).BlockingGet(ctx)
	if err != nil {
		return fmt.Errorf("getSession: %w", err)
	}
	fmt.Fprintf(w, "getSession(nope): present=%t\n", ok)

	// 4. flatMap: create a session and append its first event in one
	// chain. Unlike RxJava, the work of a Go call has already run when the
	// call returns: FlatMap calls the function at once, with the created
	// session, or passes on createSession's error without calling it.
	//
	// Java: Event hello = sessionService.createSession("travel", "ada", null, "trip-2")
	// Java:     .flatMap(s -> sessionService.appendEvent(s, greeting)).blockingGet();
	greeting := textEvent("user", genai.RoleUser, "Hello again", map[string]any{"city": "Tromsø"})
	hello, err := observable.FlatMap(
		sessionService.CreateSession(ctx, observable.SessionKey{AppName: "travel", UserID: "ada", SessionID: "trip-2"}, nil),
		func(s *observable.Session) observable.Single[*observable.Event] {
			return sessionService.AppendEvent(ctx, s, greeting)
		},
	).BlockingGet(ctx)
	if err != nil {
		return fmt.Errorf("createSession.flatMap(appendEvent): %w", err)
	}
	fmt.Fprintf(w, "flatMap(createSession -> appendEvent): %s by %s, delta=%v\n", hello.ID, hello.Author, hello.Actions.StateDelta)

	// 5. listSessions, mapped to the session IDs. The listed sessions have
	// merged state and no events.
	//
	// Java: List<String> ids = sessionService.listSessions("travel", "ada")
	// Java:     .map(r -> r.sessions().stream().map(Session::id).toList()).blockingGet();
	ids, err := observable.Map(sessionService.ListSessions(ctx, "travel", "ada"),
		func(r observable.ListSessionsResponse) ([]string, error) { return r.SessionIDs(), nil },
	).BlockingGet(ctx)
	if err != nil {
		return fmt.Errorf("listSessions: %w", err)
	}
	fmt.Fprintf(w, "listSessions: %v\n", ids)

	// 6. listEvents: the first page of a session's events.
	//
	// Java: ListEventsResponse page = sessionService.listEvents("travel", "ada", session.id()).blockingGet();
	page, err := sessionService.ListEvents(ctx, session.Key(), service.ListEventsOptions{}).BlockingGet(ctx)
	if err != nil {
		return fmt.Errorf("listEvents: %w", err)
	}
	fmt.Fprintf(w, "listEvents: %d events %s, next page token %q\n", len(page.Events), texts(page.Events), page.NextPageToken)

	// 7. closeSession: nothing to release, it completes.
	//
	// Java: sessionService.closeSession(session).blockingAwait();
	if err := sessionService.CloseSession(ctx, session).BlockingAwait(ctx); err != nil {
		return fmt.Errorf("closeSession: %w", err)
	}
	fmt.Fprintf(w, "closeSession: %s completed\n", session.ID)

	// 8. deleteSession, then blockingAwait. The session is gone (getSession
	// is empty, appending fails), while the app: and user: state it wrote
	// stays.
	//
	// Java: sessionService.deleteSession("travel", "ada", session.id()).blockingAwait();
	if err := sessionService.DeleteSession(ctx, session.Key()).BlockingAwait(ctx); err != nil {
		return fmt.Errorf("deleteSession: %w", err)
	}
	fmt.Fprintf(w, "deleteSession: %s completed\n", session.ID)

	// Java: Session gone = sessionService.getSession("travel", "ada", session.id(), Optional.empty()).blockingGet(); // null
	_, ok, err = sessionService.GetSession(ctx, session.Key(), nil).BlockingGet(ctx)
	if err != nil {
		return fmt.Errorf("getSession after delete: %w", err)
	}
	fmt.Fprintf(w, "getSession(%s) after delete: present=%t\n", session.ID, ok)

	// Java: sessionService.appendEvent(session, late).subscribe(e -> print(e), err -> print(err));
	late := textEvent("user", genai.RoleUser, "Still there?", nil)
	sessionService.AppendEvent(ctx, session, late).Subscribe(
		func(e *observable.Event) { fmt.Fprintf(w, "appendEvent after delete: unexpectedly stored %s\n", e.ID) },
		func(err error) { fmt.Fprintf(w, "appendEvent after delete: onError: %v\n", err) },
	)

	// Java: Session other = sessionService.getSession("travel", "ada", "trip-2", Optional.empty()).blockingGet();
	other, ok, err := sessionService.GetSession(ctx, observable.SessionKey{AppName: "travel", UserID: "ada", SessionID: "trip-2"}, nil).BlockingGet(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("getSession(trip-2): %w", err)
	case !ok:
		return fmt.Errorf("getSession(trip-2): session is missing")
	}
	fmt.Fprintf(w, "getSession(trip-2): events=%s state=%v\n", texts(other.Events), other.State)
	return nil
}
