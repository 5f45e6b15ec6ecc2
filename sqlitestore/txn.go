package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/sessionlog/sessionlog/eventlog"
)

// txn is a transaction on the writer or on a reader, running the store's
// prepared statements. A writer's also carries the last position handed
// out, which its writes raise.
type txn struct {
	ctx  context.Context
	tx   *sql.Tx
	st   *stmts
	head int64
}

// begin starts a transaction on db: on the writer, BEGIN IMMEDIATE (the
// DSN's _txlock), which takes the write lock at once; on a reader, a read
// transaction whose snapshot its first statement takes.
func (s *Store) begin(ctx context.Context, write bool) (*txn, error) {
	db, st, opts := s.r, &s.rst, &sql.TxOptions{ReadOnly: true}
	if write {
		db, st, opts = s.w, &s.wst, nil
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &txn{ctx: ctx, tx: tx, st: st}, nil
}

func (t *txn) stmt(q string) (*sql.Stmt, error) {
	st, err := t.st.get(q)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(t.ctx, st), nil
}

func (t *txn) exec(q string, args ...any) error {
	st, err := t.stmt(q)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(t.ctx, args...)
	return err
}

func (t *txn) query(q string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// scan reads the one row q returns into dest; sql.ErrNoRows if there is
// none.
func (t *txn) scan(q string, args []any, dest ...any) error {
	st, err := t.stmt(q)
	if err != nil {
		return err
	}
	return st.QueryRowContext(t.ctx, args...).Scan(dest...)
}

// next takes the next position.
func (t *txn) next() int64 {
	t.head++
	return t.head
}

// keyArgs are a session key's columns as arguments.
func keyArgs(k eventlog.SessionKey) []any {
	return []any{blob(k.AppName), blob(k.UserID), blob(k.SessionID)}
}

// args joins argument lists.
func args(lists ...[]any) []any {
	var out []any
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// row is a record's row as read: position, sequence number and body.
type row struct {
	pos  int64
	seq  int64
	body []byte
}

// records reads the rows q returns (position, seq, body).
func (t *txn) records(q string, a ...any) ([]row, error) {
	rows, err := t.query(q, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.pos, &r.seq, &r.body); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// pairs reads the (key, value) rows q returns, each key with prefix put
// before it, appending them to keys and vals.
func (t *txn) pairs(keys, vals [][]byte, prefix string, q string, a ...any) ([][]byte, [][]byte, error) {
	rows, err := t.query(q, a...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, nil, err
		}
		if prefix != "" {
			k = append([]byte(prefix), k...)
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, rows.Err()
}

// merged reads a session's merged state, as keys and JSON values: its own
// keys, and the app's and the user's under their prefixes.
func (t *txn) merged(k eventlog.SessionKey) (keys, vals [][]byte, err error) {
	a := keyArgs(k)
	if keys, vals, err = t.pairs(keys, vals, "", qSessionState, a...); err != nil {
		return nil, nil, err
	}
	if keys, vals, err = t.pairs(keys, vals, eventlog.AppPrefix, qAppState, a[0]); err != nil {
		return nil, nil, err
	}
	return t.pairs(keys, vals, eventlog.UserPrefix, qUserState, a[0], a[1])
}
