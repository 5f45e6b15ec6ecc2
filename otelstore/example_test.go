package otelstore_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/otelstore"
	"github.com/sessionlog/sessionlog/service"
)

// Wrap the store a service uses; each store call becomes a span. A
// program usually sets its providers globally (otel.SetTracerProvider)
// and passes zero Options.
func ExampleWrap() {
	ctx := context.Background()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(ctx)

	store := otelstore.Wrap(memstore.New(), otelstore.Options{TracerProvider: tp})
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()
	key := service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "trip-1"}
	sess, _ := svc.Create(ctx, key, map[string]any{"city": "Oslo"})
	svc.AppendEvent(ctx, sess, &service.Event{Author: "agent"})
	svc.Get(ctx, service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "gone"}, service.GetOptions{})

	for _, s := range spans.GetSpans() {
		for _, kv := range s.Attributes {
			if kv.Key == "sessionlog.outcome" {
				fmt.Println(s.Name, kv.Value.AsString())
			}
		}
	}
	// Output:
	// sessionlog.Append ok
	// sessionlog.Append ok
	// sessionlog.Load not_found
}
