package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// migrations holds the versioned schema of both stores, applied by goose
// at Open: migrations/sqlite and migrations/postgres carry the same
// version numbers, each step written in its database's SQL. Append files,
// never edit one. goose records the versions it applied in its own table
// (goose_db_version); SQLite files also mirror the version in PRAGMA
// user_version, which servers before goose used (their only step is
// 00001, so their files, at user_version 1, keep working), and which
// makes such an older server refuse a newer file.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// ErrSchemaTooNew is wrapped by the error Open and OpenPostgres return
// when the database holds a schema version newer than this server knows:
// a newer server has migrated it, and this one refuses to run against it.
var ErrSchemaTooNew = errors.New("database schema is newer than this server supports")

// gooseUp applies the migrations of dir (a directory of migrations) to db
// and returns the newest version known; it refuses a database already at a
// newer one.
func gooseUp(ctx context.Context, dialect goose.Dialect, db *sql.DB, dir string, opts ...goose.ProviderOption) (known int64, err error) {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return 0, err
	}
	prov, err := goose.NewProvider(dialect, db, fsys, append(opts, goose.WithDisableGlobalRegistry(true))...)
	if err != nil {
		return 0, err
	}
	src := prov.ListSources()
	known = src[len(src)-1].Version
	if _, err := prov.Up(ctx); err != nil {
		return 0, err
	}
	have, err := prov.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if have > known {
		return 0, fmt.Errorf("%w: schema version %d is newer than supported %d; run a newer server", ErrSchemaTooNew, have, known)
	}
	return known, nil
}

// migrate brings an SQLite file's schema to the newest version. It
// refuses a file written by a newer version of this package.
func migrate(ctx context.Context, w *sql.DB) error {
	var v int64
	if err := w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	known, err := gooseUpSQLite(ctx, w, v)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if v != known {
		// PRAGMA takes no parameters; known is ours, not input.
		if _, err := w.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", known)); err != nil {
			return fmt.Errorf("migrate: set schema version: %w", err)
		}
	}
	return nil
}

// gooseUpSQLite refuses a user_version above what goose knows before
// touching the file, then runs goose.
func gooseUpSQLite(ctx context.Context, w *sql.DB, userVersion int64) (int64, error) {
	entries, err := fs.ReadDir(migrations, "migrations/sqlite")
	if err != nil {
		return 0, err
	}
	if known := int64(len(entries)); userVersion > known {
		return 0, fmt.Errorf("%w: schema version %d is newer than supported %d; run a newer server", ErrSchemaTooNew, userVersion, known)
	}
	return gooseUp(ctx, goose.DialectSQLite3, w, "migrations/sqlite")
}

// writeStmts are the writer's prepared statements. They are prepared on the
// single writer connection, so Tx.StmtContext reuses them without
// re-preparing.
type writeStmts struct {
	// upsertGarden writes a garden unless the stored one is as new or newer.
	upsertGarden *sql.Stmt
	// insertGarden writes a garden that must not exist yet (a conditional
	// commit on version 0); no row affected means a conflict.
	insertGarden *sql.Stmt
	// updateGardenIf writes a garden whose stored version must be the
	// given base; no row affected means a conflict.
	updateGardenIf *sql.Stmt
	// gardenVersion reads a stored version inside the write transaction,
	// for a conditional commit without a garden write.
	gardenVersion *sql.Stmt
	// insertAction records an action unless its id is known: the first
	// result stays.
	insertAction *sql.Stmt
	// pruneAge deletes one user's records older than a cutoff.
	pruneAge *sql.Stmt
	// readAction reads a record inside the write transaction, when a
	// conditional commit's id is known (rare: a retry of an old action).
	readAction *sql.Stmt
	// deleteAction removes a record this transaction inserted for a
	// conditional commit that then conflicted or met a known id.
	deleteAction *sql.Stmt
	// sweep deletes up to a limit of records of any user older than a
	// cutoff.
	sweep *sql.Stmt
}

func (ws *writeStmts) prepare(ctx context.Context, w *sql.DB) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = w.PrepareContext(ctx, q)
		return st
	}
	ws.upsertGarden = prep(`INSERT INTO gardens (user_id, version, state, updated_at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (user_id) DO UPDATE SET version = excluded.version, state = excluded.state, updated_at = excluded.updated_at
		WHERE excluded.version > gardens.version`)
	ws.insertGarden = prep(`INSERT INTO gardens (user_id, version, state, updated_at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (user_id) DO NOTHING`)
	ws.updateGardenIf = prep(`UPDATE gardens SET version = ?2, state = ?3, updated_at = ?4 WHERE user_id = ?1 AND version = ?5`)
	ws.gardenVersion = prep(`SELECT version FROM gardens WHERE user_id = ?1`)
	ws.insertAction = prep(`INSERT INTO actions (user_id, action_id, result, at) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (user_id, action_id) DO NOTHING`)
	ws.pruneAge = prep(`DELETE FROM actions WHERE user_id = ?1 AND at < ?2`)
	ws.readAction = prep(`SELECT result, at FROM actions WHERE user_id = ?1 AND action_id = ?2`)
	ws.deleteAction = prep(`DELETE FROM actions WHERE user_id = ?1 AND action_id = ?2`)
	ws.sweep = prep(`DELETE FROM actions WHERE rowid IN (
		SELECT rowid FROM actions WHERE at < ?1 ORDER BY at LIMIT ?2)`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

func (ws *writeStmts) close() {
	closeStmts(ws.upsertGarden, ws.insertGarden, ws.updateGardenIf, ws.gardenVersion, ws.insertAction, ws.pruneAge, ws.readAction, ws.deleteAction, ws.sweep)
}

// readStmts are prepared on the read pool.
type readStmts struct {
	garden  *sql.Stmt
	actions *sql.Stmt
	action  *sql.Stmt
}

func (rs *readStmts) prepare(ctx context.Context, r *sql.DB) error {
	var errs []error
	prep := func(q string) *sql.Stmt {
		st, err := r.PrepareContext(ctx, q)
		errs = append(errs, err)
		return st
	}
	rs.garden = prep(`SELECT version, state, updated_at FROM gardens WHERE user_id = ?1`)
	rs.actions = prep(`SELECT action_id, result, at FROM actions WHERE user_id = ?1 ORDER BY at, rowid`)
	rs.action = prep(`SELECT result, at FROM actions WHERE user_id = ?1 AND action_id = ?2`)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

func (rs *readStmts) close() { closeStmts(rs.garden, rs.actions, rs.action) }

func closeStmts(sts ...*sql.Stmt) {
	for _, st := range sts {
		if st != nil {
			_ = st.Close()
		}
	}
}
