package projection

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/sessionlog/sessionlog/eventlog"
)

// verifyPages are the page sizes Verify lists sessions with: one that
// most apps fit in, and one that makes every listing turn pages.
var verifyPages = []int{100, 2}

// maxReported is how many differences a Verify error describes.
const maxReported = 20

// Verify checks that the state a store serves is the state its log
// defines (CONTRACT R1). It folds the store's whole log ([Records]) as
// [Rebuild] does, and then compares, for every live session of the fold,
// what [eventlog.Store.Load] serves (incarnation, version, last update
// time, merged state, and the events in sequence order, each as its
// record holds it); for every deleted session not created again, that
// Load finds none; and, for every app the log names and every user of its
// live sessions, what [eventlog.Store.List] serves, a page at a time in
// pages of two sizes: exactly the fold's sessions, in List's order, with
// the same views.
//
// Run it on a store that nobody writes meanwhile: a write between the
// fold and the reads is reported as a difference. It returns nil when
// everything agrees, the first error the store gives, or an error
// describing the differences (the first few of them).
func Verify(ctx context.Context, store eventlog.Store) error {
	want := &State{Apps: map[string]*AppState{}}
	events := map[eventlog.SessionKey][]logged{} // the live sessions' events
	deleted := map[eventlog.SessionKey]bool{}    // the sessions deleted and not created again
	apps := map[string]bool{}                    // every app the log names
	for rec, err := range Records(ctx, store) {
		if err != nil {
			return fmt.Errorf("verify: read the log: %w", err)
		}
		want.Apply(rec)
		apps[rec.Key.AppName] = true
		switch rec.Kind {
		case eventlog.KindSessionCreated:
			events[rec.Key] = []logged{}
			delete(deleted, rec.Key)
		case eventlog.KindEventAppended:
			if evs, ok := events[rec.Key]; ok && rec.Event != nil {
				events[rec.Key] = append(evs, loggedOf(rec.Event))
			}
		case eventlog.KindSessionDeleted:
			delete(events, rec.Key)
			deleted[rec.Key] = true
		}
	}
	want.dropEmptyApps()

	var diffs differences
	for _, name := range slices.Sorted(maps.Keys(apps)) {
		a := want.Apps[name]
		if a == nil {
			a = &AppState{}
		}
		keys := sortedKeys(a.Sessions)
		for _, key := range keys {
			if err := verifyLoad(ctx, store, a, key, events[key], &diffs); err != nil {
				return err
			}
		}
		if err := verifyList(ctx, store, name, "", a, keys, &diffs); err != nil {
			return err
		}
		// keys are in List's order, so each user's sessions are a run of
		// them.
		for start, end := 0, 0; start < len(keys); start = end {
			user := keys[start].UserID
			for end = start; end < len(keys) && keys[end].UserID == user; end++ {
			}
			if err := verifyList(ctx, store, name, user, a, keys[start:end:end], &diffs); err != nil {
				return err
			}
		}
	}
	for _, key := range slices.SortedFunc(maps.Keys(deleted), compareKeys) {
		_, err := store.Load(ctx, key, eventlog.LoadOptions{NoEvents: true})
		switch {
		case err == nil:
			diffs.add("Load of %s: found, but the log deleted it", key)
		case !errors.Is(err, eventlog.ErrNotFound):
			return fmt.Errorf("verify: load %s: %w", key, err)
		}
	}
	return diffs.err()
}

// logged is an event of the log as Verify compares it: its ID, and a hash
// of its JSON, so that a long log costs Verify a few words an event.
type logged struct {
	id   string
	hash uint64
}

// loggedOf returns e as Verify compares it; an event JSON cannot hold
// hashes as 0, which no other event matches by chance.
func loggedOf(e *eventlog.Event) logged {
	b, err := json.Marshal(e)
	if err != nil {
		return logged{id: e.ID}
	}
	h := fnv.New64a()
	h.Write(b)
	return logged{id: e.ID, hash: h.Sum64()}
}

// verifyLoad compares a session's Load with the fold.
func verifyLoad(ctx context.Context, store eventlog.Store, a *AppState, key eventlog.SessionKey, want []logged, diffs *differences) error {
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
	got := make([]logged, len(v.Events))
	for i, e := range v.Events {
		if e == nil {
			got[i] = logged{id: "<nil>"}
			continue
		}
		got[i] = loggedOf(e)
	}
	if !slices.Equal(want, got) {
		ids := func(evs []logged) []string {
			out := make([]string, len(evs))
			for i, e := range evs {
				out[i] = e.id
			}
			return out
		}
		if g, w := ids(got), ids(want); !slices.Equal(g, w) {
			diffs.add("%s: events %q, the log holds %q", where, g, w)
		} else {
			i := 0
			for got[i] == want[i] {
				i++
			}
			diffs.add("%s: event %d (%q) is not the one the log holds", where, i+1, got[i].id)
		}
	}
	return nil
}

// verifyList pages through the List of the app (or of one user of it)
// in pages of each of verifyPages, and compares it with the fold's
// sessions keys.
func verifyList(ctx context.Context, store eventlog.Store, app, user string, a *AppState, keys []eventlog.SessionKey, diffs *differences) error {
	what := fmt.Sprintf("List of app %q", app)
	if user != "" {
		what = fmt.Sprintf("List of app %q, user %q", app, user)
	}
	for _, size := range verifyPages {
		var listed []eventlog.View
		opts := eventlog.ListOptions{Limit: size}
		for {
			page, err := store.List(ctx, app, user, opts)
			if err != nil {
				return fmt.Errorf("verify: %s: %w", strings.ToLower(what[:1])+what[1:], err)
			}
			listed = append(listed, page...)
			if len(page) < opts.Limit {
				break
			}
			last := page[len(page)-1].Key
			if len(listed) > len(keys)+size || (last.UserID == opts.AfterUser && last.SessionID == opts.AfterSession) {
				diffs.add("%s: the listing does not end (it goes on past %s)", what, last)
				break
			}
			opts.AfterUser, opts.AfterSession = last.UserID, last.SessionID
		}
		got := make([]eventlog.SessionKey, len(listed))
		for i, v := range listed {
			got[i] = v.Key
		}
		if !slices.Equal(keys, got) {
			diffs.add("%s: sessions %v, the log holds %v (in pages of %d)", what, got, keys, size)
			continue
		}
		for _, v := range listed {
			where := fmt.Sprintf("%s, session %s", what, v.Key)
			compareView(where, v, v.Key, a, diffs)
			if len(v.Events) != 0 {
				diffs.add("%s: %d events, a listing carries none", where, len(v.Events))
			}
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
	return slices.SortedFunc(maps.Keys(sessions), compareKeys)
}

// compareKeys orders keys as List does (within an app): by user ID, then
// session ID, in byte order; then by app.
func compareKeys(x, y eventlog.SessionKey) int {
	return cmp.Or(strings.Compare(x.UserID, y.UserID), strings.Compare(x.SessionID, y.SessionID), strings.Compare(x.AppName, y.AppName))
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
