package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// Load implements [eventlog.Store.Load] in one read transaction (one
// snapshot): the session's row, its merged state from the state tables,
// and the events after those the cache holds of its incarnation (none
// with opts.NoEvents). The cache then holds every event up to the
// session's version, and opts selects from them there.
//
// With opts.AsOf the session's own state as of that version is folded
// from its creation record and events (package projection's
// FoldSession). Its app: and user: state are as they are now, not as they
// stood then: the state tables hold only the latest value of each key.
func (s *Store) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return eventlog.View{}, err
	}
	defer done()
	if err := opts.Check(); err != nil {
		return eventlog.View{}, fmt.Errorf("load %s: %w", key, err)
	}
	v, err := s.load(ctx, key, opts)
	switch {
	case isDomain(err):
		return eventlog.View{}, fmt.Errorf("load %s: %w", key, err)
	case err != nil:
		return eventlog.View{}, s.dbError(fmt.Sprintf("load %s", key), err)
	}
	return v, nil
}

// read reads the session at key in one snapshot: its row, its merged
// state, its events after seq have (unless noEvents; all of them when the
// session is not incarnation), and its creation record if asked.
func (s *Store) read(ctx context.Context, key eventlog.SessionKey, incarnation eventlog.Position, have uint64, noEvents, creation bool) (l sqlrecord.Loaded, err error) {
	t, err := s.begin(ctx, false)
	if err != nil {
		return sqlrecord.Loaded{}, err
	}
	defer func() { err = errors.Join(err, t.tx.Rollback()) }()
	ka := keyArgs(key)
	var created, version int64
	switch err := t.scan(qSessionRow, ka, &created, &version, &l.Updated); {
	case errors.Is(err, sql.ErrNoRows):
		return sqlrecord.Loaded{}, nil
	case err != nil:
		return sqlrecord.Loaded{}, err
	}
	l.Found, l.Created, l.Version = true, eventlog.Position(created), uint64(version)
	if l.Keys, l.Vals, err = t.merged(key); err != nil {
		return sqlrecord.Loaded{}, err
	}
	if !noEvents {
		after := int64(0)
		if l.Created == incarnation {
			after = int64(have)
		}
		rows, err := t.records(qEventsAfter, args(ka, []any{after})...)
		if err != nil {
			return sqlrecord.Loaded{}, err
		}
		for _, r := range rows {
			rec, err := sqlrecord.Decode(eventlog.Position(r.pos), uint64(r.seq), r.body)
			if err != nil {
				return sqlrecord.Loaded{}, err
			}
			l.Events, l.Sizes = append(l.Events, rec), append(l.Sizes, len(r.body))
		}
	}
	if creation {
		rows, err := t.records(qRecordAt, created)
		if err != nil {
			return sqlrecord.Loaded{}, err
		}
		if len(rows) == 1 {
			if l.Creation, err = sqlrecord.Decode(eventlog.Position(rows[0].pos), 0, rows[0].body); err != nil {
				return sqlrecord.Loaded{}, err
			}
		}
	}
	return l, nil
}

func (s *Store) load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	return s.cache.Load(ctx, key, opts, func(incarnation eventlog.Position, have uint64) (sqlrecord.Loaded, error) {
		return s.read(ctx, key, incarnation, have, opts.NoEvents && opts.AsOf == nil, opts.AsOf != nil)
	})
}

// List implements [eventlog.Store.List] in one read transaction (one
// snapshot): a page of the sessions' rows in List's order, each with its
// own and its user's state, and the app's state.
func (s *Store) List(ctx context.Context, app, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	what := fmt.Sprintf("list app %q", app)
	if user != "" {
		what = fmt.Sprintf("list user %q of app %q", user, app)
	}
	if app == "" {
		return nil, fmt.Errorf("%s: %w: app name is empty", what, eventlog.ErrInvalidArgument)
	}
	if err := opts.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	views, err := s.list(ctx, app, user, opts)
	if err != nil {
		return nil, s.dbError(what, err)
	}
	// The statement orders the page by the same rule; sorting by the one
	// comparison every store uses keeps them equal by construction.
	slices.SortFunc(views, func(a, b eventlog.View) int {
		return opts.Compare(a.Key, a.LastUpdateTime, b.Key, b.LastUpdateTime)
	})
	return views, nil
}

