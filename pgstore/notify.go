package pgstore

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The listener's reconnection: the first attempt after a failure waits
// listenRetry (a test may change it per store), each later one twice as
// long as the one before, up to listenRetryMax. An outage is reported at
// Warn when it starts and then at most once per listenReport; every failed
// attempt in between is logged at Debug.
const (
	listenRetry    = 200 * time.Millisecond
	listenRetryMax = 5 * time.Second
	listenReport   = time.Minute
)

// listenerName begins the application_name of the listener's connection,
// followed by the schema's channel: an operator can tell it apart in
// pg_stat_activity, and other replicas' announcers can tell whether
// anybody listens on the channel (see announcer).
const listenerName = "sessionlog listener"

// listenerApp is the application_name of the listener of channel on a
// connection whose own is app: the marker first, so that the server's
// 63-byte limit cuts the caller's part, not the marker.
func listenerApp(channel, app string) string {
	name := listenerName + " " + channel
	if app != "" {
		name += " (" + app + ")"
	}
	return name
}

// startListening starts the listener, unless it runs already or the
// store is closed. Every follower's wait calls it: once the listener
// runs, it costs one atomic load.
func (s *Store) startListening() {
	if s.listening.Load() {
		return // every wait after the first
	}
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.listening.Load() || s.closed.Load() {
		return
	}
	s.listening.Store(true)
	s.workers.Add(1)
	go s.listen(s.run, s.pool.Config().ConnConfig.Copy(), s.pollInterval)
}

// listen holds a connection of its own that LISTENs for other replicas'
// appends and wakes the readers of the app each names, until ctx ends.
// When the connection fails it wakes everybody (a notification may have
// been lost) and connects again after a pause, which grows while the
// failures go on; meanwhile the poll wakes readers every interval.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, poll time.Duration) {
	defer s.workers.Done()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = listenerApp(s.channel, cfg.RuntimeParams["application_name"])
	o := outage{logger: s.logger, poll: poll, retry: &s.listenRetry}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := s.listenOnce(ctx, cfg, func() { o.recovered(time.Now()) })
		s.wake.Fire("")
		if ctx.Err() != nil {
			return
		}
		timer.Reset(o.failed(time.Now(), err))
	}
}

// listenOnce connects, LISTENs and wakes readers at each notification
// until the connection fails, and returns why. It calls listening once
// the LISTEN is in place.
func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	listening()
	s.wake.Fire("") // anything may have happened before this connection listened
	// Announcers that last looked before this connection listened skip
	// their announcements for up to announceCheck more: once that has
	// passed, wake the readers again for what they skipped.
	late := time.AfterFunc(2*time.Duration(s.announceCheck.Load()), func() { s.wake.Fire("") })
	defer late.Stop()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		s.wake.Fire(n.Payload)
	}
}

// outage follows the listener's failures: it chooses the pause before each
// reconnection and logs the outage's start, its course and its end.
type outage struct {
	logger *slog.Logger
	poll   time.Duration
	retry  *atomic.Int64 // the first pause, in nanoseconds

	since    time.Time     // when the outage began; zero while listening
	up       time.Time     // when the listener last came back
	attempts int           // reconnections tried in this outage
	delay    time.Duration // the last pause chosen
	warned   time.Time     // when the outage was last reported at Warn
}

// failed notes that the listener failed with err at now, and returns how
// long to wait before connecting again.
func (o *outage) failed(now time.Time, err error) time.Duration {
	first := time.Duration(o.retry.Load())
	if o.since.IsZero() {
		// A connection that fails again soon after coming back goes on
		// backing off, so a flapping database is not hammered.
		if !o.up.IsZero() && now.Sub(o.up) < listenRetryMax {
			o.delay = min(max(2*o.delay, first), listenRetryMax)
		} else {
			o.delay = first
		}
		o.since, o.warned, o.attempts = now, now, 0
		o.logger.Warn("pgstore: listener lost its connection, subscribers rely on the poll until it is back",
			"error", err, "retry_in", o.delay, "poll_interval", o.poll)
		return o.delay
	}
	o.attempts++
	o.delay = min(max(2*o.delay, first), listenRetryMax)
	if now.Sub(o.warned) >= listenReport {
		o.warned = now
		o.logger.Warn("pgstore: listener is still disconnected",
			"error", err, "down_for", now.Sub(o.since), "attempts", o.attempts, "retry_in", o.delay)
	} else {
		o.logger.Debug("pgstore: listener failed to reconnect",
			"error", err, "down_for", now.Sub(o.since), "attempts", o.attempts, "retry_in", o.delay)
	}
	return o.delay
}

// recovered notes that the listener listens again at now, and logs the
// end of the outage, if there was one.
func (o *outage) recovered(now time.Time) {
	o.up = now
	if o.since.IsZero() {
		return // the first connection
	}
	o.attempts++
	o.logger.Info("pgstore: listener reconnected", "down_for", now.Sub(o.since), "attempts", o.attempts)
	o.since = time.Time{}
}

// poll wakes every waiting reader each interval, so that a lost
// notification delays a reader by at most that long.
func (s *Store) poll(ctx context.Context, every time.Duration) {
	defer s.workers.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.wake.Fire("")
		}
	}
}
