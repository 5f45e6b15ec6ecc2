package pgstore

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// announcer tells other replicas which apps have new records: NOTIFY on
// the schema's channel, sent after the appends commit, from a connection
// of its own, by one goroutine that sends whatever has gathered since its
// last statement in one statement.
//
// Sending NOTIFY inside an append's transaction would make every append
// wait for the previous one's commit: PostgreSQL holds one lock per
// database from just before a notifying transaction commits to its end,
// WAL flush included. A statement that only notifies writes no WAL, so
// its commit holds that lock only for a moment. The cost: an append whose
// process dies between its commit and its announcement reaches other
// replicas' subscribers at their next poll (Options.PollInterval), as a
// lost notification always did. This replica's own subscribers are woken
// at once, without the database.
//
// Nor does it announce when no replica listens: before it sends, it
// looks for a listener's connection on the schema's channel in
// pg_stat_activity, at most once per announceCheck, and drops what it
// gathered while it finds none. A listener that starts meanwhile wakes
// its readers once it listens and again after twice announceCheck, which
// covers every announcement dropped before the announcers saw it.
type announcer struct {
	mu   sync.Mutex
	apps map[string]struct{} // payloads to send; "" wakes every reader
	kick chan struct{}       // has a value while apps has something
	off  bool                // tests: nothing is sent
}

func newAnnouncer(off bool) *announcer {
	return &announcer{apps: map[string]struct{}{}, kick: make(chan struct{}, 1), off: off}
}

// add has app announced soon.
func (a *announcer) add(app string) {
	if a.off {
		return
	}
	a.mu.Lock()
	a.apps[payload(app)] = struct{}{}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// take returns the payloads gathered so far and forgets them.
func (a *announcer) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.apps))
	for app := range a.apps {
		out = append(out, app)
	}
	clear(a.apps)
	return out
}

// changed tells this replica's readers of app at once, and the other
// replicas' once the announcer sends.
func (s *Store) changed(app string) {
	s.wake.Fire(app)
	s.announcer.add(app)
}

// announceFlush bounds the last announcement, sent as the store closes.
const announceFlush = time.Second

// announceCheck is how long an announcer trusts what it last found about
// listeners: a single writer pays for the look once per period, not a
// statement per append.
const announceCheck = 100 * time.Millisecond

// announce sends what a gathers until ctx ends, and then what is left,
// within announceFlush. A failed statement drops its payloads (readers
// on other replicas see those appends at their next poll) and the
// connection, which the next statement opens again.
func (s *Store) announce(ctx context.Context, a *announcer, cfg *pgx.ConnConfig) {
	defer s.workers.Done()
	cfg.Tracer = nil // its statements are not any caller's
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	var (
		heard    = true    // a listener was found at the last look
		lookedAt time.Time // when the last look began
	)
	send := func(ctx context.Context, apps []string) {
		if len(apps) == 0 {
			return
		}
		var err error
		if conn == nil {
			conn, err = pgx.ConnectConfig(ctx, cfg)
		}
		if err == nil && time.Since(lookedAt) >= time.Duration(s.announceCheck.Load()) {
			start := time.Now()
			if err = conn.QueryRow(ctx, s.sql.listened, listenerApp(s.channel, "")).Scan(&heard); err == nil {
				lookedAt = start
			}
		}
		if err == nil && heard {
			_, err = conn.Exec(ctx, s.sql.announce, s.channel, apps)
		}
		if err != nil {
			s.logger.Debug("pgstore: appends were not announced to other replicas; their subscribers see them at the next poll",
				"error", err, "apps", len(apps))
			if conn != nil {
				conn.Close(context.Background())
				conn = nil
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush, cancel := context.WithTimeout(context.Background(), announceFlush)
			send(flush, a.take())
			cancel()
			return
		case <-a.kick:
			send(ctx, a.take())
		}
	}
}
