package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/natstest"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// awaitVersion reads c's messages until a StateUpdate at version want or
// later, and returns its data; it never sends GetState.
func awaitVersion(t *testing.T, c *wstest.Client, want uint64) protocol.StateData {
	t.Helper()
	for {
		env := c.Next()
		if env.Type != protocol.TypeStateUpdate {
			continue
		}
		if u := wstest.Decode[protocol.StateUpdate](t, env); u.Data.Version >= want {
			return u.Data
		}
	}
}

// hashOf returns the hash of user's current garden on s.
func hashOf(t *testing.T, s *wstest.Server, user string) (uint64, string) {
	t.Helper()
	g, err := s.App.Gardens().Acquire(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	defer s.App.Gardens().Release(g)
	cur := g.Current()
	return cur.Version, cur.Hash
}

// TestTwoNodesOverNATS: two servers on one PostgreSQL and one NATS, a
// device of one player on each; an action on either is seen by the other
// device as a StateUpdate, without GetState, with the state the acting
// node holds.
func TestTwoNodesOverNATS(t *testing.T) {
	url, ns := pg.URL(t), natstest.Start(t)
	start := func() *wstest.Server {
		return wstest.Start(t, func(c *config.Config) {
			c.DatabaseURL, c.NATSURL, c.ReconcileInterval = url, ns.URL(), time.Hour
		})
	}
	a, b := start(), start()
	ca, cb := a.Dial("pat", ""), b.Dial("pat", "")
	ca.FullState()
	cb.FullState()

	ca.Create("on-a", "asteroid", 1, 2, 3)
	res, _ := ca.Result("on-a")
	if !res.Success {
		t.Fatalf("action on A: %+v", res)
	}
	d := awaitVersion(t, cb, res.Version)
	if v, h := hashOf(t, a, "pat"); d.Version != v || d.Hash != h {
		t.Errorf("B's device got v%d %s, A holds v%d %s", d.Version, d.Hash, v, h)
	}

	cb.Create("on-b", "star", 4, 5, 6)
	res, _ = cb.Result("on-b")
	if !res.Success || res.Version != d.Version+1 {
		t.Fatalf("action on B: %+v, want version %d", res, d.Version+1)
	}
	d = awaitVersion(t, ca, res.Version)
	if v, h := hashOf(t, b, "pat"); d.Version != v || d.Hash != h {
		t.Errorf("A's device got v%d %s, B holds v%d %s", d.Version, d.Hash, v, h)
	}
	_, _ = ca.Conn.CloseNow(), cb.Conn.CloseNow()
}

// TestReadyzReportsBus: with NATS_URL, /readyz names the bus state and
// stays 200 while NATS is down (the node still serves its own devices);
// cosmic_bus_connected and cosmic_bus_disconnects_total follow.
func TestReadyzReportsBus(t *testing.T) {
	ns := natstest.Start(t)
	s := wstest.Start(t, func(c *config.Config) { c.NATSURL = ns.URL() })
	ready := func() (int, string) {
		resp, err := http.Get(s.URL("/readyz"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Status, Bus string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Status != "ready" {
			t.Errorf("readyz status %q, want ready", body.Status)
		}
		return resp.StatusCode, body.Bus
	}
	if code, bus := ready(); code != http.StatusOK || bus != "connected" {
		t.Fatalf("readyz %d bus %q, want 200 connected", code, bus)
	}
	ns.Stop()
	var last string
	eventually(t, 10*time.Second, func() bool {
		var code int
		code, last = ready()
		return code == http.StatusOK && last != "connected"
	}, func() string { return "readyz bus still " + last + " with NATS down" })
	if !strings.Contains(metricsText(t, s), "cosmic_bus_connected 0") || !strings.Contains(metricsText(t, s), "cosmic_bus_disconnects_total 1") {
		t.Errorf("metrics with NATS down:\n%s", grepLines(metricsText(t, s), "cosmic_bus_"))
	}
	// The node keeps serving its own devices meanwhile.
	c := s.Dial("solo", "")
	c.Create("while-down", "asteroid", 1, 1, 1)
	if res, env := c.Result("while-down"); !res.Success {
		t.Fatalf("action with NATS down: %s", env.Data)
	}
	ns.Restart()
	eventually(t, 20*time.Second, func() bool {
		_, last = ready()
		return last == "connected"
	}, func() string { return "readyz bus " + last + " after NATS returned" })
	_ = c.Conn.CloseNow()
}

func metricsText(t *testing.T, s *wstest.Server) string {
	t.Helper()
	resp, err := http.Get(s.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStartsWithNATSDown: a node whose NATS is unreachable at start
// starts anyway, serves its devices (their gardens are watched once NATS
// is back), and connects when NATS comes up.
func TestStartsWithNATSDown(t *testing.T) {
	ns := natstest.Start(t)
	ns.Stop()
	s := wstest.Start(t, func(c *config.Config) { c.NATSURL = ns.URL() })
	bus := func() string {
		resp, err := http.Get(s.URL("/readyz"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Bus string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("readyz %d, %v", resp.StatusCode, err)
		}
		return body.Bus
	}
	if b := bus(); b == "connected" {
		t.Fatalf("bus %q with NATS down", b)
	}
	c := s.Dial("early", "")
	c.Create("down", "asteroid", 1, 1, 1)
	if res, env := c.Result("down"); !res.Success {
		t.Fatalf("action with NATS down: %s", env.Data)
	}
	ns.Restart()
	var last string
	eventually(t, 20*time.Second, func() bool { last = bus(); return last == "connected" },
		func() string { return "bus " + last + " after NATS came up" })
	_ = c.Conn.CloseNow()
}
