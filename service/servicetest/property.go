package servicetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// The property check of CONTRACT K1, K2 and V1: random keys and random
// JSON values are written through the service, then read back in every way
// the service offers (in the same process, after a restart, through another
// replica, after an export and an import through JSON lines). Each key is
// either refused up front, with nothing stored, or comes back exact and
// isolated from every other key; each value comes back with the Go type and
// value V1 gives it.

// propertySeedEnv names the environment variable that overrides the seed
// of the property check: a number, or "random" for a seed from the clock.
const propertySeedEnv = "SESSIONLOG_PROPERTY_SEED"

// defaultPropertySeed is the seed used when the environment sets none, so
// that every run checks the same keys and values.
const defaultPropertySeed uint64 = 0x5e55_1010

// Sizes of one property run: small enough for well under a second in
// memory on two cores, large enough that keys share apps and users.
const (
	propertySessions = 40
	propertyEvents   = 3
)

// propertySeed returns the seed of a property run.
func propertySeed(t *testing.T) uint64 {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(propertySeedEnv))
	switch v {
	case "":
		return defaultPropertySeed
	case "random":
		return uint64(time.Now().UnixNano())
	}
	seed, err := strconv.ParseUint(v, 0, 64)
	require.NoError(t, err, "%s=%q is not a number", propertySeedEnv, v)
	return seed
}

// keyPieces are what random app names, user IDs and session IDs are made
// of: separators other stores could use, NUL, whitespace, composed and
// decomposed unicode, bytes that are not UTF-8, and prefixes of state keys.
var keyPieces = []string{
	"a", "b", "c", "a", "b", ":", "/", "\\", "\x00", " ", "\t", "\n",
	"\u00e9", "e\u0301", "\u3000", "\u00a0", "\U0001f600", "\u2028", "\ufffd",
	"app:", "user:", "temp:", "%2F", "..", "'", "\"", "|", "#", "*",
}

// badPieces are not valid UTF-8 (a lone byte, a cut sequence, a surrogate);
// a name holding one is refused (CONTRACT K1).
var badPieces = []string{"\xff", "\xfe", "\xc3", "\xed\xa0\x80"}

