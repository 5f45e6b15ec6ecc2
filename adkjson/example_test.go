package adkjson_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/service"
)

// A session saved by the Python ADK moves into a service, then out again
// as the Java ADK would write it.
func Example() {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()

	python := `{
	  "id": "s1", "appName": "shop", "userId": "ada",
	  "state": {"cart": 2, "user:name": "Ada"},
	  "events": [{
	    "id": "e1", "author": "user", "timestamp": 1763715600.25,
	    "content": {"role": "user", "parts": [{"text": "two teas"}]},
	    "actions": {"stateDelta": {"cart": 2}}
	  }],
	  "lastUpdateTime": 1763715600.25
	}`
	sess, err := adkjson.Import(ctx, &svc, strings.NewReader(python))
	if err != nil {
		panic(err)
	}
	fmt.Println(sess.ID, sess.Version, sess.State, sess.LastUpdateTime)

	err = adkjson.Export(ctx, &svc, sess.Key(), os.Stdout, adkjson.Options{Format: adkjson.FormatJava})
	if err != nil {
		panic(err)
	}
	// Output:
	// s1 1 map[cart:2 user:name:Ada] 2025-11-21 09:00:00.25 +0000 UTC
	// {"id":"s1","appName":"shop","userId":"ada","state":{"cart":2,"user:name":"Ada"},"events":[{"actions":{"stateDelta":{"cart":2}},"author":"user","content":{"parts":[{"text":"two teas"}],"role":"user"},"id":"e1","timestamp":1763715600250}],"lastUpdateTime":1763715600.25}
}

// A document that names one event twice is refused as a whole, naming the
// event; nothing is written.
func ExampleImport_refused() {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()

	doc := `{"id": "s1", "appName": "shop", "userId": "ada", "events": [
	  {"id": "e1", "timestamp": 1763715600},
	  {"id": "e1", "timestamp": 1763715601}
	]}`
	_, err := adkjson.Import(ctx, &svc, strings.NewReader(doc))
	fmt.Println(errors.Is(err, service.ErrInvalidArgument))
	fmt.Println(err)

	_, err = svc.Get(ctx, service.SessionKey{AppName: "shop", UserID: "ada", SessionID: "s1"}, service.GetOptions{})
	fmt.Println(errors.Is(err, service.ErrNotFound))
	// Output:
	// true
	// adkjson: import session "shop"/"ada"/"s1": events[1].id: invalid argument: "e1" repeats events[0].id
	// true
}
