package pgstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
)

// Two replicas of an agent server share one PostgreSQL log: a session
// created and appended to through one is read through the other. (The
// example needs a server, so it is compiled but not run by go test.)
func Example() {
	ctx := context.Background()
	const dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	replica := func() *service.Service {
		store, err := pgstore.Open(ctx, dsn, pgstore.Options{Schema: "sessionlog_example"})
		if err != nil {
			log.Fatal(err)
		}
		svc, err := service.New(ctx, service.Options{Store: store})
		if err != nil {
			log.Fatal(err)
		}
		return svc
	}
	a, b := replica(), replica()
	defer a.Close()
	defer b.Close()

	key := service.SessionKey{AppName: "support", UserID: "ada", SessionID: "chat-1"}
	sess, err := a.Create(ctx, key, map[string]any{"user:tier": "gold"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := a.AppendEvent(ctx, sess, &service.Event{Author: "user"}); err != nil {
		log.Fatal(err)
	}
	got, err := b.Get(ctx, key, service.GetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(got.Events), got.State["user:tier"])
}
