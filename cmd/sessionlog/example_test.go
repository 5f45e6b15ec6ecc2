package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/service"
)

// A store written by a program, then inspected and one session exported
// from the shell: `sessionlog inspect -dir DIR` and `sessionlog export
// -store file:DIR -app weather -user ada -session trip-1`.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sessionlog-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := filestore.Open(ctx, dir, filestore.Options{})
	if err != nil {
		panic(err)
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	svc, err := service.New(ctx, service.Options{Store: store, Now: func() time.Time { return at }, NewID: func() string { return "e1" }})
	if err != nil {
		panic(err)
	}
	sess, err := svc.Create(ctx, service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "trip-1"}, map[string]any{"city": "Oslo"})
	if err != nil {
		panic(err)
	}
	if _, err := svc.AppendEvent(ctx, sess, &service.Event{Author: "agent",
		Actions: service.EventActions{StateDelta: map[string]any{"user:units": "metric"}}}); err != nil {
		panic(err)
	}
	if err := svc.Close(); err != nil {
		panic(err)
	}

	var out strings.Builder
	run(ctx, []string{"inspect", "-dir", dir}, nil, &out, os.Stderr)
	_, counts, _ := strings.Cut(out.String(), "\n") // the first line names the temporary file
	fmt.Print(counts)
	run(ctx, []string{"export", "-store", "file:" + dir, "-app", "weather", "-user", "ada", "-session", "trip-1"}, nil, os.Stdout, os.Stderr)
	// Output:
	// 1 apps
	// app "weather": 1 users, 1 sessions, 1 events, 0 app state keys
	//   user "ada": 1 sessions, 1 events, 1 user state keys
	//     session "trip-1": version 1, 1 events, 1 session state keys, last update 2026-03-01T09:00:00Z
	// {"id":"trip-1","appName":"weather","userId":"ada","state":{"city":"Oslo","user:units":"metric"},"events":[{"id":"e1","author":"agent","timestamp":"2026-03-01T09:00:00Z","actions":{"stateDelta":{"user:units":"metric"}}}],"lastUpdateTime":"2026-03-01T09:00:00Z"}
}
