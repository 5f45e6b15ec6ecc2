package eventlog

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// Rules every store enforces, in one place: every backend calls the same
// code.

// MaxPosition is the largest position a record may be given: the largest
// that the SQL stores' 64-bit signed columns hold, so that an export of
// any store imports into every other. A store refuses an imported record
// placed beyond it, which would also leave no positions for the appends
// after it.
const MaxPosition Position = math.MaxInt64

// CheckRecord reports a record that no store may accept (nil, an undefined
// kind, no app name, a session record without a user or session ID, an
// event record without an event or an event ID, a key or an event ID that
// is not valid UTF-8) as ErrInvalidArgument. Names that are not UTF-8 are
// refused because JSON, the form every durable store and every export
// writes, cannot carry them: two such names would come back as one, and a
// store could then not open the log it wrote (CONTRACT K1, K2).
// A preset Position (an import) above [MaxPosition] is refused too.
// [Store.Append] implementations call it first.
func CheckRecord(rec *Record) error {
	switch {
	case rec == nil:
		return fmt.Errorf("append: %w: record is nil", ErrInvalidArgument)
	case rec.Position > MaxPosition:
		return fmt.Errorf("append %s record: %w: position %d is beyond the largest a store holds, %d", rec.Kind, ErrInvalidArgument, rec.Position, MaxPosition)
	case !rec.Kind.Valid():
		return fmt.Errorf("append: %w: record kind %d is not defined", ErrInvalidArgument, uint8(rec.Kind))
	case rec.Key.AppName == "":
		return fmt.Errorf("append: %w: record appName is empty", ErrInvalidArgument)
	case !utf8.ValidString(rec.Key.AppName) || !utf8.ValidString(rec.Key.UserID) || !utf8.ValidString(rec.Key.SessionID):
		return fmt.Errorf("append %s record: %w: key %s is not valid UTF-8", rec.Kind, ErrInvalidArgument, rec.Key)
	case rec.Kind != KindStateRetained && (rec.Key.UserID == "" || rec.Key.SessionID == ""):
		return fmt.Errorf("append %s record: %w: key %s lacks a user or session ID", rec.Kind, ErrInvalidArgument, rec.Key)
	case rec.Kind == KindEventAppended && rec.Event == nil:
		return fmt.Errorf("append: %w: event record has no event", ErrInvalidArgument)
	case rec.Kind == KindEventAppended && rec.Event.ID == "":
		return fmt.Errorf("append: %w: event ID is empty", ErrInvalidArgument)
	case rec.Kind == KindEventAppended && !utf8.ValidString(rec.Event.ID):
		return fmt.Errorf("append: %w: event ID %q is not valid UTF-8", ErrInvalidArgument, rec.Event.ID)
	}
	return nil
}

// CheckBatch reports the batches no store accepts (see
// [Store.AppendBatch]) as ErrInvalidArgument: an empty batch, a record
// [CheckRecord] refuses, a first record that is not a KindSessionCreated
// or a later one that is not a KindEventAppended of the same session, a
// preset Position, an event Seq other than 0 or its place in the batch
// (1 for the first event), and two events with one ID.
func CheckBatch(recs []*Record) error {
	if len(recs) == 0 {
		return fmt.Errorf("append batch: %w: the batch is empty", ErrInvalidArgument)
	}
	first := recs[0]
	if err := CheckRecord(first); err != nil {
		return err
	}
	if first.Kind != KindSessionCreated {
		return fmt.Errorf("append batch: %w: the first record is a %s record, not a creation", ErrInvalidArgument, first.Kind)
	}
	ids := make(map[string]struct{}, len(recs)-1)
	for i, rec := range recs {
		if i > 0 {
			if err := CheckRecord(rec); err != nil {
				return err
			}
		}
		switch {
		case rec.Position != 0:
			return fmt.Errorf("append batch: %w: record %d has position %d set; a batch takes the next positions", ErrInvalidArgument, i, rec.Position)
		case i == 0:
			continue
		case rec.Kind != KindEventAppended:
			return fmt.Errorf("append batch: %w: record %d is a %s record, not an event", ErrInvalidArgument, i, rec.Kind)
		case rec.Key != first.Key:
			return fmt.Errorf("append batch: %w: record %d is for session %s, not %s", ErrInvalidArgument, i, rec.Key, first.Key)
		case rec.Seq != 0 && rec.Seq != uint64(i):
			return fmt.Errorf("append batch: %w: event %q has sequence number %d at place %d", ErrInvalidArgument, rec.Event.ID, rec.Seq, i)
		}
		if _, dup := ids[rec.Event.ID]; dup {
			return fmt.Errorf("append batch: %w: event ID %q appears twice", ErrInvalidArgument, rec.Event.ID)
		}
		ids[rec.Event.ID] = struct{}{}
	}
	return nil
}

// Retained returns what must survive a deleted session (CONTRACT D3): for
// each of its records, given oldest first (the creation, then its events in
// sequence order), the app: and user: writes that no later record of the
// session overrides, as a KindStateRetained record at the original
// position, key and time. An overridden write can never decide a fold's
// outcome (the later write, at a higher position, always wins), so it goes
// with the rest of the session; records whose writes all were overridden
// leave nothing. The result is in position order.
func Retained(records []*Record) []*Record {
	var out []*Record
	var seen map[string]bool
	for i := len(records) - 1; i >= 0; i-- {
		rec := records[i]
		var kept map[string]any
		for k, v := range rec.Writes() {
			if seen[k] || !isShared(k) {
				continue
			}
			if seen == nil {
				seen = make(map[string]bool)
			}
			seen[k] = true
			if kept == nil {
				kept = make(map[string]any)
			}
			kept[k] = v
		}
		if kept != nil {
			out = append(out, &Record{Position: rec.Position, Kind: KindStateRetained, Key: rec.Key, Time: rec.Time, State: kept})
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
