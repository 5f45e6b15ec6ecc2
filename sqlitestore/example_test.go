package sqlitestore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sessionlog/sessionlog/service"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// A session written through one store is read back after the file is
// opened again, as after a restart.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlitestore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.db")
	open := func() *service.Service {
		store, err := sqlitestore.Open(ctx, path, sqlitestore.Options{Sync: sqlitestore.SyncFull})
		if err != nil {
			log.Fatal(err)
		}
		svc, err := service.New(ctx, service.Options{Store: store})
		if err != nil {
			log.Fatal(err)
		}
		return svc
	}

	svc := open()
	key := service.SessionKey{AppName: "support", UserID: "ada", SessionID: "chat-1"}
	sess, err := svc.Create(ctx, key, map[string]any{"user:tier": "gold"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := svc.AppendEvent(ctx, sess, &service.Event{Author: "user"}); err != nil {
		log.Fatal(err)
	}
	svc.Close()

	svc = open()
	defer svc.Close()
	got, err := svc.Get(ctx, key, service.GetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(got.Events), got.State["user:tier"])
	// Output: 1 gold
}
