package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/playwright-community/playwright-go"

	"github.com/cosmic-gardener/realtime/server/auth"
	"github.com/cosmic-gardener/realtime/shared/game"
)

// Scenario 1: first visit — dev login, the garden renders, the badge
// reaches open, the WASM is running, no console errors.
func TestFirstVisit(t *testing.T) {
	s := startServer(t, serverOptions{})
	d := newDevice(t, "device")
	d.openGame(s.URL(), "ada", "")
	if n, err := d.page.Locator(selGarden).Count(); err != nil || n != 1 {
		t.Fatalf("garden svg: %d %v", n, err)
	}
	start, err := d.page.Evaluate(`() => window.cosmicDebug.wasmStartMs`)
	if err != nil {
		t.Fatal(err)
	}
	if ms, ok := toFloat(start); !ok || ms <= 0 {
		t.Fatalf("wasm start time %v: the WASM module did not start", start)
	}
	st := d.state()
	srv := s.view("ada")
	if st.Version != srv.Version || st.Hash != srv.Hash {
		t.Fatalf("page state %+v, server version %d hash %s", st, srv.Version, srv.Hash)
	}
	if errs := d.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %q", errs)
	}
	// The sidebar's prices, lock and rates come from the core's quote and
	// rates (issue 12): a new garden grows 1 stardust and 0.5 energy a
	// second, and black_hole waits for its research by reason code.
	d.waitFor(`() => {
		const text = (sel) => document.querySelector(sel)?.textContent ?? '';
		return text('[data-testid="stardust-rate"]') === '+1.0/s' && text('[data-testid="energy-rate"]') === '+0.5/s' &&
			text('[data-testid="body-type-black_hole"] .pick-cost') === 'needs singularity theory' &&
			document.querySelector('[data-testid="body-type-black_hole"]')?.classList.contains('locked') &&
			/10/.test(text('[data-testid="body-type-asteroid"] .pick-cost'));
	}`, 5*time.Second, "sidebar prices and rates from the core")
	t.Logf("wasm start %v ms", start)
}

// Scenario 2: two devices of one player — a body created on one appears on
// the other within a second; their states are identical.
func TestTwoDevices(t *testing.T) {
	s := startServer(t, serverOptions{})
	a, b := newDevice(t, "a"), newDevice(t, "b")
	a.openGame(s.URL(), "bo", "")
	b.openGame(s.URL(), "bo", "")
	before := b.bodyCount()
	a.place("planet", 0.3, 0.4)
	a.waitBodies(before+1, 5*time.Second)
	start := time.Now()
	b.waitBodies(before+1, time.Second)
	t.Logf("visible on the other device after %s", time.Since(start))
	a.waitQueue(0, 5*time.Second)
	sa, sb := a.state(), b.state()
	if sa.Hash != sb.Hash || sa.Version != sb.Version || sa.Hash != s.view("bo").Hash {
		t.Fatalf("states differ: a %+v b %+v", sa, sb)
	}
}

// Scenario 3: connection drop — the proxy drops the socket, the badge shows
// reconnecting, the client reconnects with backoff, the session resumes and
// the state equals the server's.
func TestConnectionDrop(t *testing.T) {
	s := startServer(t, serverOptions{})
	p := startProxy(t, s.addr)
	d := newDevice(t, "device")
	d.openGame(p.URL(), "cy", "")
	d.place("moon", 0.5, 0.5)
	d.waitQueue(0, 5*time.Second)
	resumedBefore := metric(t, s, `cosmic_sessions_opened_total{resumed="true"}`)

	p.setRefuse(true) // keep it down long enough to see the state
	p.dropAll()
	d.waitState("reconnecting", 5*time.Second)
	p.setRefuse(false)
	d.waitState("open", 40*time.Second)

	if got := metric(t, s, `cosmic_sessions_opened_total{resumed="true"}`); got <= resumedBefore {
		t.Fatalf("session not resumed: resumed sessions %v → %v", resumedBefore, got)
	}
	d.place("comet", 0.6, 0.4)
	d.waitQueue(0, 5*time.Second)
	if st, srv := d.state(), s.view("cy"); st.Hash != srv.Hash {
		t.Fatalf("page %+v, server version %d hash %s", st, srv.Version, srv.Hash)
	}
}

