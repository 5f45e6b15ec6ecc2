package pgstore_test

import (
	"testing"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// CONTRACT V1: values read back by a store opened after the writer closed
// are the JSON values the writer returned (through a second replica, the
// replica suite checks them too).
func TestValuesAfterRestart(t *testing.T) {
	dsn(t)
	servicetest.RunRestart(t, func(t *testing.T) func() eventlog.Store {
		schema := newSchema(t)
		return func() eventlog.Store { return open(t, schema) }
	})
}
