package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// readyz returns the status code and status of GET /readyz.
func readyz(t *testing.T, s *wstest.Server) (int, string) {
	t.Helper()
	resp, err := http.Get(s.URL("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body.Status
}

// TestReadyzFollowsCommits is issue 11 item 8: /readyz is 200, turns 503
// while another process holds the database's write lock and commits fail,
// and turns 200 again by itself once the lock is released. The action that
// failed meanwhile got Error internal, was not recorded, and is applied
// when sent again with the same id (protocol.md §2, §11).
func TestReadyzFollowsCommits(t *testing.T) {
	s := wstest.Start(t, func(c *config.Config) { c.DBBusyTimeout = 100 * time.Millisecond })
	if code, status := readyz(t, s); code != http.StatusOK {
		t.Fatalf("readyz %d %q at start, want 200", code, status)
	}
	c := s.Dial("alice", "")
	c.Create("before", "asteroid", 1, 1, 1)
	if res, env := c.Result("before"); !res.Success {
		t.Fatalf("first action: %s", env.Data)
	}

	// Another process takes the write lock, as a backup tool might.
	db, err := sql.Open("sqlite", s.Config.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = errors.Join(conn.Close(), db.Close()) })
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	c.Create("during", "asteroid", 2, 2, 2)
	e, env := c.ErrorAnswer()
	if e.Code != protocol.CodeInternal || env.ID != "during" {
		t.Fatalf("action while commits fail: %s id %q, want Error internal", env.Data, env.ID)
	}
	if code, status := readyz(t, s); code != http.StatusServiceUnavailable || status != "store cannot commit" {
		t.Fatalf("readyz %d %q while commits fail, want 503 \"store cannot commit\"", code, status)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	var last string
	eventually(t, 10*time.Second, func() bool {
		code, status := readyz(t, s)
		last = fmt.Sprint(code, " ", status)
		return code == http.StatusOK
	}, func() string { return "readyz still " + last + " after the lock was released" })

	c.Create("during", "asteroid", 2, 2, 2)
	if res, env := c.Result("during"); !res.Success || res.BodyID != "b-during" {
		t.Fatalf("resent action: %s, want applied now", env.Data)
	}
}
