package service_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// subscription must leave nothing running once it ends (CONTRACT S3).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// TestMemoryConformance runs the conformance suite against the in-memory
// store.
func TestMemoryConformance(t *testing.T) {
	servicetest.Run(t, func(*testing.T) eventlog.Store { return eventlog.NewMemory() })
}
