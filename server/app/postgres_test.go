package app_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/game"
)

// TestPostgresStore: with DATABASE_URL the server keeps gardens and
// action records in PostgreSQL across a restart, is ready, and never
// creates the SQLite file at DB_PATH.
func TestPostgresStore(t *testing.T) {
	url := pg.URL(t)
	dbPath := filepath.Join(t.TempDir(), "never.db")
	start := func() *wstest.Server {
		return wstest.Start(t, func(c *config.Config) { c.DatabaseURL, c.DBPath = url, dbPath })
	}
	s := start()
	res, err := http.Get(s.URL("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	_ = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d %v", res.StatusCode, body)
	}
	c := s.Dial("pat", "")
	c.FullState()
	c.Create("p-1", "asteroid", 1, 2, 3)
	if r, _ := c.Result("p-1"); !r.Success || r.Version != 2 {
		t.Fatalf("create: %+v", r)
	}
	_ = c.Conn.CloseNow() // else Stop waits out the close handshake of a client that no longer reads
	s.Stop()

	s = start()
	c = s.Dial("pat", "")
	st := c.FullState()
	gs, err := game.Decode(st.Data.State)
	if err != nil || st.Data.Version != 2 || len(gs.Bodies) != 1 {
		t.Fatalf("after restart: version %d, state %s, %v; want version 2 with one body", st.Data.Version, st.Data.State, err)
	}
	c.Create("p-1", "star", 0, 0, 0) // a replay: the original answer
	if r, _ := c.Result("p-1"); !r.Success || r.Version != 2 || r.BodyID != "b-p-1" {
		t.Fatalf("replay after restart: %+v", r)
	}
	_ = c.Conn.CloseNow()
	s.Stop()
	if _, err := os.Stat(dbPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("DB_PATH %s exists (%v): the SQLite file was created", dbPath, err)
	}
}
