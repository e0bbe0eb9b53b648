package main

import (
	"syscall"
	"testing"

	"github.com/cosmic-gardener/realtime/server/internal/natstest"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// nextVersion reads c until a StateUpdate at version want or later and
// returns its data; it never sends GetState.
func nextVersion(t *testing.T, c *wstest.Client, want uint64) protocol.StateData {
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

// TestTwoProcessesOverNATS: two cosmic-server processes on one PostgreSQL
// and one NATS (in this process), a device of one player on each: an
// action on either node reaches the device on the other as a StateUpdate,
// without GetState, equal to the acting device's state; reconciliation is
// off (1h), so the bus alone carries it. With NATS stopped, A still
// answers; once NATS is back B's device catches up. SIGTERM then drains
// the bus and the process exits 0.
func TestTwoProcessesOverNATS(t *testing.T) {
	bin := serverBinary(t)
	url := pg.URL(t)
	ns := natstest.Start(t)
	env := []string{"NATS_URL=" + ns.URL(), "RECONCILE_INTERVAL=1h"}
	a, b := startServer(t, bin, url, env...), startServer(t, bin, url, env...)
	ca, cb := a.connect(t, "pat"), b.connect(t, "pat")
	ca.FullState()
	cb.FullState()

	for i, step := range []struct {
		from, to *wstest.Client
		id       string
	}{{ca, cb, "on-a-1"}, {cb, ca, "on-b-1"}, {ca, cb, "on-a-2"}} {
		step.from.Create(step.id, "asteroid", float64(i), 0, 0)
		res, env := step.from.Result(step.id)
		if !res.Success {
			t.Fatalf("%s: %s", step.id, env.Data)
		}
		got := nextVersion(t, step.to, res.Version)
		full, _ := state(t, step.from)
		if got.Version != full.Data.Version || got.Hash != full.Data.Hash {
			t.Fatalf("%s: the other node's device got v%d %s, the acting device holds v%d %s",
				step.id, got.Version, got.Hash, full.Data.Version, full.Data.Hash)
		}
	}

	// NATS down: A's device still gets its answers; B's device catches up
	// when NATS returns (the reconnect's pass: reconciliation is off).
	ns.Stop()
	ca.Create("while-down", "asteroid", 9, 9, 9)
	res, answer := ca.Result("while-down")
	if !res.Success {
		t.Fatalf("action with NATS down: %s", answer.Data)
	}
	ns.Restart()
	got := nextVersion(t, cb, res.Version)
	if full, _ := state(t, ca); got.Version != full.Data.Version || got.Hash != full.Data.Hash {
		t.Fatalf("after NATS returned, B's device got v%d %s, A's holds v%d %s", got.Version, got.Hash, full.Data.Version, full.Data.Hash)
	}

	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := a.wait(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0:\n%s", code, a.logs)
	}
}