// propKey is a key as the test wrote it, and what the rules of K1 make of
// it.
type propKey struct {
	given service.SessionKey
	// refused: the key is ErrInvalidArgument for every call.
	refused bool
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// classify applies CONTRACT K1 to a key given to Create.
func classify(k service.SessionKey) propKey {
	refused := isBlank(k.AppName) || isBlank(k.UserID) ||
		!utf8.ValidString(k.AppName) || !utf8.ValidString(k.UserID) || !utf8.ValidString(k.SessionID)
	return propKey{given: k, refused: refused}
}

// propGen makes random keys and values from one seeded source.
type propGen struct {
	r *rand.Rand
}

func (g *propGen) name() string {
	var b strings.Builder
	for range 1 + g.r.IntN(4) {
		if g.r.IntN(16) == 0 {
			b.WriteString(badPieces[g.r.IntN(len(badPieces))])
		} else {
			b.WriteString(keyPieces[g.r.IntN(len(keyPieces))])
		}
	}
	return b.String()
}

// keys returns n random keys given to Create. Some share an app or a
// user, some are a neighbour of another key (a separator moved from the
// app name into the user ID or from the user ID into the session ID), some
// have a long ID, an ID with surrounding whitespace, or none at all.
func (g *propGen) keys(n int) []service.SessionKey {
	var out, valid []service.SessionKey
	for len(out) < n {
		var k service.SessionKey
		switch c := g.r.IntN(10); {
		case c < 3 && len(valid) > 0:
			// Another session of an app or user already used.
			p := valid[g.r.IntN(len(valid))]
			k = key(p.AppName, p.UserID, g.name())
			if c == 0 {
				k.UserID = g.name()
			}
		case c < 5 && len(valid) > 0:
			// A neighbour: the same bytes, split differently.
			p := valid[g.r.IntN(len(valid))]
			sep := []string{":", "/", "\\", "\x00", "\u00e9"}[g.r.IntN(5)]
			if g.r.IntN(2) == 0 {
				k = key(p.AppName+sep+p.UserID, p.SessionID, g.name())
				out = append(out, key(p.AppName, p.UserID+sep+p.SessionID, k.SessionID))
			} else {
				k = key(p.AppName, p.UserID+sep+p.SessionID, g.name())
				out = append(out, key(p.AppName+sep+p.UserID, p.SessionID, k.SessionID))
			}
		case c == 5:
			k = key(g.name(), g.name(), strings.Repeat(g.name(), 200))
		case c == 6:
			k = key(g.name(), g.name(), " "+g.name()+"\t")
		case c == 7 && g.r.IntN(3) == 0:
			k = key(g.name(), g.name(), "")
		default:
			k = key(g.name(), g.name(), g.name())
		}
		out = append(out, k)
		if !classify(k).refused {
			valid = append(valid, k)
		}
	}
	return out[:n]
}

// stringPieces are what random strings inside values are made of: every
// one valid UTF-8, with the characters encoders treat specially.
var stringPieces = []string{
	"x", "y", "", " ", "\x00", "\x01", "\x1f", "\x7f", "\"", "\\", "/", "<", ">", "&",
	"\u2028", "\u2029", "\ufffd", "\ufeff", "\u00e9", "e\u0301", "\U0001f600", "\n", "\t",
	"3", "1.0", "null", "{}", "app:", "\\u0000",
}

func (g *propGen) text() string {
	var b strings.Builder
	for range g.r.IntN(5) {
		b.WriteString(stringPieces[g.r.IntN(len(stringPieces))])
	}
	return b.String()
}

// value returns a random value as a caller writes it, and the JSON value
// CONTRACT V1 says every store returns for it.
func (g *propGen) value(depth int) (in, want any) {
	n := 12
	if depth >= 3 {
		n = 10 // no more nesting
	}
	switch g.r.IntN(n) {
	case 0:
		return nil, nil
	case 1:
		b := g.r.IntN(2) == 0
		return b, b
	case 2:
		s := g.text()
		return s, s
	case 3:
		// An int anywhere in the int64 range, an extreme one at times.
		i := []int{int(g.r.Int64()), -int(g.r.Int64()), g.r.IntN(1000) - 500, math.MaxInt64, math.MinInt64, 1<<53 + 1}[g.r.IntN(6)]
		return i, i
	case 4:
		// Another integer type becomes int.
		i := g.r.Int64() >> g.r.IntN(64)
		return i, int(i)
	case 5:
		// An integral float stays a float.
		f := float64(g.r.IntN(2001) - 1000)
		if g.r.IntN(3) == 0 {
			f = math.Ldexp(float64(g.r.Int64N(1<<53)), g.r.IntN(20))
		}
		return f, f
	case 6:
		// Any finite float64, subnormals included.
		for {
			f := math.Float64frombits(g.r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f, f
			}
		}
	case 7:
		// A float with a short decimal form.
		f := float64(g.r.IntN(100000)) / 1000
		return f, f
	case 8:
		// A json.Number is the number its literal is.
		if g.r.IntN(2) == 0 {
			i := g.r.Int64() - math.MaxInt64/2
			return json.Number(strconv.FormatInt(i, 10)), int(i)
		}
		f := float64(g.r.IntN(1000)) + 0.5
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), f
	case 9:
		f := float32(g.r.IntN(100))
		return f, float64(f)
	case 10:
		in, want := map[string]any{}, map[string]any{}
		for range g.r.IntN(4) {
			k := g.text()
			in[k], want[k] = g.value(depth + 1)
		}
		return in, want
	default:
		in, want := make([]any, g.r.IntN(4)), []any{}
		for i := range in {
			var w any
			in[i], w = g.value(depth + 1)
			want = append(want, w)
		}
		return in, want
	}
}

// values returns n random values under distinct keys that start with
// prefix and hold no state scope of their own.
func (g *propGen) values(prefix string, n int) (in, want map[string]any) {
	in, want = map[string]any{}, map[string]any{}
	for i := range n {
		k := fmt.Sprintf("%s%d.%s", prefix, i, g.text())
		in[k], want[k] = g.value(0)
	}
	return in, want
}

// propSession is what the test expects of one stored session.
type propSession struct {
	key    service.SessionKey
	state  map[string]any            // the session's own keys
	events []string                  // event IDs, in order
	meta   map[string]map[string]any // each event's custom metadata
}

type appUser struct{ app, user string }

// propModel is what the test expects a store to hold.
type propModel struct {
	seed      uint64
	sessions  map[service.SessionKey]*propSession
	appState  map[string]map[string]any
	userState map[appUser]map[string]any
	// neighbours are keys that were never created (as given, or after a
	// restart): Get of each is not found.
	neighbours []service.SessionKey
	// refused are the keys K1 refuses.
	refused []service.SessionKey
}

func (m *propModel) msg(format string, args ...any) string {
	return fmt.Sprintf("seed %d (%s=%d reproduces it): ", m.seed, propertySeedEnv, m.seed) + fmt.Sprintf(format, args...)
}

