package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
		// Polling a flag the writer's probe clears: the probe runs every
		// second of real time and reports to no observer.
		time.Sleep(20 * time.Millisecond)
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

// TestBatchFailsFastWhenTheDatabaseFails: a batch that fails for a reason
// of the whole database (here the write lock held elsewhere) fails all its
// commits at once, instead of retrying each alone for one more
// BusyTimeout each, and none of them is written.
func TestBatchFailsFastWhenTheDatabaseFails(t *testing.T) {
	const n, busy = 20, 200 * time.Millisecond
	s, log, enq := heldStore(t, Config{BusyTimeout: busy})
	errs := make([]<-chan error, n)
	for i := range n {
		errs[i] = commitAsync(context.Background(), s, Commit{Actions: []ActionRecord{action("u", fmt.Sprint("a", i), `1`)}})
	}
	for range n {
		waitFor(t, enq, "commits to be queued")
	}
	release := lockFile(t, s.cfg.Path)
	start := time.Now()
	log.release()
	for i, ch := range errs {
		if err := <-ch; err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			t.Errorf("commit %d: %v, want SQLITE_BUSY", i, err)
		}
	}
	// One by one they would take (n+1) x busy = 4.2 s.
	if d := time.Since(start); d > 5*busy {
		t.Errorf("%d commits failed after %v, want about one busy timeout (%v)", n, d, busy)
	}
	release()
	if ids := actionIDs(t, s, "u"); len(ids) != 0 {
		t.Errorf("failed commits left records %v", ids)
	}
}
