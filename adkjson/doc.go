// Package adkjson reads and writes one session as the JSON document the ADK
// runtimes exchange, and moves such documents into and out of a
// [service.Service].
//
// A session document is a JSON object with the fields id, appName, userId,
// state (the merged state: session keys, and app: and user: keys), events
// (each in [eventlog.Event]'s wire shape) and lastUpdateTime. The runtimes
// agree on those names and differ in how they write times (and the Java
// ADK writes an event's customMetadata as a list of entries, not a map):
//
//	runtime  lastUpdateTime                  events[].timestamp
//	Python   epoch seconds, fractional       epoch seconds, fractional
//	Java     epoch seconds, fractional       epoch milliseconds
//	Go       RFC 3339 string                 RFC 3339 string
//
// ([FormatGo] is also sessionlog's own form. The Go ADK's REST server writes
// lastUpdateTime as whole epoch seconds, which reads like Python's, and
// writes its events without a timestamp: [Unmarshal] reads such a document,
// and [ImportSession] refuses it if it has events, naming the first
// event's missing timestamp.)
//
// [Unmarshal] reads all three shapes, each timestamp by the rules of
// [eventlog.ParseTimestamp]; [Marshal] writes the one [Options.Format]
// names. [Export] writes a stored session to an io.Writer, and [Import] and
// [ImportSession] check a whole document before they write any of it to a
// service.
package adkjson
