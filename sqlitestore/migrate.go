package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// migrations are the schema's versions, applied in order: NNNN_name.sql.
//
//go:embed migrations/*.sql
var migrations embed.FS

func loadMigrations() ([]sqlrecord.Migration, error) {
	return sqlrecord.Migrations(migrations, "migrations")
}

// migrate brings the schema up to the newest version this package knows,
// in one transaction that holds the write lock (BEGIN IMMEDIATE), so
// stores opening the file together apply each migration once, and a
// crash mid-way leaves the file as it was. A file at the newest version,
// the common case, is read and left alone. A file at a newer version than
// this package knows is refused: this code might misread it. It logs
// each migration applied once they are committed.
func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger, path string) error {
	all, err := loadMigrations()
	if err != nil {
		return err
	}
	const table = `CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`
	var have int
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM migrations").Scan(&have); err == nil && have == len(all) {
		return nil
	}
	type applied struct {
		m    sqlrecord.Migration
		took time.Duration
	}
	var done []applied
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, table); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM migrations").Scan(&have); err != nil {
		return err
	}
	if have > len(all) {
		return fmt.Errorf("the file is at schema version %d, newer than this sqlitestore knows (%d): upgrade sessionlog", have, len(all))
	}
	for _, m := range all[have:] {
		start := time.Now()
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
		done = append(done, applied{m, time.Since(start)})
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, a := range done {
		logger.Info("sqlitestore: applied a schema migration", "file", path, "migration", a.m.Name,
			"version", a.m.Version, "duration", a.took)
	}
	return nil
}
