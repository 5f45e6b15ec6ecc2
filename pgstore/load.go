package pgstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// Load implements [eventlog.Store.Load] in one statement (one round trip,
// one snapshot): the session's row, its merged state from the state
// tables, and the events after those the cache holds of its incarnation
// (none with opts.NoEvents). The cache then holds every event up to the
// session's version, and opts selects from them there.
//
// With opts.AsOf the same statement also returns the creation record (and
// the events, whatever NoEvents says), and the session's own state as of
// that version is folded here from its records (package projection's
// FoldSession). Its app: and user: state are as they are now, not as they
// stood then: the state tables hold only the latest value of each key.
func (s *Store) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	if err := s.check(ctx); err != nil {
		return eventlog.View{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
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

func (s *Store) load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	return s.cache.Load(ctx, key, opts, func(incarnation eventlog.Position, have uint64) (sqlrecord.Loaded, error) {
		rows, err := s.pool.Query(ctx, s.sql.load, []byte(key.AppName), []byte(key.UserID), []byte(key.SessionID),
			int64(incarnation), int64(have), opts.NoEvents && opts.AsOf == nil, opts.AsOf != nil)
		if err != nil {
			return sqlrecord.Loaded{}, err
		}
		return scanLoad(rows)
	})
}

// scanLoad reads the load statement's rows: one with the session's row and
// merged state (none if the session does not exist), and one for each
// event, in any order.
func scanLoad(rows pgx.Rows) (sqlrecord.Loaded, error) {
	defer rows.Close()
	var (
		l                          sqlrecord.Loaded
		created, version, pos, seq pgtype.Int8
		updated                    pgtype.Text
		keys, vals                 [][]byte
		body                       pgtype.DriverBytes // decoding copies what it keeps
	)
	dest := []any{&created, &version, &updated, &keys, &vals, &pos, &seq, &body} // one slice for every row
	for rows.Next() {
		keys, vals = nil, nil
		if err := rows.Scan(dest...); err != nil {
			return sqlrecord.Loaded{}, err
		}
		if created.Valid {
			if !version.Valid || !updated.Valid {
				return sqlrecord.Loaded{}, errors.New("the session's row is damaged")
			}
			l.Found, l.Created, l.Version, l.Updated, l.Keys, l.Vals = true, eventlog.Position(created.Int64), uint64(version.Int64), updated.String, keys, vals
			continue
		}
		if !pos.Valid || !seq.Valid {
			return sqlrecord.Loaded{}, errors.New("a record's row is damaged")
		}
		rec, err := decode(eventlog.Position(pos.Int64), uint64(seq.Int64), body)
		if err != nil {
			return sqlrecord.Loaded{}, err
		}
		if rec.Kind == eventlog.KindSessionCreated {
			l.Creation = rec
			continue
		}
		l.Events = append(l.Events, rec)
		l.Sizes = append(l.Sizes, len(body))
	}
	if err := rows.Err(); err != nil {
		return sqlrecord.Loaded{}, err
	}
	if !slices.IsSortedFunc(l.Events, bySeq) {
		idx := make([]int, len(l.Events))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return bySeq(l.Events[a], l.Events[b]) })
		events, sizes := make([]*eventlog.Record, len(idx)), make([]int, len(idx))
		for i, j := range idx {
			events[i], sizes[i] = l.Events[j], l.Sizes[j]
		}
		l.Events, l.Sizes = events, sizes
	}
	return l, nil
}

func bySeq(a, b *eventlog.Record) int { return cmp.Compare(a.Seq, b.Seq) }

// sortableTime is a last update time as the sessions table keeps it:
// RFC 3339 in UTC with all nine fractional digits, so that the text sorts
// as the time does (byte by byte, for years 0 to 9999) and the
// recent-first listing can use an index.
func sortableTime(t time.Time) string {
	return sqlrecord.SortableTime(t)
}

// parseTime reads a time as a session's row keeps it.
func parseTime(s string) (time.Time, error) {
	return sqlrecord.ParseTime(s)
}