// Scenario 4: offline — five bodies created offline show at once and are
// queued; back online the queue drains and the server applied each action
// exactly once.
func TestOffline(t *testing.T) {
	s := startServer(t, serverOptions{})
	a, b := newDevice(t, "a"), newDevice(t, "b")
	a.openGame(s.URL(), "di", "")
	b.openGame(s.URL(), "di", "")
	base := a.bodyCount()

	if err := a.ctx.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	a.waitState("offline", 5*time.Second)
	for i := range 5 {
		a.place("asteroid", 0.2+0.1*float64(i), 0.3)
	}
	if q := a.queueSize(); q != "5" {
		t.Fatalf("queue size %s, want 5", q)
	}
	a.waitBodies(base+5, time.Second)
	if b.bodyCount() != base {
		t.Fatal("the other device saw offline actions")
	}

	if err := a.ctx.SetOffline(false); err != nil {
		t.Fatal(err)
	}
	a.waitQueue(0, 20*time.Second)
	b.waitBodies(base+5, 5*time.Second)
	srv := s.view("di")
	if got := len(srv.State.Bodies); got != base+5 {
		t.Fatalf("server holds %d bodies, want %d: each action exactly once", got, base+5)
	}
	if a.state().Hash != srv.Hash || b.state().Hash != srv.Hash {
		t.Fatalf("devices diverge from the server")
	}
}

