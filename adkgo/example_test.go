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

// A rewind through the adapter: the user takes back the turn that started
// invocation inv-2. The rewind is one more event, which the ADK sees with
// the invocation it names in CustomMetadata; the session's state is as it
// stood before inv-2, and a read can leave the annulled turn out.
func ExampleService_Rewind() {
	ctx := context.Background()
	svc, _ := service.New(ctx, service.Options{})
	defer svc.Close()
	sessions := adkgo.New(svc)

	created, _ := sessions.Create(ctx, &session.CreateRequest{AppName: "weather", UserID: "ada", SessionID: "trip-1"})
	h := created.Session.(*adkgo.Session)
	for i, city := range []string{"Oslo", "Lima"} {
		ev := &session.Event{InvocationID: fmt.Sprintf("inv-%d", i+1), Author: "user",
			Actions: session.EventActions{StateDelta: map[string]any{"city": city}}}
		ev.Content = genai.NewContentFromText("Weather in "+city+"?", genai.RoleUser)
		if err := sessions.AppendEvent(ctx, h, ev); err != nil {
			fmt.Println(err)
			return
		}
	}

	// ExpectVersion: refuse the rewind if the session moved on since h was
	// read. EventID: a retry after a timeout stores nothing new.
	rw, err := sessions.Rewind(ctx, &adkgo.RewindRequest{
		AppName: "weather", UserID: "ada", SessionID: "trip-1",
		BeforeInvocationID: "inv-2", EventID: "undo-1", ExpectVersion: new(h.Version()),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rewind:", rw.Author, rw.CustomMetadata[adkgo.MetadataKeyRewindBeforeInvocationID], rw.Actions.StateDelta)

	now, _ := sessions.Get(ctx, &session.GetRequest{AppName: "weather", UserID: "ada", SessionID: "trip-1"})
	city, _ := now.Session.State().Get("city")
	fmt.Println("city now:", city, "events:", now.Session.Events().Len())

	active, _ := sessions.GetAt(ctx, &adkgo.GetAtRequest{AppName: "weather", UserID: "ada", SessionID: "trip-1", SkipRewound: true})
	for ev := range active.Session.Events().All() {
		fmt.Println("active:", ev.Content.Parts[0].Text)
	}

	v := uint64(2)
	then, _ := sessions.GetAt(ctx, &adkgo.GetAtRequest{AppName: "weather", UserID: "ada", SessionID: "trip-1", AtVersion: &v})
	city, _ = then.Session.State().Get("city")
	fmt.Println("city at version 2:", city)

	// Output:
	// rewind: user inv-2 map[city:Oslo]
	// city now: Oslo events: 3
	// active: Weather in Oslo?
	// city at version 2: Lima
}
