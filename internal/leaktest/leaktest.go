// Package leaktest holds what sessionlog's goroutine leak checks share.
package leaktest

import "go.uber.org/goleak"

// Options are the goleak options of every leak check in sessionlog's tests.
// genai brings in opencensus, whose package init starts a worker goroutine
// that runs for the life of the process: that one is not a leak.
func Options() []goleak.Option {
	return []goleak.Option{goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start")}
}
