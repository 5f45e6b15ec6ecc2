package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionlog/sessionlog/eventlog"
)

// The statuses of append_event (see the migration).
const (
	statusAppended  = 0
	statusNotFound  = 1
	statusDuplicate = 2
	statusStale     = 3
)

// maxBatch bounds the appends one round trip carries.
const maxBatch = 256

// committer is group commit without a goroutine of its own: an append that
// finds nobody sending becomes the leader and sends every append waiting
// at that moment as one batch, which PostgreSQL runs as one implicit
// transaction (one WAL flush for all of them). Appends that arrive while
// it waits queue up; when it is done it hands the lead to the first of
// them, so each caller leads at most once and a steady stream never keeps
// one caller sending for others.
type committer struct {
	mu    sync.Mutex
	queue []*pending
	busy  bool

	batches, appends atomic.Uint64 // sent so far, for measurements

	// onCommit, when set, is told of each batch sent (Observer.OnCommit).
	onCommit func(appends, roundTrips int, d time.Duration)
}

// pending is one append in the committer: its arguments, and the outcome
// the batch's row gives it.
type pending struct {
	args    []any
	status  int16
	pos     eventlog.Position
	seq     uint64
	created eventlog.Position
	version uint64
	stored  []byte
	err     error

	done    chan struct{} // closed with the outcome
	promote chan struct{} // closed to make this append the leader
}

func (p *pending) scan(row pgx.Row) error {
	var pos, seq, created, version *int64
	if err := row.Scan(&p.status, &pos, &seq, &created, &version, &p.stored); err != nil {
		return err
	}
	if pos != nil {
		p.pos = eventlog.Position(*pos)
	}
	if seq != nil {
		p.seq = uint64(*seq)
	}
	if created != nil {
		p.created = eventlog.Position(*created)
	}
	if version != nil {
		p.version = uint64(*version)
	}
	return nil
}

// do runs p with whatever else is waiting, and returns when p holds its
// outcome, or with ctx's error (and p no longer the caller's to read) if
// ctx ends while p waits for another leader's batch. The leader's own
// batch runs to its end, whatever the leader's ctx does, because it
// carries other callers' appends too; timeout (0: none) bounds it, so that
// a hung statement fails the batch rather than every append behind it.
func (c *committer) do(ctx context.Context, pool *pgxpool.Pool, sql, lock string, p *pending, timeout time.Duration) error {
	p.done, p.promote = make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if c.busy {
		c.mu.Unlock()
		select {
		case <-p.done:
			return nil
		case <-p.promote:
		case <-ctx.Done():
			if c.leave(p) {
				return ctx.Err() // p may be in a batch being sent: leave it alone
			}
			<-p.promote // promoted as ctx ended: the queue needs its leader
		}
		c.mu.Lock()
	}
	c.busy = true
	n := min(len(c.queue), maxBatch)
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	var start time.Time
	if c.onCommit != nil {
		start = time.Now()
	}
	lead, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if timeout > 0 {
		lead, cancel = context.WithTimeout(lead, timeout)
	}
	trips := send(lead, pool, sql, lock, batch)
	cancel()
	elapsed := time.Since(start)
	c.batches.Add(1)
	c.appends.Add(uint64(len(batch)))

	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].promote) // busy stays set: the lead passes on
	} else {
		c.busy = false
		c.queue = nil
	}
	c.mu.Unlock()
	if c.onCommit != nil {
		// Once the lead has passed on, so that the next batch waits for
		// no observer.
		c.onCommit(n, trips, elapsed)
	}
	return nil
}

// leave takes a follower whose ctx ended out of the queue, if it is still
// waiting there and not promoted. It reports false when the follower must
// stay: promoted, it has to lead. A follower already sent is left to
// finish unseen: its caller gets ctx's error, and whether the append was
// stored is for a retry with the same event ID to find out (CONTRACT A7).
func (c *committer) leave(p *pending) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-p.promote:
		return false
	default:
	}
	if i := slices.Index(c.queue, p); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
	}
	return true
}

// send runs a batch in one round trip. If any statement fails, the
// implicit transaction rolls back and nothing in it is stored; so that one
// append's failure is not its neighbours', each is then sent again on its
// own and gets its own outcome. It returns the round trips it took.
func send(ctx context.Context, pool *pgxpool.Pool, sql, lock string, batch []*pending) (roundTrips int) {
	roundTrips = 1
	if err := sendBatch(ctx, pool, sql, lock, batch); err != nil {
		for _, p := range batch {
			p.err = err
			if len(batch) > 1 {
				p.err = sendBatch(ctx, pool, sql, lock, []*pending{p})
				roundTrips++
			}
		}
	}
	for _, p := range batch {
		close(p.done)
	}
	return roundTrips
}

// sendBatch sends batch's appends, which commit together. More than one
// take their locks first, with lock (unless it is empty), in the order
// every write takes them; one append takes them in that order by itself.
func sendBatch(ctx context.Context, pool *pgxpool.Pool, sql, lock string, batch []*pending) error {
	b := &pgx.Batch{}
	if len(batch) > 1 && lock != "" {
		b.Queue(lock, lockArgs(batch)...)
	}
	for _, p := range batch {
		b.Queue(sql, p.args...).QueryRow(p.scan)
	}
	return pool.SendBatch(ctx, b).Close()
}

// The arguments of append_event that lockArgs reads.
const (
	argApp     = 0
	argUser    = 1
	argSession = 2
	argKeys    = 7
	argScopes  = 9
)

// lockArgs are lock_batch's arguments for batch: the sessions' keys, and
// the keys of the app and user state the appends write, each sorted byte
// by byte and without repeats.
func lockArgs(batch []*pending) []any {
	type row struct{ app, user, session, key []byte }
	var sessions, apps, users []row
	for _, p := range batch {
		app, user := p.args[argApp].([]byte), p.args[argUser].([]byte)
		sessions = append(sessions, row{app: app, user: user, session: p.args[argSession].([]byte)})
		keys, scopes := p.args[argKeys].([][]byte), p.args[argScopes].([]int16)
		for i, k := range keys {
			switch scopes[i] {
			case scopeApp:
				apps = append(apps, row{app: app, key: k})
			case scopeUser:
				users = append(users, row{app: app, user: user, key: k})
			}
		}
	}
	cmp := func(a, b row) int {
		return cmp.Or(bytes.Compare(a.app, b.app), bytes.Compare(a.user, b.user),
			bytes.Compare(a.session, b.session), bytes.Compare(a.key, b.key))
	}
	eq := func(a, b row) bool { return cmp(a, b) == 0 }
	for _, rows := range []*[]row{&sessions, &apps, &users} {
		slices.SortFunc(*rows, cmp)
		*rows = slices.CompactFunc(*rows, eq)
	}
	var sApps, sUsers, sIDs, stApps, stUsers, stKeys [][]byte
	var stScopes []int16
	for _, r := range sessions {
		sApps, sUsers, sIDs = append(sApps, r.app), append(sUsers, r.user), append(sIDs, r.session)
	}
	for i, rows := range [][]row{apps, users} {
		for _, r := range rows {
			stApps, stUsers, stKeys = append(stApps, r.app), append(stUsers, r.user), append(stKeys, r.key)
			stScopes = append(stScopes, []int16{scopeApp, scopeUser}[i])
		}
	}
	return []any{sApps, sUsers, sIDs, stApps, stUsers, stKeys, stScopes}
}