// Scenario 5: reload while offline — queued actions survive a reload and
// replay. The WebSocket is blocked (the page itself still loads).
func TestReloadWhileOffline(t *testing.T) {
	s := startServer(t, serverOptions{})
	d := newDevice(t, "device")
	var blocked atomic.Bool
	err := d.ctx.RouteWebSocket(regexp.MustCompile(`/api/ws`), func(ws playwright.WebSocketRoute) {
		if blocked.Load() {
			ws.Close(playwright.WebSocketRouteCloseOptions{Code: playwright.Int(1006), Reason: playwright.String("blocked by test")})
			return
		}
		if _, err := ws.ConnectToServer(); err != nil {
			t.Errorf("connect to server: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	d.openGame(s.URL(), "eve", "")
	base := d.bodyCount()

	blocked.Store(true)
	if err := d.ctx.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	d.waitState("offline", 5*time.Second)
	for i := range 3 {
		d.place("planet", 0.3+0.1*float64(i), 0.6)
	}
	d.waitQueue(3, 2*time.Second)
	if err := d.ctx.SetOffline(false); err != nil {
		t.Fatal(err)
	}
	// Reload while the socket still cannot connect.
	if _, err := d.page.Reload(); err != nil {
		t.Fatal(err)
	}
	d.waitQueue(3, 10*time.Second)
	d.waitBodies(base+3, 5*time.Second)
	if got := len(s.view("eve").State.Bodies); got != base {
		t.Fatalf("server has %d bodies before replay, want %d", got, base)
	}
	blocked.Store(false)
	d.waitQueue(0, 40*time.Second)
	srv := s.view("eve")
	if got := len(srv.State.Bodies); got != base+3 {
		t.Fatalf("server holds %d bodies after replay, want %d", got, base+3)
	}
	if d.state().Hash != srv.Hash {
		t.Fatal("page diverges from the server after replay")
	}
}

// Scenario 6: server restart — kill -9, start again on the same DB; the
// clients reconnect by themselves and nothing acknowledged is lost.
func TestServerRestart(t *testing.T) {
	s := startServer(t, serverOptions{})
	a, b := newDevice(t, "a"), newDevice(t, "b")
	a.openGame(s.URL(), "fay", "")
	b.openGame(s.URL(), "fay", "")
	for i := range 4 {
		a.place("star", 0.2+0.15*float64(i), 0.5)
	}
	a.waitQueue(0, 10*time.Second)
	acked := s.view("fay")

	s.kill9()
	a.waitState("reconnecting", 10*time.Second)
	s.restart()
	a.waitState("open", 40*time.Second)
	b.waitState("open", 40*time.Second)

	after := s.view("fay")
	for id := range acked.State.Bodies {
		if _, ok := after.State.Bodies[id]; !ok {
			t.Errorf("acknowledged body %s lost in the restart", id)
		}
	}
	if after.Hash != acked.Hash {
		t.Errorf("state changed across the restart: %s → %s", acked.Hash, after.Hash)
	}
	a.waitFor(`() => window.cosmicDebug.state().hash === '`+after.Hash+`'`, 10*time.Second, "device a converged")
	b.waitFor(`() => window.cosmicDebug.state().hash === '`+after.Hash+`'`, 10*time.Second, "device b converged")
}

// Scenario 7: dead link — the proxy stops forwarding without closing; the
// client notices through the heartbeat and reconnects.
func TestDeadLink(t *testing.T) {
	s := startServer(t, serverOptions{Heartbeat: time.Second})
	p := startProxy(t, s.addr)
	d := newDevice(t, "device")
	d.openGame(p.URL(), "gus", "")
	p.pauseAll()
	d.waitState("reconnecting", 10*time.Second)
	d.waitState("open", 30*time.Second)
	d.place("nebula", 0.4, 0.4)
	d.waitQueue(0, 5*time.Second)
	s.requireConverged(t, "gus", d)
}

// Scenario 8a: an expired token leads to one fresh token and a reconnect,
// not a retry loop.
func TestExpiredToken(t *testing.T) {
	s := startServer(t, serverOptions{})
	d := newDevice(t, "device")
	d.openGame(s.URL(), "hal", "")
	d.place("moon", 0.5, 0.5)
	d.waitQueue(0, 5*time.Second)

	// Replace the stored token with one that expired an hour ago and
	// reload: the first connection is refused with 4401 auth_expired.
	issuer, err := auth.NewIssuer([]byte(auth.DevSecret), func() time.Time { return time.Now().Add(-2 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	expired, err := issuer.Issue("hal", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.page.Evaluate(`(tok) => window.cosmicDebug.setToken(tok)`, expired); err != nil {
		t.Fatal(err)
	}
	refusedBefore := metric(t, s, `cosmic_auth_refused_total{code="auth_expired"}`)
	if _, err := d.page.Reload(); err != nil {
		t.Fatal(err)
	}
	d.waitState("open", 20*time.Second)
	refused := metric(t, s, `cosmic_auth_refused_total{code="auth_expired"}`) - refusedBefore
	if refused != 1 {
		t.Fatalf("%v connections refused as expired, want exactly 1 (then a fresh token)", refused)
	}
	s.requireConverged(t, "hal", d)
}

// Scenario 8b: an action the server rejects shows an error toast and its
// optimistic change rolls back. Another device (a raw client) empties the
// garden's resources while this one is offline, so the offline prediction
// accepts what the server then refuses.
func TestServerRejectionRollsBack(t *testing.T) {
	s := startServer(t, serverOptions{})
	d := newDevice(t, "device")
	d.openGame(s.URL(), "ivy", "")
	base := d.bodyCount()
	if err := d.ctx.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	d.waitState("offline", 5*time.Second)

	poor := s.view("ivy").State
	poor.Resources = game.Resources{}
	s.saveGame(t, "ivy", poor)

	d.place("star", 0.5, 0.5)
	d.waitBodies(base+1, 2*time.Second)
	if err := d.ctx.SetOffline(false); err != nil {
		t.Fatal(err)
	}
	d.waitFor(`() => [...document.querySelectorAll('`+selToast+`.error')].some(e => /resources/i.test(e.textContent))`,
		20*time.Second, "an error toast about resources")
	d.waitQueue(0, 5*time.Second)
	d.waitBodies(base, 5*time.Second)
	s.requireConverged(t, "ivy", d)
}

// Scenario 9: max retries — with the server down for good the badge ends at
// failed, with a retry button that works once the server is back.
func TestMaxRetries(t *testing.T) {
	s := startServer(t, serverOptions{})
	p := startProxy(t, s.addr)
	d := newDevice(t, "device")
	d.openGame(p.URL(), "jo", "maxRetries=3&backoffCapMs=800")
	p.setRefuse(true)
	p.dropAll()
	d.waitState("failed", 30*time.Second)
	if n, err := d.page.Locator(selRetry).Count(); err != nil || n == 0 {
		t.Fatalf("no retry button when failed: %v", err)
	}
	p.setRefuse(false)
	if err := d.page.Locator(selRetry).Click(); err != nil {
		t.Fatal(err)
	}
	d.waitState("open", 20*time.Second)
}

// saveGame replaces user's garden through a raw WebSocket client with an
// operator's token, which a SaveGame with a state needs.
func (s *server) saveGame(t *testing.T, user string, st *game.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/api/ws?token="+s.operatorToken(user), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(8 << 20)
	msg, _ := json.Marshal(map[string]any{"type": "SaveGame", "id": "test-save-" + strconv.FormatInt(time.Now().UnixNano(), 36), "data": map[string]any{"state": st}})
	if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	for {
		_, frame, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("save game: %v", err)
		}
		if strings.Contains(string(frame), `"ActionResult"`) {
			if !strings.Contains(string(frame), `"success":true`) {
				t.Fatalf("save game refused: %s", frame)
			}
			return
		}
	}
}

// metric reads one sample from the server's /metrics (0 when absent).
func metric(t *testing.T, s *server, series string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}