func (s *Store) list(ctx context.Context, app, user string, opts eventlog.ListOptions) (views []eventlog.View, err error) {
	t, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, t.tx.Rollback()) }()
	// The arguments as list numbers them: ?1 to ?4, then the user, the
	// time, or both.
	a := []any{blob(app), blob(opts.AfterUser), blob(opts.AfterSession), opts.Limit}
	q := qListApp
	switch {
	case opts.Order == eventlog.RecentFirst:
		after := "~" // after every time: the beginning
		if !opts.Start() {
			after = sqlrecord.SortableTime(opts.AfterUpdate)
		}
		q = qRecentApp
		if user != "" {
			q, a = qRecentUser, append(a, blob(user))
		}
		a = append(a, after)
	case user != "":
		q, a = qListUser, append(a, blob(user))
	}
	rows, err := t.query(q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type page struct {
		key              eventlog.SessionKey
		created, version int64
		updated          string
		keys, vals       [][]byte
	}
	var (
		ps                 = make([]*page, 0, min(opts.Limit, 1024))
		bySession          = make(map[eventlog.SessionKey]*page, cap(ps))
		appKeys, appVals   [][]byte
		userKeys, userVals = map[string][][]byte{}, map[string][][]byte{}
	)
	// The bytes scan as sql.RawBytes, the driver's own copy, valid until
	// the next row: each is copied once, to what keeps it.
	var (
		uid, sid, k, v   sql.RawBytes
		created, version int64
		updated          string
		lastUser         string
	)
	for rows.Next() {
		if err := rows.Scan(&uid, &sid, &created, &version, &updated, &k, &v); err != nil {
			return nil, err
		}
		switch {
		case len(uid) == 0:
			appKeys, appVals = append(appKeys, append([]byte(eventlog.AppPrefix), k...)), append(appVals, bytes.Clone(v))
		case len(sid) == 0:
			u := string(uid)
			userKeys[u], userVals[u] = append(userKeys[u], append([]byte(eventlog.UserPrefix), k...)), append(userVals[u], bytes.Clone(v))
		default:
			if string(uid) != lastUser { // most pages list one user's sessions
				lastUser = string(uid)
			}
			key := eventlog.SessionKey{AppName: app, UserID: lastUser, SessionID: string(sid)}
			p := bySession[key]
			if p == nil {
				p = &page{key: key, created: created, version: version, updated: updated}
				bySession[key] = p
				ps = append(ps, p)
			}
			if v != nil { // a value is JSON, never empty: nil is the NULL of a session without state
				p.keys, p.vals = append(p.keys, bytes.Clone(k)), append(p.vals, bytes.Clone(v))
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range ps {
		u := p.key.UserID
		state := make(map[string]any, len(p.keys)+len(appKeys)+len(userKeys[u]))
		err := errors.Join(sqlrecord.DecodeInto(state, p.keys, p.vals), sqlrecord.DecodeInto(state, appKeys, appVals),
			sqlrecord.DecodeInto(state, userKeys[u], userVals[u]))
		if err != nil {
			return nil, fmt.Errorf("session %s: %w", p.key, err)
		}
		t, err := sqlrecord.ParseTime(p.updated)
		if err != nil {
			return nil, fmt.Errorf("session %s: %w", p.key, err)
		}
		views = append(views, eventlog.View{Key: p.key, Created: eventlog.Position(p.created), Version: uint64(p.version),
			LastUpdateTime: t, State: state})
	}
	return views, nil
}
