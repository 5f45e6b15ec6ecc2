package sqlitestore

import (
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
	if err := s.check(ctx); err != nil {
		return eventlog.View{}, err
	}
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
	return s.cache.Load(key, opts, func(incarnation eventlog.Position, have uint64) (sqlrecord.Loaded, error) {
		return s.read(ctx, key, incarnation, have, opts.NoEvents && opts.AsOf == nil, opts.AsOf != nil)
	})
}

// List implements [eventlog.Store.List] in one read transaction (one
// snapshot): a page of the sessions' rows in List's order, each with its
// own and its user's state, and the app's state.
func (s *Store) List(ctx context.Context, app, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
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
	a, u, au, as := blob(app), blob(user), blob(opts.AfterUser), blob(opts.AfterSession)
	var rows *sql.Rows
	switch {
	case opts.Order == eventlog.RecentFirst:
		after := "~" // after every time: the beginning
		if !opts.Start() {
			after = sqlrecord.SortableTime(opts.AfterUpdate)
		}
		q := qRecentApp
		if user != "" {
			q = qRecentUser
		}
		rows, err = t.query(q, a, u, after, au, as, opts.Limit)
	case user != "":
		rows, err = t.query(qListUser, a, u, au, as, opts.Limit)
	default:
		rows, err = t.query(qListApp, a, au, as, opts.Limit)
	}
	if err != nil {
		return nil, err
	}
	type page struct {
		key              eventlog.SessionKey
		created, version int64
		updated          string
	}
	var ps []page
	for rows.Next() {
		var p page
		var uid, sid []byte
		if err := rows.Scan(&uid, &sid, &p.created, &p.version, &p.updated); err != nil {
			rows.Close()
			return nil, err
		}
		p.key = eventlog.SessionKey{AppName: app, UserID: string(uid), SessionID: string(sid)}
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, nil
	}
	appKeys, appVals, err := t.pairs(nil, nil, eventlog.AppPrefix, qAppState, a)
	if err != nil {
		return nil, err
	}
	type pairs struct{ keys, vals [][]byte }
	users := map[string]pairs{}
	for _, p := range ps {
		keys, vals, err := t.pairs(slices.Clone(appKeys), slices.Clone(appVals), "", qSessionState, keyArgs(p.key)...)
		if err != nil {
			return nil, err
		}
		us, ok := users[p.key.UserID]
		if !ok {
			if us.keys, us.vals, err = t.pairs(nil, nil, eventlog.UserPrefix, qUserState, a, blob(p.key.UserID)); err != nil {
				return nil, err
			}
			users[p.key.UserID] = us
		}
		state, err := sqlrecord.DecodeState(append(keys, us.keys...), append(vals, us.vals...))
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
