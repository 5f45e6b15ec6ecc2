package service_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessionlog/sessionlog/service"
)

// newExampleService returns a service with a fixed clock and numbered IDs,
// so that the examples print the same thing every run.
func newExampleService() *service.Service {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	n := 0
	svc, err := service.New(context.Background(), service.Options{
		Now:   func() time.Time { now = now.Add(time.Second); return now },
		NewID: func() string { n++; return fmt.Sprint("id-", n) },
	})
	if err != nil {
		panic(err)
	}
	return svc
}

func ExampleService_Create() {
	ctx := context.Background()
	svc := newExampleService()
	defer svc.Close()

	// An empty SessionID asks for a new one; temp: keys are dropped.
	sess, err := svc.Create(ctx, service.SessionKey{AppName: "shop", UserID: "ada"},
		map[string]any{"app:currency": "EUR", "user:name": "Ada", "cart": 0, "temp:x": 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(sess.ID, sess.Version, sess.State)

	_, err = svc.Create(ctx, sess.Key(), nil)
	fmt.Println(errors.Is(err, service.ErrAlreadyExists))
	// Output:
	// id-1 0 map[app:currency:EUR cart:0 user:name:Ada]
	// true
}

func ExampleService_AppendEvent() {
	ctx := context.Background()
	svc := newExampleService()
	defer svc.Close()
	sess, _ := svc.Create(ctx, service.SessionKey{AppName: "shop", UserID: "ada", SessionID: "s1"}, map[string]any{"cart": 0})

	ev, err := svc.AppendEvent(ctx, sess, &service.Event{
		Author: "agent",
		Actions: service.EventActions{StateDelta: map[string]any{
			"cart": 2, "user:last_item": "tea", "temp:step": "checkout",
		}},
	})
	if err != nil {
		panic(err)
	}
	// The stored event has an ID, a timestamp and no temp: keys; the handle
	// has everything, temp: keys included, and the new version.
	fmt.Println(ev.ID, ev.Timestamp.Format(time.TimeOnly), ev.Actions.StateDelta)
	fmt.Println(sess.Version, sess.State)

	// Retrying the same event ID stores nothing new.
	again, _ := svc.AppendEvent(ctx, sess, &service.Event{ID: ev.ID, Author: "agent"})
	fmt.Println(again == ev, sess.Version)

	// A handle that missed an event cannot append.
	stale := &service.Session{ID: "s1", AppName: "shop", UserID: "ada", Version: 0}
	_, err = svc.AppendEvent(ctx, stale, &service.Event{Author: "agent"})
	fmt.Println(errors.Is(err, service.ErrStaleSession))
	// Output:
	// id-1 09:00:02 map[cart:2 user:last_item:tea]
	// 1 map[cart:2 temp:step:checkout user:last_item:tea]
	// true 1
	// true
}

func ExampleService_Get() {
	ctx := context.Background()
	svc := newExampleService()
	defer svc.Close()
	key := service.SessionKey{AppName: "shop", UserID: "ada", SessionID: "s1"}
	sess, _ := svc.Create(ctx, key, nil)
	for _, author := range []string{"user", "agent", "user", "agent"} {
		if _, err := svc.AppendEvent(ctx, sess, &service.Event{Author: author}); err != nil {
			panic(err)
		}
	}

	// The last three events, then of those the ones at or after 09:00:04.
	got, err := svc.Get(ctx, key, service.GetOptions{
		NumRecentEvents: 3,
		After:           time.Date(2026, 11, 21, 9, 0, 4, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}
	for _, ev := range got.Events {
		fmt.Println(ev.Author, ev.Timestamp.Format(time.TimeOnly))
	}

	_, err = svc.Get(ctx, service.SessionKey{AppName: "shop", UserID: "ada", SessionID: "nope"}, service.GetOptions{})
	fmt.Println(errors.Is(err, service.ErrNotFound))
	// Output:
	// user 09:00:04
	// agent 09:00:05
	// true
}

func ExampleService_List() {
	ctx := context.Background()
	svc := newExampleService()
	defer svc.Close()
	for _, k := range [][2]string{{"bob", "b1"}, {"ada", "a2"}, {"ada", "a1"}} {
		svc.Create(ctx, service.SessionKey{AppName: "shop", UserID: k[0], SessionID: k[1]}, nil)
	}

	// An empty user lists every user's sessions, by user and then ID,
	// two to a page.
	opts := service.ListOptions{PageSize: 2}
	for {
		page, err := svc.List(ctx, "shop", "", opts)
		if err != nil {
			panic(err)
		}
		for _, s := range page.Sessions {
			fmt.Println(s.UserID, s.ID)
		}
		if page.NextPageToken == "" {
			break
		}
		opts.PageToken = page.NextPageToken
	}
	// Output:
	// ada a1
	// ada a2
	// bob b1
}

func ExampleService_Subscribe() {
	ctx := context.Background()
	svc := newExampleService()
	defer svc.Close()
	key := service.SessionKey{AppName: "shop", UserID: "ada", SessionID: "s1"}
	sess, _ := svc.Create(ctx, key, nil)
	svc.AppendEvent(ctx, sess, &service.Event{Author: "user"})

	// The subscription replays the stored event, follows the live one, and
	// completes when the session is deleted.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rec, err := range svc.Subscribe(ctx, key, 0) {
			if err != nil {
				fmt.Println("error:", err)
				return
			}
			fmt.Println(rec.Seq, rec.Event.Author)
			if rec.Seq == 2 {
				svc.Delete(ctx, key)
			}
		}
		fmt.Println("completed")
	}()
	svc.AppendEvent(ctx, sess, &service.Event{Author: "agent"})
	<-done
	// Output:
	// 1 user
	// 2 agent
	// completed
}

func ExampleService_Export() {
	ctx := context.Background()
	svc := newExampleService()
	defer svc.Close()
	sess, _ := svc.Create(ctx, service.SessionKey{AppName: "shop", UserID: "ada", SessionID: "s1"}, map[string]any{"app:currency": "EUR"})
	svc.AppendEvent(ctx, sess, &service.Event{Author: "agent", Actions: service.EventActions{StateDelta: map[string]any{"cart": 1}}})

	// Copy the whole store into a fresh service.
	fresh := newExampleService()
	defer fresh.Close()
	if err := fresh.Import(ctx, svc.Export(ctx)); err != nil {
		panic(err)
	}
	got, _ := fresh.Get(ctx, sess.Key(), service.GetOptions{})
	fmt.Println(got.Version, len(got.Events), got.State)
	// Output:
	// 1 1 map[app:currency:EUR cart:1]
}
