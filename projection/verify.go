package projection

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/sessionlog/sessionlog/eventlog"
)

// verifyPage is the page size Verify lists sessions with.
const verifyPage = 100

// maxReported is how many differences a Verify error describes.
const maxReported = 20

// Verify checks that the state a store serves is the state its log
// defines (CONTRACT R1). It folds the store's whole log ([Records]) as
// [Rebuild] does, and then compares, for every live session of the fold,
// what [eventlog.Store.Load] serves (incarnation, version, last update
// time, merged state, and the events, by ID, in sequence order), and, for
// every app of the fold, what [eventlog.Store.List] serves: exactly the
// fold's sessions, in List's order, with the same views.
//
// Run it on a store that nobody writes meanwhile: a write between the
// fold and the reads is reported as a difference. It returns nil when
// everything agrees, the first error the store gives, or an error
// describing the differences (the first few of them).
func Verify(ctx context.Context, store eventlog.Store) error {
	want := &State{Apps: map[string]*AppState{}}
	events := map[eventlog.SessionKey][]string{} // the live sessions' event IDs
	for rec, err := range Records(ctx, store) {
		if err != nil {
			return fmt.Errorf("verify: read the log: %w", err)
		}
		want.Apply(rec)
		switch rec.Kind {
		case eventlog.KindSessionCreated:
			events[rec.Key] = []string{}
		case eventlog.KindEventAppended:
			if ids, ok := events[rec.Key]; ok && rec.Event != nil {
				events[rec.Key] = append(ids, rec.Event.ID)
			}
		case eventlog.KindSessionDeleted:
			delete(events, rec.Key)
		}
	}
	want.dropEmptyApps()

	var diffs differences
	for _, name := range slices.Sorted(maps.Keys(want.Apps)) {
		a := want.Apps[name]
		keys := sortedKeys(a.Sessions)
		for _, key := range keys {
			if err := verifyLoad(ctx, store, a, key, events[key], &diffs); err != nil {
				return err
			}
		}
		if err := verifyList(ctx, store, name, a, keys, &diffs); err != nil {
			return err
		}
	}
	return diffs.err()
}

// verifyLoad compares a session's Load with the fold.
func verifyLoad(ctx context.Context, store eventlog.Store, a *AppState, key eventlog.SessionKey, ids []string, diffs *differences) error {
	v, err := store.Load(ctx, key, eventlog.LoadOptions{})
	if errors.Is(err, eventlog.ErrNotFound) {
		diffs.add("Load of %s: not found, but the log holds it", key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify: load %s: %w", key, err)
	}
	where := "Load of " + key.String()
	compareView(where, v, key, a, diffs)
	got := make([]string, len(v.Events))
	for i, e := range v.Events {
		if e == nil {
			got[i] = "<nil>"
			continue
		}
		got[i] = e.ID
	}
	if !slices.Equal(ids, got) {
		diffs.add("%s: events %q, the log holds %q", where, got, ids)
	}
	return nil
}

// verifyList pages through the app's List and compares it with the fold.
func verifyList(ctx context.Context, store eventlog.Store, app string, a *AppState, keys []eventlog.SessionKey, diffs *differences) error {
	var listed []eventlog.View
	opts := eventlog.ListOptions{Limit: verifyPage}
	for {
		page, err := store.List(ctx, app, "", opts)
		if err != nil {
			return fmt.Errorf("verify: list app %q: %w", app, err)
		}
		listed = append(listed, page...)
		if len(page) < opts.Limit {
			break
		}
		last := page[len(page)-1].Key
		if len(listed) > len(keys)+verifyPage || (last.UserID == opts.AfterUser && last.SessionID == opts.AfterSession) {
			diffs.add("List of app %q: the listing does not end (it goes on past %s)", app, last)
			break
		}
		opts.AfterUser, opts.AfterSession = last.UserID, last.SessionID
	}
	got := make([]eventlog.SessionKey, len(listed))
	for i, v := range listed {
		got[i] = v.Key
	}
	if !slices.Equal(keys, got) {
		diffs.add("List of app %q: sessions %v, the log holds %v", app, got, keys)
		return nil
	}
	for _, v := range listed {
		where := fmt.Sprintf("List of app %q, session %s", app, v.Key)
		compareView(where, v, v.Key, a, diffs)
		if len(v.Events) != 0 {
			diffs.add("%s: %d events, a listing carries none", where, len(v.Events))
		}
	}
	return nil
}

// compareView compares what a store serves of a session with the fold.
func compareView(where string, v eventlog.View, key eventlog.SessionKey, a *AppState, diffs *differences) {
	ss := a.Sessions[key]
	if v.Key != key {
		diffs.add("%s: key %s", where, v.Key)
	}
	if v.Created != ss.Created {
		diffs.add("%s: incarnation %d, the log's is %d", where, v.Created, ss.Created)
	}
	if v.Version != ss.Version {
		diffs.add("%s: version %d, the log's is %d", where, v.Version, ss.Version)
	}
	if !v.LastUpdateTime.Equal(ss.LastUpdateTime) {
		diffs.add("%s: last update time %s, the log's is %s", where, v.LastUpdateTime, ss.LastUpdateTime)
	}
	if d := stateDiff(v.State, a.Merged(key, ss.State)); d != "" {
		diffs.add("%s: state differs: %s", where, d)
	}
}

// stateDiff describes how a served merged state differs from the fold's,
// or returns "" when they are equal.
func stateDiff(got, want map[string]any) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%q missing (want %#v)", k, want[k]))
		case !reflect.DeepEqual(g, want[k]):
			out = append(out, fmt.Sprintf("%q is %#v (want %#v)", k, g, want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%q = %#v is not in the log's state", k, got[k]))
		}
	}
	return strings.Join(out, "; ")
}

// sortedKeys returns the sessions' keys in List's order: by user ID, then
// session ID, in byte order.
func sortedKeys(sessions map[eventlog.SessionKey]*SessionState) []eventlog.SessionKey {
	return slices.SortedFunc(maps.Keys(sessions), func(x, y eventlog.SessionKey) int {
		return cmp.Or(strings.Compare(x.UserID, y.UserID), strings.Compare(x.SessionID, y.SessionID))
	})
}

// differences collects what Verify found.
type differences struct {
	n    int
	msgs []string
}

func (d *differences) add(format string, args ...any) {
	d.n++
	if len(d.msgs) < maxReported {
		d.msgs = append(d.msgs, fmt.Sprintf(format, args...))
	}
}

func (d *differences) err() error {
	if d.n == 0 {
		return nil
	}
	more := ""
	if d.n > len(d.msgs) {
		more = fmt.Sprintf("\n\t... and %d more", d.n-len(d.msgs))
	}
	return fmt.Errorf("projection: verify: the store serves state its log does not define (%d differences):\n\t%s%s",
		d.n, strings.Join(d.msgs, "\n\t"), more)
}
