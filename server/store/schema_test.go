package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// legacySchema is what servers before goose created (PRAGMA user_version
// step 1), kept verbatim to test that their files still open.
const legacySchema = `
CREATE TABLE IF NOT EXISTS gardens (user_id TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL, state BLOB NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS actions (user_id TEXT NOT NULL, action_id TEXT NOT NULL, result BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (user_id, action_id));
CREATE INDEX IF NOT EXISTS actions_user_at ON actions (user_id, at);
CREATE INDEX IF NOT EXISTS actions_at ON actions (at);
PRAGMA user_version = 1;
INSERT INTO gardens VALUES ('old', 7, '{"v":7}', 0);
`

// TestSQLiteMigrations: a file of a server before goose (user_version 1,
// no goose table) opens with its data, goose records version 1 and
// user_version stays its mirror; a file whose goose table names a newer
// version is refused with ErrSchemaTooNew.
func TestSQLiteMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "legacy.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(legacySchema); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openTest(t, Config{Path: path})
	if g := loadGarden(t, s, "old"); g.Version != 7 || string(g.State) != `{"v":7}` {
		t.Errorf("legacy garden = v%d %s", g.Version, g.State)
	}
	mustCommit(t, s, Commit{Expect: &Expect{UserID: "old", Version: 7}, Garden: &Garden{UserID: "old", Version: 8, State: []byte(`8`)}})
	var goose, user int64
	if err := s.w.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&goose); err != nil || goose != 1 {
		t.Errorf("goose version %d, %v; want 1", goose, err)
	}
	if err := s.w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&user); err != nil || user != 1 {
		t.Errorf("user_version %d, %v; want 1", user, err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (2, 1)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, Config{Path: path})
	if err == nil {
		s2.Close()
		t.Fatal("Open accepted a newer goose version")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Open = %v, want ErrSchemaTooNew", err)
	}
}
