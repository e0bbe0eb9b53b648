package app_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// openAndDrop connects, reads the Welcome (and, when full, the first
// state), then drops the socket without a close handshake. It does not
// touch t, so that it may run on any goroutine.
func openAndDrop(client *http.Client, url string, full bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	want := []string{protocol.TypeWelcome}
	if full {
		want = append(want, protocol.TypeStateUpdate)
	}
	for _, typ := range want {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return fmt.Errorf("read %s: %w", typ, err)
		}
		env, err := protocol.DecodeEnvelope(b)
		if err != nil || env.Type != typ {
			return fmt.Errorf("got %s (%v), want %s", b, err, typ)
		}
	}
	return nil
}

// eventually polls cond every 10 ms until it holds, failing the test with
// what() after d. In a synctest bubble the ticks are fake time and each
// check sees every goroutine parked; outside one it is for state the
// server reports no event of (readyz after the store's probe).
func eventually(t *testing.T, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(d); !cond(); <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what())
		}
	}
}

// TestDroppedConnectionsLeakNothing opens and abruptly drops 1 000
// connections; goroutines return to the baseline, and once the sessions'
// retention has passed the sweeper frees every session and garden.
func TestDroppedConnectionsLeakNothing(t *testing.T) {
	// In a synctest bubble over pipes: eventually's ticks are fake time,
	// which moves only once every goroutine is parked, so each check sees
	// the server at rest; retention and sweeps take no real time.
	synctest.Test(t, func(t *testing.T) {
		s := wstest.StartWith(t, wstest.Options{Pipe: true, Config: func(c *config.Config) {
			c.HeartbeatInterval = 400 * time.Millisecond // sweeps every 100 ms
			c.SessionRetention = 300 * time.Millisecond
		}})
		const total, batch, users = 1000, 100, 40
		urls := make([]string, users)
		for i := range urls {
			urls[i] = s.WSURL("token=" + s.Token(fmt.Sprintf("leak-%d", i), time.Hour))
		}
		// Warm up (lazily started pools and timers), then take the baseline.
		if err := openAndDrop(s.Client, urls[0], true); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() bool { return s.App.Gardens().Loaded() == 0 }, func() string { return "warm-up garden still loaded" })
		// Idle workers (server/ws) outlive connections; there are at most
		// 1 024, however many connections came and went, so they are not
		// counted.
		goroutines := func() int { return runtime.NumGoroutine() - s.App.WS().IdleWorkers() }
		baseline := goroutines()

		peak := 0
		for start := 0; start < total; start += batch {
			var wg sync.WaitGroup
			errs := make([]error, batch)
			for i := range batch {
				n := start + i
				wg.Go(func() { errs[i] = openAndDrop(s.Client, urls[n%users], n%2 == 0) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("connection %d: %v", start+i, err)
				}
			}
			peak = max(peak, s.App.Sessions().Count())
		}
		if peak == 0 {
			t.Fatal("no session was ever open")
		}

		eventually(t, 20*time.Second, func() bool {
			return s.App.WS().Connections() == 0 && goroutines() <= baseline
		}, func() string {
			buf := make([]byte, 1<<20)
			return fmt.Sprintf("%d connections, %d goroutines besides %d idle workers, baseline %d:\n%s",
				s.App.WS().Connections(), goroutines(), s.App.WS().IdleWorkers(), baseline, buf[:runtime.Stack(buf, true)])
		})
		eventually(t, 20*time.Second, func() bool {
			return s.App.Sessions().Count() == 0 && s.App.Gardens().Loaded() == 0
		}, func() string {
			return fmt.Sprintf("%d sessions, %d gardens loaded", s.App.Sessions().Count(), s.App.Gardens().Loaded())
		})
	})
}
