package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Test hooks.

// SilenceNotifications makes s append without notifying other replicas, as
// if every notification were lost.
func SilenceNotifications(s *Store) { s.announcer.off = true }

// BeforeCommit makes s call f inside each append's transaction, after its
// writes and before its commit.
func BeforeCommit(s *Store, f func(pgx.Tx)) { s.beforeCommit = f }

// AfterFresh makes s call f in each Read of more than one session, right
// after the Read learns the horizon.
func AfterFresh(s *Store, f func()) { s.afterFresh = f }

// BatchStats reports how many batches s has sent and how many appends
// they carried.
func BatchStats(s *Store) (batches, appends uint64) {
	return s.commits.Stats()
}

// Queued reports how many appends wait in s's committer.
func Queued(s *Store) int { return s.commits.Queued() }

// MigrateTo brings schema up to version, and no further.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, schema string, version int) error {
	return migrateTo(ctx, pool, schema, pgx.Identifier{schema}.Sanitize(), version, discard)
}

// Channel is the NOTIFY channel s listens on.
func Channel(s *Store) string { return s.channel }

// SetListenRetry sets the listener's first pause after a failure.
func SetListenRetry(s *Store, d time.Duration) { s.listenRetry.Store(int64(d)) }

// SetAnnounceCheck sets how long s's announcer trusts its last look for
// listeners, and so when s's listener wakes its readers again.
func SetAnnounceCheck(s *Store, d time.Duration) { s.announceCheck.Store(int64(d)) }

// ListenerApp is the application_name of the listener's connection, on a
// pool without one of its own.
func ListenerApp(s *Store) string { return listenerApp(s.channel, "") }

// Migrations is how many schema versions the embedded migrations make.
func Migrations() int {
	all, err := loadMigrations()
	if err != nil {
		panic(err)
	}
	return len(all)
}

// RunMigrationSQL runs the SQL of migration version over schema again, as
// it ran when the schema reached that version.
func RunMigrationSQL(ctx context.Context, conn *pgx.Conn, schema string, version int) error {
	all, err := loadMigrations()
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, expand(all[version-1].SQL, schema, pgx.Identifier{schema}.Sanitize()))
	return err
}
