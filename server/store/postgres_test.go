package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
