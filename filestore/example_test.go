package filestore_test

import (
	"context"
	"fmt"
	"os"

	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/service"
)

// A session written through one store is there when the directory is opened
// again.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sessionlog-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := filestore.Open(ctx, dir, filestore.Options{Sync: filestore.SyncAlways})
	if err != nil {
		panic(err)
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		panic(err)
	}
	key := service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "trip-1"}
	sess, err := svc.Create(ctx, key, map[string]any{"city": "Oslo"})
	if err != nil {
		panic(err)
	}
	if _, err := svc.AppendEvent(ctx, sess, &service.Event{Author: "agent",
		Actions: service.EventActions{StateDelta: map[string]any{"user:units": "metric"}}}); err != nil {
		panic(err)
	}
	if err := svc.Close(); err != nil { // closes the store too
		panic(err)
	}

	store, err = filestore.Open(ctx, dir, filestore.Options{})
	if err != nil {
		panic(err)
	}
	svc, err = service.New(ctx, service.Options{Store: store})
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	got, err := svc.Get(ctx, key, service.GetOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(got.Version, got.State["city"], got.State["user:units"])
	// Output: 1 Oslo metric
}