// merged is the state Get of s returns: its own keys, and its app's and
// its user's under their prefixes.
func (m *propModel) merged(s *propSession) map[string]any {
	out := maps.Clone(s.state)
	for k, v := range m.appState[s.key.AppName] {
		out[eventlog.AppPrefix+k] = v
	}
	for k, v := range m.userState[appUser{s.key.AppName, s.key.UserID}] {
		out[eventlog.UserPrefix+k] = v
	}
	return out
}

// setState applies a state delta as the store applies it.
func (m *propModel) setState(s *propSession, delta map[string]any) {
	for k, v := range delta {
		switch {
		case strings.HasPrefix(k, eventlog.AppPrefix):
			if m.appState[s.key.AppName] == nil {
				m.appState[s.key.AppName] = map[string]any{}
			}
			m.appState[s.key.AppName][strings.TrimPrefix(k, eventlog.AppPrefix)] = v
		case strings.HasPrefix(k, eventlog.UserPrefix):
			au := appUser{s.key.AppName, s.key.UserID}
			if m.userState[au] == nil {
				m.userState[au] = map[string]any{}
			}
			m.userState[au][strings.TrimPrefix(k, eventlog.UserPrefix)] = v
		default:
			s.state[k] = v
		}
	}
}

// scoped returns vals and want with their keys moved under prefix.
func scoped(prefix string, vals, want map[string]any) (map[string]any, map[string]any) {
	in, out := map[string]any{}, map[string]any{}
	for k, v := range vals {
		in[prefix+k], out[prefix+k] = v, want[k]
	}
	return in, out
}

