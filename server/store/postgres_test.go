package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cosmic-gardener/realtime/server/internal/pgtest"
)

// TestPostgresSchema: Open migrates an empty database with goose (its
// version table records version 1), a second Open finds nothing to do, and
// a database migrated by a newer server is refused with ErrSchemaTooNew.
func TestPostgresSchema(t *testing.T) {
	ctx := context.Background()
	url := pg.URL(t)
	for range 2 {
		s, err := OpenPostgres(ctx, PostgresConfig{URL: url})
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int64
	if err := conn.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("schema version = %d, %v; want 1", v, err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, true)`); err != nil {
		t.Fatal(err)
	}
	s, err := OpenPostgres(ctx, PostgresConfig{URL: url})
	if err == nil {
		s.Close()
		t.Fatal("OpenPostgres accepted a newer schema")
	}
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("OpenPostgres = %v, want ErrSchemaTooNew naming version 99", err)
	}
}

// TestPostgresConfig: a bad URL is refused without echoing it (it may hold
// a password); an unreachable database is given up after ConnectTimeout.
func TestPostgresConfig(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"", "mysql://u:secret@h/db", "file:x.db", "://secret"} {
		_, err := OpenPostgres(ctx, PostgresConfig{URL: u})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("OpenPostgres(%q) = %v", u, err)
		}
	}
	if _, err := OpenPostgres(ctx, PostgresConfig{URL: "postgres://u@localhost/db", PoolSize: -1}); err == nil {
		t.Error("negative PoolSize accepted")
	}
	_, err := OpenPostgres(ctx, PostgresConfig{URL: "postgres://u@localhost:1/db?connect_timeout=1", ConnectTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "gave up") {
		t.Errorf("unreachable database: %v", err)
	}
}

// TestPostgresUnreachable: while the database is down, commits fail and
// Healthy and Ping report it (/readyz answers 503); once it is back the
// probe makes Healthy recover with no commit, and commits succeed again
// on fresh connections.
func TestPostgresUnreachable(t *testing.T) {
	var own pgtest.Cluster // halted and resumed: not the shared one
	t.Cleanup(func() {
		if err := own.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	s, err := OpenPostgres(ctx, PostgresConfig{URL: own.URL(t), StatementTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Commit(ctx, Commit{Actions: []ActionRecord{action("u", "before", `1`)}}); err != nil {
		t.Fatal(err)
	}
	if err := own.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, Commit{Actions: []ActionRecord{action("u", "down", `1`)}}); err == nil {
		t.Fatal("Commit succeeded with the database down")
	}
	if s.Healthy() == nil {
		t.Error("Healthy with the database down")
	}
	if s.Ping(ctx) == nil {
		t.Error("Ping succeeded with the database down")
	}
	if err := own.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for s.Healthy() != nil { // the probe runs every second
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy 15s after the database came back: %v", s.Healthy())
		}
		time.Sleep(50 * time.Millisecond) // polling for recovery; the guard above bounds it
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after recovery: %v", err)
	}
	if err := s.Commit(ctx, Commit{Actions: []ActionRecord{action("u", "after", `1`)}}); err != nil {
		t.Errorf("Commit after recovery: %v", err)
	}
	if _, ok, err := s.LookupAction(ctx, "u", "after"); !ok || err != nil {
		t.Errorf("LookupAction(after) = %v, %v", ok, err)
	}
}
