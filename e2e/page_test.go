package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/playwright-community/playwright-go"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// Selectors of the game page (web/static/index.html).
const (
	selBadge   = `[data-testid="connection-state"]`
	selQueue   = `[data-testid="queue-size"]`
	selGarden  = `[data-testid="garden"]`
	selToast   = `[data-testid="toast"]`
	selRetry   = `[data-testid="retry"]`
	selUser    = `[data-testid="login-user"]`
	selSubmit  = `[data-testid="login-submit"]`
	selBodyAny = `[data-body-id]`
)

// openGame loads the page at base (with an optional query), logs user in
// and waits for the connection to open.
func (d *device) openGame(base, user, query string) {
	d.t.Helper()
	url := base + "/"
	if query != "" {
		url += "?" + query
	}
	if _, err := d.page.Goto(url); err != nil {
		d.t.Fatalf("%s: goto: %v", d.name, err)
	}
	if err := d.page.Locator(selUser).Fill(user); err != nil {
		d.t.Fatalf("%s: login form: %v", d.name, err)
	}
	if err := d.page.Locator(selSubmit).Click(); err != nil {
		d.t.Fatalf("%s: login: %v", d.name, err)
	}
	d.waitState("open", 15*time.Second)
}

// connState returns the badge's data-state.
func (d *device) connState() string {
	d.t.Helper()
	s, err := d.page.Locator(selBadge).GetAttribute("data-state")
	if err != nil {
		d.t.Fatalf("%s: badge: %v", d.name, err)
	}
	return s
}

// waitState waits until the badge shows state.
func (d *device) waitState(state string, timeout time.Duration) {
	d.t.Helper()
	d.waitFor(fmt.Sprintf(`() => document.querySelector('%s')?.dataset.state === %q`, selBadge, state), timeout,
		"connection state "+state)
}

// waitFor polls a JS predicate until it is true. It polls from here with
// Evaluate, every 20 ms, instead of page.WaitForFunction: Playwright's
// in-page polling compiles the predicate with eval, which the page's
// Content-Security-Policy (script-src without 'unsafe-eval') refuses,
// while Evaluate goes through the DevTools protocol, which CSP does not
// govern. An evaluation that fails (the page is navigating) counts as
// false.
func (d *device) waitFor(expr string, timeout time.Duration, what string) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := d.page.Evaluate(expr)
		if err == nil && v == true {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: waiting for %s: not true after %s (last error %v) (badge %q)", d.name, what, timeout, err, d.badgeText())
		}
		<-tick.C
	}
}

func (d *device) badgeText() string {
	s, _ := d.page.Locator(selBadge).TextContent(playwright.LocatorTextContentOptions{Timeout: playwright.Float(1000)})
	return s
}

// queueSize returns the pending-action count shown.
func (d *device) queueSize() string {
	d.t.Helper()
	s, err := d.page.Locator(selQueue).TextContent()
	if err != nil {
		d.t.Fatalf("%s: queue size: %v", d.name, err)
	}
	return strings.TrimSpace(s)
}

// waitQueue waits until the queue size shows n.
func (d *device) waitQueue(n int, timeout time.Duration) {
	d.t.Helper()
	d.waitFor(fmt.Sprintf(`() => document.querySelector('%s')?.textContent.trim() === '%d'`, selQueue, n), timeout,
		fmt.Sprintf("queue size %d", n))
}

// pageState is window.cosmicDebug.state().
type pageState struct {
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
	Bodies  int    `json:"bodies"`
	Queue   int    `json:"queue"`
}

func (d *device) state() pageState {
	d.t.Helper()
	v, err := d.page.Evaluate(`() => JSON.stringify(window.cosmicDebug.state())`)
	if err != nil {
		d.t.Fatalf("%s: debug state: %v", d.name, err)
	}
	var s pageState
	if err := json.Unmarshal([]byte(v.(string)), &s); err != nil {
		d.t.Fatalf("%s: debug state %v: %v", d.name, v, err)
	}
	return s
}

// bodyCount returns how many bodies the garden shows.
func (d *device) bodyCount() int {
	d.t.Helper()
	n, err := d.page.Locator(selBodyAny).Count()
	if err != nil {
		d.t.Fatalf("%s: count bodies: %v", d.name, err)
	}
	return n
}

// waitBodies waits until the garden shows n bodies.
func (d *device) waitBodies(n int, timeout time.Duration) {
	d.t.Helper()
	d.waitFor(fmt.Sprintf(`() => document.querySelectorAll('%s').length === %d`, selBodyAny, n), timeout,
		fmt.Sprintf("%d bodies", n))
}

// place selects bodyType and clicks the garden at fractions (fx, fy) of its
// box, creating a body there.
func (d *device) place(bodyType string, fx, fy float64) {
	d.t.Helper()
	if err := d.page.Locator(fmt.Sprintf(`[data-testid="body-type-%s"]`, bodyType)).Click(); err != nil {
		d.t.Fatalf("%s: pick %s: %v", d.name, bodyType, err)
	}
	box, err := d.page.Locator(selGarden).BoundingBox()
	if err != nil || box == nil {
		d.t.Fatalf("%s: garden box: %v", d.name, err)
	}
	if err := d.page.Mouse().Click(box.X+box.Width*fx, box.Y+box.Height*fy); err != nil {
		d.t.Fatalf("%s: click garden: %v", d.name, err)
	}
}

// serverView is the server's own state of a garden, read over a real
// WebSocket.
type serverView struct {
	Version uint64
	Hash    string
	State   *game.State
}

func (s *server) view(user string) serverView {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/api/ws?token="+s.token(user), nil)
	if err != nil {
		s.t.Fatalf("dial server: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(8 << 20)
	for {
		_, frame, err := conn.Read(ctx)
		if err != nil {
			s.t.Fatalf("read server state: %v", err)
		}
		env, msg, err := protocol.DecodeServer(frame)
		if err != nil {
			s.t.Fatalf("decode %s: %v", frame, err)
		}
		if env.Type != protocol.TypeStateUpdate {
			continue
		}
		up := msg.(protocol.StateUpdate)
		st, err := game.Decode(up.Data.State)
		if err != nil {
			s.t.Fatal(err)
		}
		_ = conn.Close(websocket.StatusNormalClosure, "")
		return serverView{Version: up.Data.Version, Hash: up.Data.Hash, State: st}
	}
}

// requireConverged fails the test unless every device holds exactly the
// server's own state of user's garden.
func (s *server) requireConverged(t *testing.T, user string, devices ...*device) {
	t.Helper()
	want := s.view(user)
	for _, d := range devices {
		if got := d.state(); got.Hash != want.Hash {
			t.Fatalf("%s holds version %d hash %s; the server has version %d hash %s", d.name, got.Version, got.Hash, want.Version, want.Hash)
		}
	}
}
