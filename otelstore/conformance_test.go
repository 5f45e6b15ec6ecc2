package otelstore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/otelstore"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// wrapper starts none, and the suite's subscriptions end theirs (CONTRACT
// S3).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// A wrapped store keeps the whole contract, with the global (no-op)
// providers and with recording ones.
func TestConformance(t *testing.T) {
	t.Run("memstore/global providers", func(t *testing.T) {
		servicetest.Run(t, func(*testing.T) eventlog.Store {
			return otelstore.Wrap(memstore.New(), otelstore.Options{})
		})
	})
	t.Run("memstore/recording", func(t *testing.T) {
		tel := newTelemetry(t)
		servicetest.Run(t, func(*testing.T) eventlog.Store {
			return otelstore.Wrap(memstore.New(), tel.opts)
		})
	})
	t.Run("filestore/recording", func(t *testing.T) {
		tel := newTelemetry(t)
		servicetest.Run(t, func(t *testing.T) eventlog.Store {
			store, err := filestore.Open(t.Context(), t.TempDir(), filestore.Options{
				Observer: otelstore.FileObserver(tel.opts.MeterProvider),
			})
			if err != nil {
				t.Fatal(err)
			}
			return otelstore.Wrap(store, tel.opts)
		})
	})
}
