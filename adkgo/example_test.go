package adkgo_test

import (
	"context"
	"fmt"

	"google.golang.org/adk/v2/session"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/adkgo"
	"github.com/sessionlog/sessionlog/service"
)

// A sessionlog service handed to the Go ADK as its session.Service: what
// the runner appends through the adapter is sessionlog's log, which the
// service behind it replays.
func Example() {
	ctx := context.Background()
	svc, _ := service.New(ctx, service.Options{})
	defer svc.Close()
	var sessions session.Service = adkgo.New(svc) // e.g. runner.Config{SessionService: sessions}

	created, _ := sessions.Create(ctx, &session.CreateRequest{AppName: "weather", UserID: "ada", SessionID: "trip-1"})
	ev := &session.Event{Author: "user", Actions: session.EventActions{StateDelta: map[string]any{"city": "Oslo", "temp:draft": true}}}
	ev.Content = genai.NewContentFromText("Weather in Oslo?", genai.RoleUser)
	if err := sessions.AppendEvent(ctx, created.Session, ev); err != nil {
		fmt.Println(err)
		return
	}
	draft, _ := created.Session.State().Get("temp:draft")
	fmt.Println("handle sees temp:draft =", draft)

	// The same session through sessionlog's own API: the log, without the
	// temp: key.
	h := created.Session.(*adkgo.Session)
	page, _ := svc.ListEvents(ctx, h.Key(), service.ListEventsOptions{})
	stored, _ := adkgo.ToADK(page.Events[0])
	fmt.Println("stored:", stored.Author, stored.Content.Parts[0].Text, stored.Actions.StateDelta)

	// Output:
	// handle sees temp:draft = true
	// stored: user Weather in Oslo? map[city:Oslo]
}
