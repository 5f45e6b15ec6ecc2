package adkjson

import (
	"context"
	"fmt"
	"io"
	"iter"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// Export writes the session key names, with all its events, to w as one
// ADK session document (see [Marshal]) followed by a newline. Nothing is
// written when the session cannot be read or encoded; a missing session
// gives an error wrapping [service.ErrNotFound].
func Export(ctx context.Context, svc *service.Service, key service.SessionKey, w io.Writer, opts Options) error {
	switch {
	case svc == nil:
		return fmt.Errorf("adkjson: export: %w", invalid("service", "is nil"))
	case w == nil:
		return fmt.Errorf("adkjson: export: %w", invalid("writer", "is nil"))
	}
	sess, err := svc.Get(ctx, key, service.GetOptions{})
	if err != nil {
		return fmt.Errorf("adkjson: export: %w", err)
	}
	b, err := Marshal(sess, opts)
	if err != nil {
		return fmt.Errorf("adkjson: export session %s: %w", sess.Key(), err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("adkjson: export session %s: %w", sess.Key(), err)
	}
	return nil
}

// An ImportOption changes what [Import] and [ImportSession] accept.
type ImportOption func(*importOptions)

type importOptions struct {
	anyTimeOrder bool
}

// AnyTimeOrder accepts a document whose event timestamps go back. By
// default such a document is refused: the ADK runtimes keep a session's
// events in time order, so in a document of theirs it means the events
// were edited or put together wrongly. A session's own log may hold such
// events (the service keeps events in the order they were appended, and
// parallel agents append out of time order), so re-importing what [Export]
// wrote may need this option.
func AnyTimeOrder() ImportOption { return func(o *importOptions) { o.anyTimeOrder = true } }

// Import reads one ADK session document from r (see [Unmarshal]) and
// stores it in svc with [ImportSession], returning the stored session.
func Import(ctx context.Context, svc *service.Service, r io.Reader, opts ...ImportOption) (*service.Session, error) {
	if r == nil {
		return nil, fmt.Errorf("adkjson: import: %w", invalid("reader", "is nil"))
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("adkjson: import: read: %w", err)
	}
	sess, err := Unmarshal(data)
	if err != nil {
		return nil, err
	}
	return ImportSession(ctx, svc, sess, opts...)
}

// ImportSession stores sess, a session document as [Unmarshal] returns it,
// in svc as a new session with the same key, events and state, and returns
// the stored session as [service.Service.Get] shows it.
//
// It checks the whole document before it writes anything: app name and
// user ID present (CONTRACT K1; an empty session ID gets a new UUID, as
// Create gives one), every event present and not partial (the runtimes
// never store partial events), event IDs unique (an empty one gets a new
// UUID), timestamps present and in non-decreasing order (any order with
// [AnyTimeOrder]), every value
// encodable as JSON and within the service's nesting limits, and the state
// consistent with the events (below). A document that fails gives an error
// wrapping [service.ErrInvalidArgument] that names the field, such as
// events[3].id, and changes nothing. A session that exists gives
// [service.ErrAlreadyExists] and is left as it was.
//
// The document's state is the session's state after its events, so the
// events' state deltas are already part of it. The session is therefore
// written as a log that replays to that state: a creation record holding
// the state keys that no event's delta sets, then each event, with its ID,
// timestamp and actions as given. A rebuild from the log (CONTRACT R1)
// shows the document's state, with each delta-set key coming from the
// event that last set it. An app: or user: key may hold a value that no
// event of this session left, because those keys are shared and another
// session wrote them later; such keys are written after the events as
// retained state (the log's record for app and user state that sessions
// outside the log wrote). A session key whose value differs from what the
// events leave cannot be explained by any log and is an error, as is a
// value equal to the removal sentinel. temp: keys are dropped, as every
// write drops them.
//
// A document carries no creation state, so the imported session's history
// begins with what the document can tell: a key that the original session
// was created with and that a later event set again is not in the
// creation record. Reading the session as it stood at version 0
// (service.GetOptions.AtVersion) shows only the keys no event sets, and a
// rewind to before the first invocation removes the others, where on the
// original it would restore their creation values.
//
// The creation time is the document's lastUpdateTime when the session has
// no events (now, when that is missing too), or else the earliest of that
// and the events' timestamps; the stored session's LastUpdateTime is then
// its last event's timestamp, as in every ADK runtime.
//
// app: and user: keys go to the app's and the user's state in svc, as
// Create and AppendEvent put them, so other sessions of that app and user
// see them. If a write fails after the session was created (the store
// fails, or ctx ends), the session is deleted again and the error says so;
// the app and user state it wrote stays, as it does for any deleted
// session (CONTRACT D2).
func ImportSession(ctx context.Context, svc *service.Service, sess *service.Session, opts ...ImportOption) (*service.Session, error) {
	if svc == nil {
		return nil, fmt.Errorf("adkjson: import: %w", invalid("service", "is nil"))
	}
	var o importOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	p, err := plan(ctx, sess, o)
	if err != nil {
		return nil, err
	}
	fail := func(err error) error { return fmt.Errorf("adkjson: import session %s: %w", p.key, err) }

	// A dry run into an empty in-memory service applies exactly the checks
	// and the state rules the real import will, and shows the final state.
	var scratch service.Service
	defer scratch.Close()
	if err := p.write(ctx, &scratch); err != nil {
		return nil, fail(err.err)
	}
	if err := p.reconcile(ctx, &scratch); err != nil {
		return nil, fail(err)
	}

	if err := p.write(ctx, svc); err != nil {
		if !err.created {
			return nil, fail(fmt.Errorf("%w; nothing was written", err.err))
		}
		if derr := svc.Delete(context.WithoutCancel(ctx), p.key); derr != nil {
			return nil, fail(fmt.Errorf("%w; deleting the partly imported session failed too: %w", err.err, derr))
		}
		return nil, fail(fmt.Errorf("%w; the partly imported session was deleted (app: and user: state it wrote stays)", err.err))
	}
	out, err := svc.Get(ctx, p.key, service.GetOptions{})
	if err != nil {
		return nil, fail(fmt.Errorf("read back: %w", err))
	}
	return out, nil
}

// importPlan is a checked document as the log records that write it.
type importPlan struct {
	key     service.SessionKey
	created *eventlog.Record
	events  []*eventlog.Record
	// retained holds the app: and user: values the events do not leave;
	// reconcile fills it.
	retained *eventlog.Record
	// want is the state the stored session must show.
	want map[string]any
}

// plan checks everything about sess that needs no service and lays out the
// records that store it.
func plan(ctx context.Context, sess *service.Session, o importOptions) (*importPlan, error) {
	switch {
	case ctx == nil:
		return nil, fmt.Errorf("adkjson: import: %w", invalid("ctx", "is nil"))
	case sess == nil:
		return nil, fmt.Errorf("adkjson: import: %w", invalid("session", "is nil"))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("adkjson: import: %w", err)
	}
	key := service.SessionKey{AppName: sess.AppName, UserID: sess.UserID, SessionID: strings.TrimSpace(sess.ID)}
	fail := func(err error) error { return fmt.Errorf("adkjson: import session %s: %w", key, err) }
	if err := required("appName", key.AppName); err != nil {
		return nil, fail(err)
	}
	if err := required("userId", key.UserID); err != nil {
		return nil, fail(err)
	}
	if key.SessionID == "" {
		key.SessionID = uuid.NewString()
	}
	if err := checkEncodable(sess.State); err != nil {
		return nil, fail(err)
	}

	p := &importPlan{key: key, want: map[string]any{}}
	setByEvents := map[string]bool{}
	ids := make(map[string]int, len(sess.Events))
	for i, ev := range sess.Events {
		field := fmt.Sprintf("events[%d]", i)
		switch {
		case ev == nil:
			return nil, fail(invalid(field, "is null"))
		case ev.Partial:
			return nil, fail(invalid(field+".partial", "is true: partial events are never stored"))
		case ev.Timestamp.IsZero():
			return nil, fail(invalid(field+".timestamp", "is missing"))
		case !o.anyTimeOrder && i > 0 && ev.Timestamp.Before(sess.Events[i-1].Timestamp):
			return nil, fail(invalid(field+".timestamp", "%s is before events[%d].timestamp %s: events must be in time order (adkjson.AnyTimeOrder accepts them)",
				eventlog.FormatTimestamp(ev.Timestamp), i-1, eventlog.FormatTimestamp(sess.Events[i-1].Timestamp)))
		}
		stored := *ev // shallow: the service copies what it stores
		if stored.ID == "" {
			stored.ID = uuid.NewString()
		} else if j, dup := ids[stored.ID]; dup {
			return nil, fail(invalid(field+".id", "%q repeats events[%d].id", stored.ID, j))
		}
		ids[stored.ID] = i
		if _, err := marshalEvent(&stored, FormatGo); err != nil {
			return nil, fail(fmt.Errorf("%s: %w", field, err))
		}
		for k := range ev.Actions.StateDelta {
			setByEvents[k] = true
		}
		p.events = append(p.events, &eventlog.Record{
			Kind: eventlog.KindEventAppended, Key: key, Seq: uint64(i + 1), Time: stored.Timestamp, Event: &stored,
		})
	}

	initial := map[string]any{}
	for k, v := range sess.State {
		if isRemoved(v) {
			return nil, fail(invalid(fmt.Sprintf("state[%q]", k), "is the removal sentinel %q, which no stored state holds", removedJSON))
		}
		if strings.HasPrefix(k, tempPrefix) {
			continue
		}
		p.want[k] = v
		if !setByEvents[k] {
			initial[k] = v
		}
	}
	p.created = &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: creationTime(sess), State: initial}
	return p, nil
}

// creationTime is when the imported session is recorded as created: no
// later than the document's lastUpdateTime or any of its events.
func creationTime(sess *service.Session) time.Time {
	t := sess.LastUpdateTime
	for _, ev := range sess.Events {
		if t.IsZero() || ev.Timestamp.Before(t) {
			t = ev.Timestamp
		}
	}
	if t.IsZero() {
		t = time.Now()
	}
	return t
}

// writeError is a failed write, and whether the session had been created
// by then.
type writeError struct {
	err     error
	created bool
}

// write imports the plan's records into svc, naming the document field of
// the record that failed.
func (p *importPlan) write(ctx context.Context, svc *service.Service) *writeError {
	fields := make([]string, 0, len(p.events)+2)
	records := func(yield func(*eventlog.Record, error) bool) {
		fields = append(fields, "state")
		if !yield(p.created, nil) {
			return
		}
		for i, rec := range p.events {
			fields = append(fields, fmt.Sprintf("events[%d]", i))
			if !yield(rec, nil) {
				return
			}
		}
		if p.retained != nil {
			fields = append(fields, "state")
			yield(p.retained, nil)
		}
	}
	err := svc.Import(ctx, iter.Seq2[*eventlog.Record, error](records))
	switch {
	case err == nil:
		return nil
	case len(fields) == 0: // failed before the first record
		return &writeError{err: err}
	}
	return &writeError{err: fmt.Errorf("%s: %w", fields[len(fields)-1], err), created: len(fields) > 1}
}

// reconcile compares the state the plan leaves in scratch (an otherwise
// empty service it was written to) with the document's. The app: and user:
// keys that differ go into a retained-state record written after the
// events; a session key that differs is an error.
func (p *importPlan) reconcile(ctx context.Context, scratch *service.Service) error {
	got, err := scratch.Get(ctx, p.key, service.GetOptions{NumRecentEvents: 1})
	if err != nil {
		return err
	}
	shared := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(unionKeys(got.State, p.want))) {
		w, inWant := p.want[k]
		g, inGot := got.State[k]
		if inWant == inGot && reflect.DeepEqual(w, g) {
			continue
		}
		if !strings.HasPrefix(k, appPrefix) && !strings.HasPrefix(k, userPrefix) {
			return invalid(fmt.Sprintf("state[%q]", k), "is %s, but the events' state deltas leave it %s: a session key's value must follow from its events",
				describe(w, inWant), describe(g, inGot))
		}
		if inWant {
			shared[k] = w
		} else {
			shared[k] = service.Removed
		}
	}
	if len(shared) == 0 {
		return nil
	}
	p.retained = &eventlog.Record{
		Kind: eventlog.KindStateRetained, Key: service.SessionKey{AppName: p.key.AppName, UserID: p.key.UserID},
		Time: p.created.Time, State: shared,
	}
	if n := len(p.events); n > 0 {
		p.retained.Time = p.events[n-1].Time
	}
	return nil
}

func unionKeys(a, b map[string]any) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func describe(v any, present bool) string {
	if !present {
		return "absent"
	}
	return fmt.Sprintf("%#v", v)
}

// State key prefixes and the removal sentinel's JSON form, as the ADK
// runtimes and package projection define them.
const (
	appPrefix   = "app:"
	userPrefix  = "user:"
	tempPrefix  = "temp:"
	removedJSON = "__ADK_SENTINEL_REMOVED__"
)

func isRemoved(v any) bool { return v == service.Removed || v == removedJSON }

// required checks a name that must not be blank (CONTRACT K1).
func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return invalid(field, "is empty or only whitespace (%q)", v)
	}
	return nil
}
