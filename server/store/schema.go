package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// schemaV1 creates the first schema. Times are Unix nanoseconds. The
// actions rowid records insertion order, which breaks ties of equal At.
// actions_user_at serves LoadActions and per-user pruning, actions_at the
// periodic sweep of expired records.
const schemaV1 = `
CREATE TABLE IF NOT EXISTS gardens (
	user_id    TEXT    NOT NULL PRIMARY KEY,
	version    INTEGER NOT NULL,
	state      BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
	user_id   TEXT    NOT NULL,
	action_id TEXT    NOT NULL,
	result    BLOB    NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (user_id, action_id)
);
CREATE INDEX IF NOT EXISTS actions_user_at ON actions (user_id, at);
CREATE INDEX IF NOT EXISTS actions_at ON actions (at);

`

// migrations returns the schema steps; step i moves PRAGMA user_version from
// i to i+1. Append new steps, never edit old ones.
func migrations() []string {
	return []string{schemaV1}
}

// migrate brings the schema to the newest version in one transaction. It
// refuses a file written by a newer version of this package.
func migrate(ctx context.Context, w *sql.DB) (err error) {
	steps := migrations()
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if v > len(steps) {
		return fmt.Errorf("migrate: schema version %d is newer than supported %d", v, len(steps))
	}
	if v == len(steps) {
		return tx.Commit()
	}
	for i := v; i < len(steps); i++ {
		if _, err := tx.ExecContext(ctx, steps[i]); err != nil {
			return fmt.Errorf("migrate: to schema version %d: %w", i+1, err)
		}
	}
	// PRAGMA takes no parameters; len(steps) is ours, not input.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(steps))); err != nil {
		return fmt.Errorf("migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
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
	ws.sweep = prep(`DELETE FROM actions WHERE rowid IN (
		SELECT rowid FROM actions WHERE at < ?1 ORDER BY at LIMIT ?2)`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

func (ws *writeStmts) close() {
	closeStmts(ws.upsertGarden, ws.insertGarden, ws.updateGardenIf, ws.gardenVersion, ws.insertAction, ws.pruneAge, ws.sweep)
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
