package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// migrations are the schema's versions, applied in order: NNNN_name.sql.
//
//go:embed migrations/*.sql
var migrations embed.FS

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
		m    migration
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
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
		done = append(done, applied{m, time.Since(start)})
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, a := range done {
		logger.Info("sqlitestore: applied a schema migration", "file", path, "migration", a.m.name,
			"version", a.m.version, "duration", a.took)
	}
	return nil
}
