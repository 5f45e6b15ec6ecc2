// Package leaktest holds the settings of every goroutine leak check in
// sessionlog's tests.
package leaktest

import "go.uber.org/goleak"

// Options are the goleak options of every leak check in sessionlog's tests.
// genai brings in opencensus, whose package init starts a worker goroutine
// that runs for the life of the process: that one is not a leak.
func Options() []goleak.Option {
	return []goleak.Option{goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start")}
}
