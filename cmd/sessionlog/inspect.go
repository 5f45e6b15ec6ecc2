package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/projection"
)

// inventory is what inspect found: the fold of the store's log, with each
// live session's event count.
type inventory struct {
	records int
	state   *projection.State
	events  map[eventlog.SessionKey]int
}

// take folds the whole store's log, as a Read with an empty scope serves
// it, counting records on p.
func take(ctx context.Context, store eventlog.Store, p *progress) (*inventory, error) {
	inv := &inventory{state: &projection.State{}, events: map[eventlog.SessionKey]int{}}
	for rec, err := range projection.Records(ctx, store) {
		if err != nil {
			return nil, fmt.Errorf("read the store: %w", err)
		}
		inv.records++
		inv.state.Apply(rec)
		switch rec.Kind {
		case eventlog.KindSessionCreated:
			inv.events[rec.Key] = 0
		case eventlog.KindEventAppended:
			if _, ok := inv.events[rec.Key]; ok {
				inv.events[rec.Key]++
			}
		case eventlog.KindSessionDeleted:
			delete(inv.events, rec.Key)
		}
		p.add(1)
	}
	return inv, nil
}

// Lines of inspect -json, one a line, with "kind" saying which.
type (
	appLine struct {
		Kind      string `json:"kind"` // "app"
		App       string `json:"app"`
		Users     int    `json:"users"`
		Sessions  int    `json:"sessions"`
		Events    int    `json:"events"`
		StateKeys int    `json:"stateKeys"`
	}
	userLine struct {
		Kind      string `json:"kind"` // "user"
		App       string `json:"app"`
		User      string `json:"user"`
		Sessions  int    `json:"sessions"`
		Events    int    `json:"events"`
		StateKeys int    `json:"stateKeys"`
	}
	sessionLine struct {
		Kind       string    `json:"kind"` // "session"
		App        string    `json:"app"`
		User       string    `json:"user"`
		Session    string    `json:"session"`
		Version    uint64    `json:"version"`
		Events     int       `json:"events"`
		StateKeys  int       `json:"stateKeys"`
		LastUpdate time.Time `json:"lastUpdate"`
	}
)

func inspect(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	app := fs.String("app", "", "list this `app` only")
	user := fs.String("user", "", "list this `user` only (in every app, unless -app names one)")
	asJSON := fs.Bool("json", false, "print JSON lines: one object for each app, user and session")
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	store, err := ref.open(ctx, readOnly)
	if err != nil {
		return err
	}
	defer store.Close()
	p := e.progress("inspect", "records", 0)
	inv, err := take(ctx, store, p)
	p.finish()
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(e.stdout, "store %s: %d records", ref, inv.records)
		if fst, ok := store.(*filestore.Store); ok {
			rep := fst.Report()
			fmt.Fprintf(e.stdout, "; log %s: %d records, %d bytes", rep.File, rep.Records, rep.Size)
			if rep.Torn > 0 {
				fmt.Fprintf(e.stdout, ", a torn last record of %d bytes", rep.Torn)
			}
		}
		fmt.Fprintln(e.stdout)
	}
	apps := sortedKeys(inv.state.Apps)
	if *app != "" {
		apps = slices.DeleteFunc(apps, func(a string) bool { return a != *app })
	}
	var lines []any // JSON lines, or the text's, in order
	for _, name := range apps {
		a := inv.state.Apps[name]
		type userSessions struct {
			keys   []eventlog.SessionKey
			events int
		}
		users := map[string]*userSessions{}
		for u := range a.Users {
			users[u] = &userSessions{}
		}
		for k := range a.Sessions {
			if users[k.UserID] == nil {
				users[k.UserID] = &userSessions{}
			}
			users[k.UserID].keys = append(users[k.UserID].keys, k)
			users[k.UserID].events += inv.events[k]
		}
		if *user != "" {
			for u := range users {
				if u != *user {
					delete(users, u)
				}
			}
			if len(users) == 0 {
				continue
			}
		}
		al := appLine{Kind: "app", App: name, Users: len(users), StateKeys: len(a.State.Values())}
		for _, u := range users {
			al.Sessions += len(u.keys)
			al.Events += u.events
		}
		lines = append(lines, al)
		for _, id := range sortedKeys(users) {
			u := users[id]
			lines = append(lines, userLine{Kind: "user", App: name, User: id, Sessions: len(u.keys), Events: u.events,
				StateKeys: len(a.Users[id].Values())})
			slices.SortFunc(u.keys, func(x, y eventlog.SessionKey) int { return cmp.Compare(x.SessionID, y.SessionID) })
			for _, k := range u.keys {
				s := a.Sessions[k]
				lines = append(lines, sessionLine{Kind: "session", App: name, User: id, Session: k.SessionID,
					Version: s.Version, Events: inv.events[k], StateKeys: len(s.State), LastUpdate: s.LastUpdateTime.UTC()})
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	printInventory(e.stdout, lines)
	return nil
}

// printInventory prints inspect's lines as text.
func printInventory(w io.Writer, lines []any) {
	apps := 0
	for _, l := range lines {
		if _, ok := l.(appLine); ok {
			apps++
		}
	}
	fmt.Fprintf(w, "%d apps\n", apps)
	for _, l := range lines {
		switch l := l.(type) {
		case appLine:
			fmt.Fprintf(w, "app %q: %d users, %d sessions, %d events, %d app state keys\n",
				l.App, l.Users, l.Sessions, l.Events, l.StateKeys)
		case userLine:
			fmt.Fprintf(w, "  user %q: %d sessions, %d events, %d user state keys\n",
				l.User, l.Sessions, l.Events, l.StateKeys)
		case sessionLine:
			fmt.Fprintf(w, "    session %q: version %d, %d events, %d session state keys, last update %s\n",
				l.Session, l.Version, l.Events, l.StateKeys, formatTime(l.LastUpdate))
		}
	}
}

// formatTime formats a time for people: UTC, to the millisecond when it
// has a fraction.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999Z07:00")
}