// List implements [eventlog.Store.List] in one statement (one round trip,
// one snapshot): a page of the sessions' rows in the order of their
// primary key, which is List's, each with its own and its user's state,
// and the app's state once, which every view gets a copy of.
func (s *Store) List(ctx context.Context, app, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
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
	args := []any{[]byte(app), []byte(opts.AfterUser), []byte(opts.AfterSession), opts.Limit}
	query := s.sql.listApp
	if user != "" {
		query = s.sql.listUser
		args = append(args, []byte(user))
	}
	if opts.Order == eventlog.RecentFirst {
		query = s.sql.recentApp
		if user != "" {
			query = s.sql.recentUser
		}
		after := "~" // after every time: the beginning
		if !opts.Start() {
			after = sortableTime(opts.AfterUpdate)
		}
		args = append(args, after)
	}
	views, err := s.list(ctx, app, opts.Limit, query, args)
	if err != nil {
		return nil, s.dbError(what, err)
	}
	// The statement orders the page; the rows of its union are put in
	// that order here, by the one comparison every store uses.
	slices.SortFunc(views, func(a, b eventlog.View) int {
		return opts.Compare(a.Key, a.LastUpdateTime, b.Key, b.LastUpdateTime)
	})
	return views, nil
}

func (s *Store) list(ctx context.Context, app string, limit int, query string, args []any) ([]eventlog.View, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		views    = make([]eventlog.View, 0, min(limit, 256))
		appState = map[string]any{}
		users    = map[string]map[string]any{} // each user's state, by user ID
		kind     int16
		user, id pgtype.DriverBytes
		created  pgtype.Int8
		version  pgtype.Int8
		updated  pgtype.Text
		k, v     pgtype.DriverBytes
	)
	// userID gives the page's rows of one user one string.
	userID := func(b []byte) string {
		if n := len(views); n > 0 && views[n-1].Key.UserID == string(b) {
			return views[n-1].Key.UserID
		}
		return string(b)
	}
	dest := []any{&kind, &user, &id, &created, &version, &updated, &k, &v} // one slice for every row
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		switch kind {
		case 0:
			if err := sqlrecord.DecodeKey(appState, k, v); err != nil {
				return nil, fmt.Errorf("app %q: %w", app, err)
			}
		case 1:
			state := users[string(user)]
			if state == nil {
				state = map[string]any{}
				users[string(user)] = state
			}
			if err := sqlrecord.DecodeKey(state, k, v); err != nil {
				return nil, fmt.Errorf("app %q, user %q: %w", app, user, err)
			}
		case 2:
			key := eventlog.SessionKey{AppName: app, UserID: userID(user), SessionID: string(id)}
			if !created.Valid || !version.Valid || !updated.Valid {
				return nil, fmt.Errorf("session %s: row is damaged", key)
			}
			t, err := parseTime(updated.String)
			if err != nil {
				return nil, fmt.Errorf("session %s: %w", key, err)
			}
			state := map[string]any{}
			if err := decodeOwnState(state, v); err != nil {
				return nil, fmt.Errorf("session %s: %w", key, err)
			}
			views = append(views, eventlog.View{Key: key, Created: eventlog.Position(created.Int64),
				Version: uint64(version.Int64), LastUpdateTime: t, State: state})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Each view gets its own copy of the values it shares with others; the
	// first to take a decoded value takes it as it is.
	merge := func(into, from map[string]any, first bool) {
		for k, v := range from {
			if !first {
				v = eventlog.CloneValue(v)
			}
			into[k] = v
		}
	}
	userTaken := map[string]bool{}
	for i := range views {
		user := views[i].Key.UserID
		merge(views[i].State, users[user], !userTaken[user])
		userTaken[user] = true
		merge(views[i].State, appState, i == 0)
	}
	return views, nil
}

// decodeOwnState decodes a session's own state as sessions.state encodes it
// (the migration's encode_state: each key and value a 4-byte big-endian
// length and the bytes) into state.
func decodeOwnState(state map[string]any, b []byte) error {
	for len(b) > 0 {
		k, rest, ok := cutField(b)
		if !ok {
			return errDamagedState
		}
		v, rest, ok := cutField(rest)
		if !ok {
			return errDamagedState
		}
		if err := sqlrecord.DecodeKey(state, k, v); err != nil {
			return err
		}
		b = rest
	}
	return nil
}

// errDamagedState is decodeOwnState's error for bytes that end within a
// field.
var errDamagedState = errors.New("its encoded state is damaged")

// cutField cuts the length-prefixed field at the start of b.
func cutField(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}
