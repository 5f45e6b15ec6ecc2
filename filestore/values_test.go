package filestore_test

import (
	"testing"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// CONTRACT V1: values read back from the log after a restart are the
// JSON values the store returned before it, under each sync policy.
func TestValuesAfterRestart(t *testing.T) {
	for _, policy := range []filestore.SyncPolicy{filestore.SyncOS, filestore.SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			servicetest.RunRestart(t, func(t *testing.T) func() eventlog.Store {
				dir := t.TempDir()
				return func() eventlog.Store { return open(t, dir, filestore.Options{Sync: policy}) }
			})
		})
	}
}
