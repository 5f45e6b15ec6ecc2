package observable_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

// newExampleRx returns the reactive face of an in-memory service with a
// fixed clock that ticks a second per reading and numbered IDs, so that the
// examples print the same thing on every run.
func newExampleRx() *observable.SessionService {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	n := 0
	svc, err := service.New(context.Background(), service.Options{
		Now:   func() time.Time { now = now.Add(time.Second); return now },
		NewID: func() string { n++; return fmt.Sprint("id-", n) },
	})
	if err != nil {
		panic(err)
	}
	return observable.New(svc)
}

func ExampleSessionService_CreateSession() {
	ctx := context.Background()
	rx := newExampleRx()
	defer rx.Service().Close()

	// An empty SessionID asks for a new one, like createSession(app, user).
	created, err := rx.CreateSession(ctx, observable.SessionKey{AppName: "shop", UserID: "ada"},
		map[string]any{"cart": 0, "user:name": "Ada"}).BlockingGet(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("created", created.ID, created.State)

	// getSession is a Maybe: a value, or empty when there is no session.
	got, ok, err := rx.GetSession(ctx, created.Key(), nil).BlockingGet(ctx)
	fmt.Println("found", ok, err, got.ID, got.LastUpdateTime.Format(time.TimeOnly))

	_, ok, err = rx.GetSession(ctx, observable.SessionKey{AppName: "shop", UserID: "ada", SessionID: "nope"}, nil).BlockingGet(ctx)
	fmt.Println("found", ok, err)

	// Errors travel as the Single's error.
	_, err = rx.CreateSession(ctx, created.Key(), nil).BlockingGet(ctx)
	fmt.Println(errors.Is(err, service.ErrAlreadyExists))
	// Output:
	// created id-1 map[cart:0 user:name:Ada]
	// found true <nil> id-1 09:00:01
	// found false <nil>
	// true
}

func ExampleSessionService_AppendEvent() {
	ctx := context.Background()
	rx := newExampleRx()
	defer rx.Service().Close()
	sess, _ := rx.CreateSession(ctx, observable.SessionKey{AppName: "shop", UserID: "ada", SessionID: "s1"}, nil).BlockingGet(ctx)

	// Subscribe calls onSuccess or onError before it returns.
	rx.AppendEvent(ctx, sess, &observable.Event{
		Author:  "agent",
		Actions: observable.EventActions{StateDelta: map[string]any{"cart": 2, "temp:step": "pay"}},
	}).Subscribe(
		func(ev *observable.Event) {
			fmt.Println("stored", ev.ID, ev.Timestamp.Format(time.TimeOnly), ev.Actions.StateDelta)
		},
		func(err error) { fmt.Println("failed:", err) },
	)
	// The handle was updated in place, temp: keys included.
	fmt.Println("handle", sess.Version, sess.State)

	// A nil event is an error through the Single, never a panic.
	rx.AppendEvent(ctx, sess, nil).Subscribe(
		func(*observable.Event) { fmt.Println("stored?") },
		func(err error) { fmt.Println("invalid:", errors.Is(err, service.ErrInvalidArgument)) },
	)
	// Output:
	// stored id-1 09:00:02 map[cart:2]
	// handle 1 map[cart:2 temp:step:pay]
	// invalid: true
}

func ExampleSessionService_DeleteSession() {
	ctx := context.Background()
	rx := newExampleRx()
	defer rx.Service().Close()
	key := observable.SessionKey{AppName: "shop", UserID: "ada", SessionID: "s1"}
	_, _ = rx.CreateSession(ctx, key, nil).BlockingGet(ctx)

	fmt.Println(rx.DeleteSession(ctx, key).BlockingAwait(ctx))
	// Deleting a missing session completes too.
	fmt.Println(rx.DeleteSession(ctx, key).BlockingAwait(ctx))

	_, ok, err := rx.GetSession(ctx, key, nil).BlockingGet(ctx)
	fmt.Println(ok, err)
	// Output:
	// <nil>
	// <nil>
	// false <nil>
}

func ExampleMap() {
	ctx := context.Background()
	rx := newExampleRx()
	defer rx.Service().Close()
	for _, id := range []string{"b", "a", "c"} {
		_, _ = rx.CreateSession(ctx, observable.SessionKey{AppName: "shop", UserID: "ada", SessionID: id}, nil).BlockingGet(ctx)
	}

	ids := observable.Map(rx.ListSessions(ctx, "shop", "ada"), func(r observable.ListSessionsResponse) (string, error) {
		return strings.Join(r.SessionIDs(), ","), nil
	})
	fmt.Println(ids.BlockingGet(ctx))

	// An error skips the function and comes through.
	failed := observable.Map(rx.ListSessions(ctx, "", "ada"), func(r observable.ListSessionsResponse) (int, error) {
		return len(r.Sessions), nil
	})
	_, err := failed.BlockingGet(ctx)
	fmt.Println(errors.Is(err, service.ErrInvalidArgument))
	// Output:
	// a,b,c <nil>
	// true
}

func ExampleSessionService_SessionEvents() {
	ctx := context.Background()
	rx := newExampleRx()
	defer rx.Service().Close()
	key := observable.SessionKey{AppName: "shop", UserID: "ada", SessionID: "s1"}
	sess, _ := rx.CreateSession(ctx, key, nil).BlockingGet(ctx)
	for _, author := range []string{"user", "agent"} {
		_, _ = rx.AppendEvent(ctx, sess, &observable.Event{Author: author}).BlockingGet(ctx)
	}

	// The stream replays the stored events, then follows live ones; it
	// completes when the session is deleted, here from inside the callback.
	err := rx.SessionEvents(key, 0).BlockingForEach(ctx, func(rec *observable.Record) error {
		fmt.Println(rec.Seq, rec.Kind, rec.Event.Author)
		switch rec.Seq {
		case 2:
			_, err := rx.AppendEvent(ctx, sess, &observable.Event{Author: "tool"}).BlockingGet(ctx)
			return err
		case 3:
			return rx.DeleteSession(ctx, key).BlockingAwait(ctx)
		}
		return nil
	})
	fmt.Println("done:", err)
	// Output:
	// 1 eventAppended user
	// 2 eventAppended agent
	// 3 eventAppended tool
	// done: <nil>
}

func ExampleStream_BlockingForEach() {
	ctx := context.Background()
	rx := newExampleRx()
	defer rx.Service().Close()
	for _, user := range []string{"ada", "bob"} {
		_, _ = rx.CreateSession(ctx, observable.SessionKey{AppName: "shop", UserID: user, SessionID: "s"}, nil).BlockingGet(ctx)
	}

	// An app stream never completes on its own: take a fixed count, then
	// cancel. BlockingForEach then gives ctx's error.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := 0
	err := rx.AppEvents("shop", 0).BlockingForEach(ctx, func(rec *observable.Record) error {
		fmt.Println(rec.Kind, rec.Key.UserID, rec.Time.Format(time.TimeOnly))
		if seen++; seen == 2 {
			cancel()
		}
		return nil
	})
	fmt.Println(errors.Is(err, context.Canceled))
	// Output:
	// sessionCreated ada 09:00:01
	// sessionCreated bob 09:00:02
	// true
}
