package bench

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	adksession "google.golang.org/adk/v2/session"

	"github.com/sessionlog/sessionlog/service"
)

// TestPGFillsMatchTheServices checks that BenchmarkPGStartUp's SQL fills
// write what each service writes: a session filled with SQL reads back,
// through its service, the same events, state and last update time as the
// same session written through the service, and sessionlog's filled log
// folds to the read model it stands beside (service.Verify).
func TestPGFillsMatchTheServices(t *testing.T) {
	pgDSN(t)
	ctx := context.Background()
	const sessions, events = 3, 5
	for _, side := range startSides {
		t.Run(side.name, func(t *testing.T) {
			filled := side.fill(t, sessions, events)
			// The same sessions, written through a service.
			written := pgSchema(t, "bench_check")
			var through target
			switch side.name {
			case "adk":
				through = &adkTarget{svc: newADKPG(t, written)}
			default:
				through = &slTarget{svc: newSLPG(t, written, 1)[0]}
			}
			for i := 1; i <= sessions; i++ {
				if err := fill(ctx, through, filledUser(i), filledSession(i), events); err != nil {
					t.Fatal(err)
				}
			}
			readWritten, readFilled := reader(t, side.name, written), reader(t, side.name, filled)
			for i := 1; i <= sessions; i++ {
				want, got := readWritten(i), readFilled(i)
				if got != want {
					t.Errorf("session %d filled with SQL reads\n%s\nwritten through the service it reads\n%s", i, got, want)
				}
			}
			if side.name == "sessionlog" {
				svc := newSLPG(t, filled, 1)[0]
				if err := svc.Verify(ctx); err != nil {
					t.Errorf("the filled log and its read model disagree: %v", err)
				}
			}
		})
	}
}

// reader opens a replica of side over schema and returns a function
// that reads session i as its Get returns it, in JSON: events, state and
// last update time.
func reader(t *testing.T, side, schema string) func(i int) string {
	t.Helper()
	ctx := context.Background()
	var get func(i int) (events any, state map[string]any, updated time.Time)
	switch side {
	case "adk":
		svc := newADKPG(t, schema)
		get = func(i int) (any, map[string]any, time.Time) {
			resp, err := svc.Get(ctx, &adksession.GetRequest{AppName: appName, UserID: filledUser(i), SessionID: filledSession(i)})
			if err != nil {
				t.Fatal(err)
			}
			return slices.Collect(resp.Session.Events().All()), maps.Collect(resp.Session.State().All()), resp.Session.LastUpdateTime()
		}
	default:
		svc := newSLPG(t, schema, 1)[0]
		get = func(i int) (any, map[string]any, time.Time) {
			sess, err := svc.Get(ctx, service.SessionKey{AppName: appName, UserID: filledUser(i), SessionID: filledSession(i)}, service.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return sess.Events, sess.State, sess.LastUpdateTime
		}
	}
	return func(i int) string {
		events, state, updated := get(i)
		b, err := json.Marshal(struct {
			Events  any
			State   map[string]any
			Updated string
		}{events, state, updated.UTC().String()})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}
