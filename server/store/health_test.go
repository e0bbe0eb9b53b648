package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"
)

// lockFile takes the write lock of the database at path from a connection
// of its own, as another process would, and returns its release.
func lockFile(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, pragma("busy_timeout", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Errorf("release the lock: %v", err)
		}
		if err := errors.Join(conn.Close(), db.Close()); err != nil {
			t.Errorf("close the locking connection: %v", err)
		}
	}
	t.Cleanup(release)
	return release
}

// TestHealthyFollowsCommits: Healthy is nil while commits succeed, returns
// the failure once a commit fails (here the write lock is held by another
// connection beyond BusyTimeout), and recovers by itself, through the
// writer's probe, once the lock is released, with no commit from anyone
// (issue 11 item 8). The failed commit left no record behind.
func TestHealthyFollowsCommits(t *testing.T) {
	s := openTest(t, Config{BusyTimeout: 50 * time.Millisecond})
	mustCommit(t, s, Commit{Actions: []ActionRecord{action("u", "a1", `1`)}})
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy after a commit: %v", err)
	}

	release := lockFile(t, s.cfg.Path)
	err := s.Commit(context.Background(), Commit{Actions: []ActionRecord{action("u", "a2", `2`)}})
	if err == nil {
		t.Fatal("Commit succeeded while another connection held the write lock")
	}
	herr := s.Healthy()
	if herr == nil || !strings.Contains(herr.Error(), "cannot commit") {
		t.Fatalf("Healthy after a failed commit = %v, want a commit failure", herr)
	}
	t.Logf("commit: %v; Healthy: %v", err, herr)

	release()
	deadline := time.Now().Add(10 * time.Second)
	for s.Healthy() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy 10 s after the lock was released: %v", s.Healthy())
		}
		time.Sleep(20 * time.Millisecond) // polling a flag the writer's probe clears
	}
	if _, ok, err := s.LookupAction(context.Background(), "u", "a2"); ok || err != nil {
		t.Fatalf("the failed commit left a record: %v, %v", ok, err)
	}
	if _, ok, err := s.LoadGarden(context.Background(), ""); ok || err != nil {
		t.Fatalf("the probe left its row: %v, %v", ok, err)
	}
	mustCommit(t, s, Commit{Actions: []ActionRecord{action("u", "a2", `2`)}})
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy after a commit: %v", err)
	}
}
