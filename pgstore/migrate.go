package pgstore

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// migrations are the schema's versions, applied in order: NNNN_name.sql,
// with {{schema}} standing for the schema's quoted name. A version may also
// have an upgrade step in Go (upgrades), run right after its SQL.
//
//go:embed migrations/*.sql
var migrations embed.FS

// upgrades are the steps in Go that bring the data of an existing database
// up to a version, where SQL alone would do it badly: each runs in the
// migration's transaction, right after the version's SQL, with the
// schema's quoted name.
var upgrades = map[int]upgrade{
	2: {"fill the read model", fillReadModel},
}

// upgrade is a version's step in Go: run returns how many sessions it
// brought up to the version.
type upgrade struct {
	name string
	run  func(ctx context.Context, tx pgx.Tx, schema string) (sessions int, err error)
}

func loadMigrations() ([]sqlrecord.Migration, error) {
	return sqlrecord.Migrations(migrations, "migrations")
}

// expand fills in a migration's placeholders: {{schema}}, the schema's
// quoted name (of name), {{positions}}, the name of its sequence of
// positions as a string literal (nextval's argument), and {{holder}}, the
// application_name of a transaction that holds positions, as a string
// literal (see horizon.go).
func expand(sql, name, schema string) string {
	return strings.NewReplacer("{{schema}}", schema, "{{positions}}", positionsLiteral(schema),
		"{{holder}}", "'"+holderName(name)+"'").Replace(sql)
}

// holderName is the application_name that a transaction holding positions
// of the schema called name shows while it runs: the schema's NOTIFY
// channel, a name of at most 63 bytes that tells schemas apart.
func holderName(name string) string { return channelFor(name) }

// positionsLiteral is the name of the schema's sequence of positions as a
// SQL string literal; schema is the schema's quoted name.
func positionsLiteral(schema string) string {
	return "'" + strings.ReplaceAll(schema+".positions", "'", "''") + "'"
}

// migrate brings the schema up to the newest version this package knows,
// in one transaction under an advisory lock, so replicas opening together
// apply each migration once; a replica opening a migrated database reads
// its version and changes nothing. A database at a newer version than this package knows
// is refused: this code might misread it.
// It logs each migration and upgrade step it applied once they are
// committed.
func migrate(ctx context.Context, pool *pgxpool.Pool, name, schema string, logger *slog.Logger) error {
	return migrateTo(ctx, pool, name, schema, 0, logger)
}

// applied is what a migration did, logged once it is committed.
type applied struct {
	m        sqlrecord.Migration
	took     time.Duration
	step     string // the upgrade step's name; empty when there is none
	sessions int
	stepTook time.Duration
}

// migrateTo is migrate up to version upTo (0: the newest).
func migrateTo(ctx context.Context, pool *pgxpool.Pool, name, schema string, upTo int, logger *slog.Logger) error {
	all, err := loadMigrations()
	if err != nil {
		return err
	}
	known := len(all)
	if upTo > 0 {
		all = all[:upTo]
	}
	// A database at the newest version, the common case, needs no
	// transaction and no lock: one read says so.
	var have int
	if err := pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+schema+".migrations").Scan(&have); err == nil && have == len(all) {
		return nil
	}
	var done []applied
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		done = done[:0]
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "sessionlog.migrate."+name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+schema+
			".migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+schema+".migrations").Scan(&have); err != nil {
			return err
		}
		if have > known {
			return fmt.Errorf("the database is at schema version %d, newer than this pgstore knows (%d): upgrade sessionlog", have, known)
		}
		for _, m := range all[min(have, len(all)):] {
			a := applied{m: m}
			start := time.Now()
			if _, err := tx.Exec(ctx, expand(m.SQL, name, schema)); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if up, ok := upgrades[m.Version]; ok {
				stepStart := time.Now()
				n, err := up.run(ctx, tx, schema)
				if err != nil {
					return fmt.Errorf("migration %s: upgrade the data: %w", m.Name, err)
				}
				a.step, a.sessions, a.stepTook = up.name, n, time.Since(stepStart)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return err
			}
			a.took = time.Since(start)
			done = append(done, a)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range done {
		if a.step != "" {
			logger.Info("pgstore: ran a migration's data upgrade", "schema", name, "migration", a.m.Name,
				"step", a.step, "sessions", a.sessions, "duration", a.stepTook)
		}
		logger.Info("pgstore: applied a schema migration", "schema", name, "migration", a.m.Name,
			"version", a.m.Version, "duration", a.took)
	}
	return nil
}
