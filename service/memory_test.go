package service_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// subscription must leave nothing running once it ends (CONTRACT S3).
//
// The one goroutine ignored is not ours: go.opencensus.io, which genai's
// Google Cloud dependencies link in, starts a stats worker in its package
// init that runs for the life of the process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// TestMemoryConformance runs the conformance suite against the in-memory
// store.
func TestMemoryConformance(t *testing.T) {
	servicetest.Run(t, func(*testing.T) eventlog.Store { return eventlog.NewMemory() })
}
