package adkjson_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/internal/leaktest"
)

// The package starts no goroutines, and the services its tests make must
// not either.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}