// writeProperty writes propertySessions random keys, each with random
// state in every scope and propertyEvents events of random values, checks
// that each refused key is refused by every call with nothing stored, and
// returns what the store must now hold.
func (h *harness) writeProperty() *propModel {
	t := h.t
	t.Helper()
	seed := propertySeed(t)
	g := &propGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	m := &propModel{
		seed:      seed,
		sessions:  map[service.SessionKey]*propSession{},
		appState:  map[string]map[string]any{},
		userState: map[appUser]map[string]any{},
	}
	for i, given := range g.keys(propertySessions) {
		pk := classify(given)
		own, ownWant := g.values("own", 2)
		app, appWant := g.values(fmt.Sprintf("k%d.", i), 1)
		user, userWant := g.values(fmt.Sprintf("k%d.", i), 1)
		state := maps.Clone(own)
		want := maps.Clone(ownWant)
		for _, sc := range []struct {
			prefix     string
			vals, want map[string]any
		}{{eventlog.AppPrefix, app, appWant}, {eventlog.UserPrefix, user, userWant}} {
			in, w := scoped(sc.prefix, sc.vals, sc.want)
			maps.Copy(state, in)
			maps.Copy(want, w)
		}
		for k, v := range want {
			got, err := eventlog.NormalizeValue(state[k])
			require.NoError(t, err, m.msg("normalising %q", k))
			require.Equal(t, v, got, m.msg("the test's own expectation of %q differs from eventlog.NormalizeValue", k))
		}

		if pk.refused {
			m.refused = append(m.refused, given)
			before := h.exportJSON()
			sess, err := h.svc.Create(h.ctx, given, state)
			require.ErrorIs(t, err, service.ErrInvalidArgument, m.msg("Create of %v", given))
			require.Nil(t, sess)
			require.Equal(t, before, h.exportJSON(), m.msg("a refused Create of %v stored something", given))
			continue
		}
		trimmed := given
		trimmed.SessionID = strings.TrimSpace(trimmed.SessionID)
		if _, exists := m.sessions[trimmed]; exists && trimmed.SessionID != "" {
			// Two random keys can name the same session (after trimming):
			// the second creation fails and changes nothing (CONTRACT C1).
			_, err := h.svc.Create(h.ctx, given, state)
			require.ErrorIs(t, err, service.ErrAlreadyExists, m.msg("Create of %v twice", given))
			continue
		}
		sess, err := h.svc.Create(h.ctx, given, state)
		require.NoError(t, err, m.msg("Create of %v", given))
		if trimmed.SessionID != "" {
			require.Equal(t, trimmed, sess.Key(), m.msg("Create of %v returned another key", given))
		} else {
			require.Equal(t, given.AppName, sess.AppName, m.msg("Create of %v", given))
			require.Equal(t, given.UserID, sess.UserID, m.msg("Create of %v", given))
			require.NotEmpty(t, sess.ID)
		}
		s := &propSession{key: sess.Key(), state: map[string]any{}, meta: map[string]map[string]any{}}
		m.sessions[s.key] = s
		m.setState(s, want)

		for j := range propertyEvents {
			d, dWant := g.values(fmt.Sprintf("d%d.", j), 1)
			a, aWant := g.values(fmt.Sprintf("k%d.e%d.", i, j), 1)
			u, uWant := g.values(fmt.Sprintf("k%d.e%d.", i, j), 1)
			meta, metaWant := g.values("m", 2)
			ev := &service.Event{ID: fmt.Sprintf("e%d.%d", i, j), Author: "agent", CustomMetadata: meta}
			ev.Actions.StateDelta = maps.Clone(d)
			dw := maps.Clone(dWant)
			for _, sc := range []struct {
				prefix     string
				vals, want map[string]any
			}{{eventlog.AppPrefix, a, aWant}, {eventlog.UserPrefix, u, uWant}} {
				in, w := scoped(sc.prefix, sc.vals, sc.want)
				maps.Copy(ev.Actions.StateDelta, in)
				maps.Copy(dw, w)
			}
			_, err := h.svc.AppendEvent(h.ctx, sess, ev)
			require.NoError(t, err, m.msg("AppendEvent to %v", s.key))
			m.setState(s, dw)
			s.events = append(s.events, ev.ID)
			s.meta[ev.ID] = metaWant
		}
	}

	// Keys made of the same pieces as created ones, in other places: no
	// call under them reaches a created session.
	created := slices.SortedFunc(maps.Keys(m.sessions), compareKeys)
	for i, a := range created {
		b := created[g.r.IntN(len(created))]
		for _, n := range []service.SessionKey{
			key(a.AppName, b.UserID, a.SessionID),
			key(b.AppName, a.UserID, a.SessionID),
			key(a.AppName, a.UserID, b.SessionID),
			key(a.AppName+a.UserID, a.SessionID, a.SessionID),
			key(a.AppName, a.UserID, a.SessionID+"\x00"),
		} {
			if _, ok := m.sessions[n]; ok || classify(n).refused || isBlank(n.SessionID) || strings.TrimSpace(n.SessionID) != n.SessionID {
				continue
			}
			m.neighbours = append(m.neighbours, n)
			if i%4 == 0 {
				// Deleting a neighbour deletes nothing (CONTRACT K2, D1).
				require.NoError(t, h.svc.Delete(h.ctx, n), m.msg("Delete of %v", n))
			}
		}
	}
	// Delete some sessions: their neighbours stay.
	for i, k := range created {
		if i%7 == 3 {
			require.NoError(t, h.svc.Delete(h.ctx, k), m.msg("Delete of %v", k))
			delete(m.sessions, k)
			m.neighbours = append(m.neighbours, k)
		}
	}
	h.checkRefusedKeys(m)
	t.Logf("property seed %d: %d sessions, %d refused keys, %d neighbours", seed, len(m.sessions), len(m.refused), len(m.neighbours))
	return m
}

func compareKeys(a, b service.SessionKey) int {
	return strings.Compare(a.AppName+"\x00"+a.UserID+"\x00"+a.SessionID, b.AppName+"\x00"+b.UserID+"\x00"+b.SessionID)
}

// checkRefusedKeys checks that every call refuses every refused key and
// stores nothing (CONTRACT K1).
func (h *harness) checkRefusedKeys(m *propModel) {
	t := h.t
	t.Helper()
	before := h.exportJSON()
	for _, k := range m.refused {
		_, err := h.svc.Get(h.ctx, k, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrInvalidArgument, m.msg("Get of %v", k))
		_, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.ErrorIs(t, err, service.ErrInvalidArgument, m.msg("ListEvents of %v", k))
		require.ErrorIs(t, h.svc.Delete(h.ctx, k), service.ErrInvalidArgument, m.msg("Delete of %v", k))
		handle := &service.Session{AppName: k.AppName, UserID: k.UserID, ID: k.SessionID}
		_, err = h.svc.AppendEvent(h.ctx, handle, delta(map[string]any{"x": 1}))
		require.ErrorIs(t, err, service.ErrInvalidArgument, m.msg("AppendEvent to %v", k))
		// An empty user ID lists every user of the app (CONTRACT L1).
		if isBlank(k.AppName) || !utf8.ValidString(k.AppName) || (k.UserID != "" && (isBlank(k.UserID) || !utf8.ValidString(k.UserID))) {
			_, err = h.svc.List(h.ctx, k.AppName, k.UserID, service.ListOptions{})
			require.ErrorIs(t, err, service.ErrInvalidArgument, m.msg("List of %q/%q", k.AppName, k.UserID))
		}
	}
	require.Equal(t, before, h.exportJSON(), m.msg("a call with a refused key changed the log"))
}

