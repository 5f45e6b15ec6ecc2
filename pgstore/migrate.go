package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
var upgrades = map[int]func(ctx context.Context, tx pgx.Tx, schema string) error{
	2: fillReadModel,
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for i, path := range names { // fs.Glob returns them sorted
		name := strings.TrimPrefix(path, "migrations/")
		v, err := strconv.Atoi(name[:strings.IndexByte(name, '_')])
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s is out of sequence", name)
		}
		b, err := migrations.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	return out, nil
}

// migrate brings the schema up to the newest version this package knows,
// in one transaction under an advisory lock, so replicas opening together
// apply each migration once; a replica opening a migrated database reads
// its version and changes nothing. A database at a newer version than this package knows
// is refused: this code might misread it.
func migrate(ctx context.Context, pool *pgxpool.Pool, name, schema string) error {
	return migrateTo(ctx, pool, name, schema, 0)
}

// migrateTo is migrate up to version upTo (0: the newest).
func migrateTo(ctx context.Context, pool *pgxpool.Pool, name, schema string, upTo int) error {
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
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
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
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{{schema}}", schema)); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if up := upgrades[m.version]; up != nil {
				if err := up(ctx, tx, schema); err != nil {
					return fmt.Errorf("migration %s: upgrade the data: %w", m.name, err)
				}
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
}
