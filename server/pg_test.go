package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/server/store"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// waitUntil polls cond until it holds, failing t after d: only for waiting
// on real processes (the server, PostgreSQL).
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// status returns the HTTP status of GET path, or 0 if the request failed.
func (s *server) status(path string) int {
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

var conflictsLine = regexp.MustCompile(`(?m)^cosmic_store_conflicts_total (\S+)$`)

// conflicts reads cosmic_store_conflicts_total from the process's /metrics.
func (s *server) conflicts(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := conflictsLine.FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics lacks cosmic_store_conflicts_total:\n%s", b)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// state returns the client's full state, decoded.
func state(t *testing.T, c *wstest.Client) (protocol.StateUpdate, *game.State) {
	t.Helper()
	full := c.FullState()
	st, err := game.Decode(full.Data.State)
	if err != nil {
		t.Fatal(err)
	}
	return full, st
}

// checkOnce fails t unless the garden holds exactly the bodies of the
// acknowledged create actions ids, each once: one body per id and one
// version per body (an action applied twice would add a version).
func checkOnce(t *testing.T, full protocol.StateUpdate, st *game.State, ids []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("id %s acknowledged twice as a new action", id)
		}
		seen[id] = true
		if st.Bodies["b-"+id] == nil {
			t.Errorf("acknowledged body b-%s missing", id)
		}
	}
	if len(st.Bodies) != len(ids) || full.Data.Version != uint64(len(ids))+1 {
		t.Errorf("garden has %d bodies at version %d; want the %d acknowledged at version %d",
			len(st.Bodies), full.Data.Version, len(ids), len(ids)+1)
	}
}

// seedRichGarden stores user's new garden, without bodies, at version 1
// with resources for any number of creates.
func seedRichGarden(t *testing.T, url, user string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, store.PostgresConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	g := rules.New(user, time.Now().UnixMilli())
	g.Resources = game.Resources{Stardust: 1e9, Energy: 1e9}
	enc, err := game.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, store.Commit{Garden: &store.Garden{UserID: user, Version: 1, State: enc, UpdatedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
}

// sender is a client that creates bodies one at a time and resends an
// action with the same id after Error internal, as the web client does.
type sender struct {
	c        *wstest.Client
	name     string
	acked    []string // ids answered with success, in order
	internal atomic.Int64
	n        atomic.Int64 // len(acked), for the test's polling
	failed   atomic.Pointer[error]
}

// err returns why run failed, or nil while it has not.
func (s *sender) err() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// run sends until stop is set or limit actions are acknowledged,
// finishing the action in flight; it must not call t's fatal methods (it
// is not the test's goroutine): a failure is kept for err.
func (s *sender) run(stop *atomic.Bool, limit int) {
	if err := s.send(stop, limit); err != nil {
		s.failed.Store(&err)
	}
}

func (s *sender) send(stop *atomic.Bool, limit int) error {
	for k := 0; !stop.Load() && k < limit; k++ {
		id := fmt.Sprintf("%s-%d", s.name, k)
		frame, _ := json.Marshal(map[string]any{"type": protocol.TypeCreateCelestialBody, "id": id,
			"data": map[string]any{"body_type": "asteroid", "position": map[string]float64{"x": float64(k), "y": 0, "z": 0}}})
	resend:
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := s.c.Conn.Write(ctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: write %s: %w", s.name, id, err)
			}
			for {
				env, err := s.c.Read(30 * time.Second)
				if err != nil {
					return fmt.Errorf("%s: read the answer to %s: %w", s.name, id, err)
				}
				switch env.Type {
				case protocol.TypeStateUpdate:
					continue
				case protocol.TypeActionResult:
					var r protocol.ActionResult
					if err := json.Unmarshal(env.Data, &r); err != nil || env.ID != id || !r.Success {
						return fmt.Errorf("%s: answer to %s: id %q %s", s.name, id, env.ID, env.Data)
					}
					s.acked = append(s.acked, id)
					s.n.Add(1)
					break resend
				case protocol.TypeError:
					var e protocol.ErrorMessage
					if err := json.Unmarshal(env.Data, &e); err != nil || e.Code != protocol.CodeInternal {
						return fmt.Errorf("%s: error answer to %s: %s", s.name, id, env.Data)
					}
					s.internal.Add(1)
					if stop.Load() { // the test is over (or failed while the database is down)
						return nil
					}
					time.Sleep(20 * time.Millisecond) // the client's backoff, short
					continue resend
				default:
					return fmt.Errorf("%s: unexpected %s %s while waiting for %s", s.name, env.Type, env.Data, id)
				}
			}
		}
	}
	return nil
}

// TestPostgresRestartUnderLoad stops PostgreSQL (pgtest Halt) while three
// connections of one player send actions, and starts it again: actions
// during the outage are answered Error internal and resent with the same
// ids, the connections stay open, /readyz is 503 during the outage and
// 200 after, no acknowledged action is lost or applied twice, and every
// connection converges to the server's state (operations.md, PostgreSQL,
// "Start-up and restarts").
func TestPostgresRestartUnderLoad(t *testing.T) {
	bin := serverBinary(t)
	url := pg.URL(t)
	// The senders run unpaced until the test stops them: alice starts rich,
	// so that the rules never refuse a create for lack of resources (the
	// 2 000 stardust of a new garden last 200 asteroids, which a fast run
	// reached).
	seedRichGarden(t, url, "alice")
	srv := startServer(t, bin, url, "RATE_PER_SECOND=100000", "RATE_BURST=100000")
	halted := false
	t.Cleanup(func() {
		if halted {
			if err := pg.Resume(); err != nil {
				t.Error(err)
			}
		}
	})

	senders := make([]*sender, 3)
	for i := range senders {
		senders[i] = &sender{c: srv.connect(t, "alice"), name: fmt.Sprintf("load%d", i)}
	}
	acked := func() (n int64) {
		for _, s := range senders {
			n += s.n.Load()
		}
		return n
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Go(func() { s.run(&stop, math.MaxInt) })
	}
	stopSenders := sync.OnceFunc(func() { stop.Store(true); wg.Wait() })
	t.Cleanup(stopSenders)
	// failed fails the test as soon as a sender has failed, from the
	// conditions polled below.
	failed := func() {
		for _, s := range senders {
			if err := s.err(); err != nil {
				t.Fatal(err)
			}
		}
	}

	waitUntil(t, 15*time.Second, "20 actions acknowledged before the outage", func() bool { failed(); return acked() >= 20 })
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	halted = true
	waitUntil(t, 15*time.Second, "/readyz 503 while PostgreSQL is down", func() bool { return srv.status("/readyz") == http.StatusServiceUnavailable })
	waitUntil(t, 15*time.Second, "every connection answered Error internal", func() bool {
		failed()
		for _, s := range senders {
			if s.internal.Load() == 0 {
				return false
			}
		}
		return true
	})
	if code := srv.status("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d during the outage, want 503", code)
	}
	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	halted = false
	waitUntil(t, 15*time.Second, "/readyz 200 after PostgreSQL is back", func() bool { return srv.status("/readyz") == http.StatusOK })
	after := acked()
	waitUntil(t, 15*time.Second, "20 more actions acknowledged after the outage", func() bool { failed(); return acked() >= after+20 })
	stopSenders()
	failed()

	var ids []string
	var internal int64
	for _, s := range senders {
		ids = append(ids, s.acked...)
		internal += s.internal.Load()
	}
	fresh := srv.connect(t, "alice")
	full, st := state(t, fresh)
	checkOnce(t, full, st, ids)
	// The connections that lived through the outage converge: a GetState
	// may be answered before the last broadcast reached the session (seen
	// under -race), so it is asked again until it matches, with a deadline.
	for _, s := range senders {
		var got protocol.StateUpdate
		waitUntil(t, 10*time.Second, fmt.Sprintf("%s converges to version %d", s.name, full.Data.Version), func() bool {
			got = s.c.FullState()
			return got.Data.Version >= full.Data.Version
		})
		if got.Data.Version != full.Data.Version || got.Data.Hash != full.Data.Hash {
			t.Errorf("%s: version %d hash %s, server %d %s", s.name, got.Data.Version, got.Data.Hash, full.Data.Version, full.Data.Hash)
		}
	}
	t.Logf("%d actions acknowledged, %d Error internal answers resent", len(ids), internal)
}