// checkProperty reads everything m expects back through h: each session
// exact and alone under its key, each (app, user) listing exactly its
// sessions, every value as V1 returns it.
func (h *harness) checkProperty(m *propModel) {
	t := h.t
	t.Helper()
	byUser := map[appUser][]string{}
	byApp := map[string][]string{}
	for _, k := range slices.SortedFunc(maps.Keys(m.sessions), compareKeys) {
		s := m.sessions[k]
		au := appUser{k.AppName, k.UserID}
		byUser[au] = append(byUser[au], k.UserID+"/"+k.SessionID)
		byApp[k.AppName] = append(byApp[k.AppName], k.UserID+"/"+k.SessionID)

		got, err := h.svc.Get(h.ctx, k, service.GetOptions{})
		require.NoError(t, err, m.msg("Get of %v", k))
		require.Equal(t, k, got.Key(), m.msg("Get of %v returned another key", k))
		sameValues(t, m.merged(s), got.State, m.msg("Get of %v: state", k))
		require.Equal(t, s.events, ids(got.Events), m.msg("Get of %v: events", k))
		require.Equal(t, uint64(len(s.events)), got.Version, m.msg("Get of %v: version", k))
		for _, ev := range got.Events {
			sameValues(t, s.meta[ev.ID], ev.CustomMetadata, m.msg("Get of %v: metadata of event %s", k, ev.ID))
		}
		require.Equal(t, s.events, ids(h.events(k, 2)), m.msg("ListEvents of %v", k))
	}
	for _, n := range m.neighbours {
		_, err := h.svc.Get(h.ctx, n, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound, m.msg("Get of %v, which was never created or is deleted, found a session", n))
	}
	for au, want := range byUser {
		for _, s := range h.list(au.app, au.user, 3) {
			k := s.Key()
			require.Equal(t, au, appUser{s.AppName, s.UserID}, m.msg("List of %q/%q returned another user's session %v", au.app, au.user, k))
			ps := m.sessions[k]
			require.NotNil(t, ps, m.msg("List of %q/%q returned %v, which does not exist", au.app, au.user, k))
			sameValues(t, m.merged(ps), s.State, m.msg("List of %q/%q: state of %v", au.app, au.user, k))
		}
		require.ElementsMatch(t, want, sessionIDs(h.list(au.app, au.user, 0)), m.msg("List of %q/%q", au.app, au.user))
	}
	for app, want := range byApp {
		require.ElementsMatch(t, want, sessionIDs(h.list(app, "", 0)), m.msg("List of app %q", app))
	}
	h.verify()
}

// importJSON exports h's log as JSON lines, decodes each line and imports
// the records into into, which must be empty.
func (h *harness) importJSON(into *harness, m *propModel) {
	t := h.t
	t.Helper()
	lines := h.exportJSON()
	require.NoError(t, into.svc.Import(into.ctx, func(yield func(*service.Record, error) bool) {
		for _, line := range lines {
			rec := new(service.Record)
			if err := json.Unmarshal([]byte(line), rec); !yield(rec, err) {
				return
			}
		}
	}), m.msg("Import of the export's JSON lines"))
	assert.Equal(t, lines, into.exportJSON(), m.msg("the imported store's export differs from the original's"))
}

// property checks CONTRACT K1, K2 and V1 on one store with random keys
// and values, in the same process and after an export and an import
// through JSON.
func (s suite) property(t *testing.T) {
	// CONTRACT K1 K2 V1
	h := s.open(t)
	m := h.writeProperty()
	h.checkProperty(m)
	into := h.fresh()
	h.importJSON(into, m)
	into.checkProperty(m)
	into.checkRefusedKeys(m)
}

// property checks CONTRACT K1, K2 and V1 across replicas: what one
// replica writes with random keys and values, another reads back exactly;
// and so does a replica of another log the first's export was imported
// into through JSON.
func (r replicas) property(t *testing.T) {
	// CONTRACT K1 K2 V1
	rs, _ := r.open(t, 2)
	m := rs[0].writeProperty()
	rs[1].checkProperty(m)
	into, _ := r.open(t, 2)
	rs[1].importJSON(into[0].harness, m)
	into[1].checkProperty(m)
	into[1].checkRefusedKeys(m)
}