// TestPostgresTwoProcesses runs two server processes on one PostgreSQL
// database (no fan-out between them) with one player connected to both:
// actions through both are each applied exactly once, and the process
// whose garden is stale counts a conflict (cosmic_store_conflicts_total).
// The first conflict is deterministic: both processes load the garden
// before either commits; a concurrent burst through both follows.
func TestPostgresTwoProcesses(t *testing.T) {
	bin := serverBinary(t)
	url := pg.URL(t)
	a := startServer(t, bin, url)
	b := startServer(t, bin, url)
	ca, cb := a.connect(t, "alice"), b.connect(t, "alice")
	if fa, fb := ca.FullState(), cb.FullState(); fa.Data.Version != 1 || fb.Data.Version != 1 {
		t.Fatalf("loaded versions %d and %d, want 1 (an empty garden)", fa.Data.Version, fb.Data.Version)
	}
	var ids []string
	ca.Create("two-a", "asteroid", 1, 0, 0)
	if r, env := ca.Result("two-a"); !r.Success || r.Version != 2 {
		t.Fatalf("through a: %s", env.Data)
	}
	cb.Create("two-b", "asteroid", 2, 0, 0) // b still holds version 1
	if r, env := cb.Result("two-b"); !r.Success || r.Version != 3 {
		t.Fatalf("through b, after a's commit: %s, want version 3", env.Data)
	}
	ids = append(ids, "two-a", "two-b")
	if n := b.conflicts(t); n < 1 {
		t.Fatalf("b counted %v conflicts, want at least 1", n)
	}

	// A burst through both at once: each process's commits make the
	// other's garden stale. After MaxConflictRetries conflicts on one
	// action a process answers Error internal, and the sender resends the
	// same id, as clients do.
	const burst = 30
	var wg sync.WaitGroup
	var stop atomic.Bool
	senders := []*sender{{c: ca, name: "burst-a"}, {c: cb, name: "burst-b"}}
	for _, s := range senders {
		wg.Go(func() { s.run(&stop, burst) })
	}
	wg.Wait()
	var internal int64
	for _, s := range senders {
		if err := s.err(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.acked...)
		internal += s.internal.Load()
	}

	// Neither process sees the other's commits until it conflicts, so the
	// state is read through a third process loading it afresh.
	reader := startServer(t, bin, url)
	full, st := state(t, reader.connect(t, "alice"))
	checkOnce(t, full, st, ids)
	t.Logf("conflicts: a %v, b %v; Error internal answers resent: %d", a.conflicts(t), b.conflicts(t), internal)
}
