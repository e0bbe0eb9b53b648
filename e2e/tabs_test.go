package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"
)

// Tabs of one browser are pages of one browser context: they share
// localStorage, IndexedDB, Web Locks and BroadcastChannel, as real tabs do.

// newTab opens another page in d's context (another tab of the same
// browser) and watches its console like newDevice does.
func (d *device) newTab(name string) *device {
	d.t.Helper()
	page, err := d.ctx.NewPage()
	if err != nil {
		d.t.Fatalf("new tab: %v", err)
	}
	return d.adoptPage(name, page)
}

// adoptPage wraps a page of d's context (a popup, a new tab) as a device.
func (d *device) adoptPage(name string, page playwright.Page) *device {
	t := d.t
	tab := &device{t: t, name: name, ctx: d.ctx, page: page}
	page.On("console", func(m playwright.ConsoleMessage) {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		tab.console = append(tab.console, fmt.Sprintf("%s [%s] %s", time.Now().Format("15:04:05.000"), m.Type(), m.Text()))
		if m.Type() == "error" {
			tab.errors = append(tab.errors, m.Text())
		}
	})
	t.Cleanup(func() {
		if t.Failed() && !page.IsClosed() {
			if png, err := page.Screenshot(playwright.PageScreenshotOptions{FullPage: playwright.Bool(true)}); err == nil {
				saveArtifact(t, name+".png", png)
			}
			tab.mu.Lock()
			saveArtifact(t, name+"-console.log", []byte(strings.Join(tab.console, "\n")+"\n"))
			tab.mu.Unlock()
		}
	})
	return tab
}

// pendingBodyIDs returns the ids of the bodies this page draws as pending
// (its own queue's and, with BroadcastChannel, other tabs').
func (d *device) pendingBodyIDs() []string {
	d.t.Helper()
	v, err := d.page.Evaluate(`() => JSON.stringify([...document.querySelectorAll('[data-body-id].pending')].map(e => e.dataset.bodyId))`)
	if err != nil {
		d.t.Fatalf("%s: pending bodies: %v", d.name, err)
	}
	var ids []string
	if err := json.Unmarshal([]byte(v.(string)), &ids); err != nil {
		d.t.Fatal(err)
	}
	return ids
}

// waitServerBodies polls the server's own state until user's garden holds
// n bodies, and returns it.
func (s *server) waitServerBodies(t *testing.T, user string, n int, timeout time.Duration) serverView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := s.view(user)
		if len(v.State.Bodies) == n {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d bodies after %s, want %d", len(v.State.Bodies), timeout, n)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// Issue 11.1: one player, two tabs of one browser, both offline, three
// actions each; one tab is closed before the network returns. The open tab
// adopts the closed tab's queue (IndexedDB, Web Locks) and the server
// applies all six actions exactly once. Before the network returns each tab
// also draws the other's pending actions (BroadcastChannel).
func TestTwoTabsOfflineOneClosed(t *testing.T) {
	s := startServer(t, serverOptions{})
	a := newDevice(t, "tab-a")
	a.openGame(s.URL(), "kim", "")
	b := a.newTab("tab-b")
	if _, err := b.page.Goto(s.URL() + "/"); err != nil {
		t.Fatal(err)
	}
	b.waitState("open", 15*time.Second) // signed in by the shared localStorage
	for _, d := range []*device{a, b} {
		if v, err := d.page.Evaluate(`() => window.cosmicDebug.tab().store`); err != nil || v != "indexeddb" {
			t.Fatalf("%s keeps its queue in %v (%v), want indexeddb", d.name, v, err)
		}
	}
	base := a.bodyCount()

	if err := a.ctx.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	a.waitState("offline", 5*time.Second)
	b.waitState("offline", 5*time.Second)
	for i := range 3 {
		a.place("asteroid", 0.2+0.1*float64(i), 0.3)
		b.place("asteroid", 0.2+0.1*float64(i), 0.7)
	}
	a.waitQueue(3, 2*time.Second)
	b.waitQueue(3, 2*time.Second)
	// Each tab draws all six: its own three and the other tab's.
	a.waitBodies(base+6, 5*time.Second)
	b.waitBodies(base+6, 5*time.Second)
	want := b.pendingBodyIDs()
	if len(want) != 6 {
		t.Fatalf("tab b draws %d pending bodies, want 6: %q", len(want), want)
	}

	if err := b.page.Close(playwright.PageCloseOptions{RunBeforeUnload: playwright.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	// The closed tab's lock is released: tab a adopts its three actions.
	a.waitQueue(6, 10*time.Second)
	if err := a.ctx.SetOffline(false); err != nil {
		t.Fatal(err)
	}
	a.waitQueue(0, 30*time.Second)
	srv := s.waitServerBodies(t, "kim", base+6, 10*time.Second)
	for _, id := range want {
		if _, ok := srv.State.Bodies[id]; !ok {
			t.Errorf("body %s, queued offline, never reached the server", id)
		}
	}
	s.requireConverged(t, "kim", a)
	if errs := a.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %q", errs)
	}
}

// newBodies returns the ids of v's bodies not in known.
func newBodies[B any](v serverView, known map[string]B) []string {
	var ids []string
	for id := range v.State.Bodies {
		if _, ok := known[id]; !ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// recordStates makes the page log every change of the badge's data-state
// into window.__states, from the moment the document exists (an init
// script) or from now (evaluate).
const recordStates = `(() => {
  if (window.__states) return;
  window.__states = [];
  const watch = () => {
    const el = document.querySelector('[data-testid="connection-state"]');
    if (!el) return false;
    let last = el.dataset.state;
    window.__states.push(last);
    new MutationObserver(() => {
      if (el.dataset.state !== last) { last = el.dataset.state; window.__states.push(last); }
    }).observe(el, { attributes: true, attributeFilter: ['data-state'] });
    return true;
  };
  if (!watch()) document.addEventListener('DOMContentLoaded', watch);
})()`

// statesSeen returns the badge states recorded by recordStates.
func (d *device) statesSeen() []string {
	d.t.Helper()
	v, err := d.page.Evaluate(`() => JSON.stringify(window.__states ?? null)`)
	if err != nil {
		d.t.Fatalf("%s: states: %v", d.name, err)
	}
	var states []string
	if err := json.Unmarshal([]byte(v.(string)), &states); err != nil {
		d.t.Fatal(err)
	}
	return states
}

// Issue 11.2: a duplicated tab gets a copy of sessionStorage, hence the
// original's session id. It must start a session of its own instead of
// taking the original's over: both tabs stay open, neither fights the
// other with 4409, and both follow the server.
func TestDuplicatedTab(t *testing.T) {
	s := startServer(t, serverOptions{})
	a := newDevice(t, "original")
	a.openGame(s.URL(), "lou", "")
	a.place("moon", 0.4, 0.4)
	a.waitQueue(0, 5*time.Second)
	if _, err := a.page.Evaluate(`() => ` + recordStates); err != nil {
		t.Fatal(err)
	}
	const sessions = `() => JSON.stringify(Object.entries(sessionStorage).filter(([k]) => k.endsWith('cosmic.conn.session')).map(([k, v]) => k + '=' + JSON.parse(v || '{}').session_id))`
	var origSessions, copiedSessions []string
	orig, err := a.page.Evaluate(sessions)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(orig.(string)), &origSessions); err != nil || len(origSessions) != 1 {
		t.Fatalf("the original keeps sessions %q (%v), want one", origSessions, err)
	}
	// A same-origin window.open copies the opener's sessionStorage
	// (HTML: "copy the session storage"), like the browser's "duplicate
	// tab": the copy holds the original's tab id and session.
	popup, err := a.page.ExpectPopup(func() error {
		_, err := a.page.Evaluate(`() => { window.open(location.href, '_blank'); }`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b := a.adoptPage("duplicate", popup)
	b.waitState("open", 15*time.Second)
	copied, err := b.page.Evaluate(sessions)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(copied.(string)), &copiedSessions); err != nil {
		t.Fatal(err)
	}
	// Proof that the popup really is a duplicate: it received the
	// original's session entry (and, fixed, kept it unused under the
	// original's tab id).
	if !slices.Contains(copiedSessions, origSessions[0]) {
		t.Fatalf("the duplicate's sessionStorage holds %q, not the original's %q: not a faithful duplicate", copiedSessions, origSessions)
	}
	t.Logf("original session %q; the duplicate holds %q", origSessions, copiedSessions)
	if _, err := b.page.Evaluate(`() => ` + recordStates); err != nil {
		t.Fatal(err)
	}

	// Both must now hold open for a sustained period, through traffic.
	known := s.view("lou").State.Bodies
	a.place("planet", 0.6, 0.3)
	a.waitQueue(0, 10*time.Second)
	// The original placed the planet alone: the server's one new body.
	placed := newBodies(s.waitServerBodies(t, "lou", len(known)+1, 5*time.Second), known)
	before := a.bodyCount()
	b.waitBodies(before, 5*time.Second)
	b.place("comet", 0.3, 0.6)
	b.waitQueue(0, 10*time.Second)
	a.waitBodies(before+1, 5*time.Second)
	hold := time.Now().Add(3 * time.Second)
	for time.Now().Before(hold) {
		if sa, sb := a.connState(), b.connState(); sa != "open" || sb != "open" {
			t.Fatalf("original %q, duplicate %q: both must stay open", sa, sb)
		}
		time.Sleep(100 * time.Millisecond) // sampling interval of the hold
	}
	if got := a.statesSeen(); len(got) != 1 || got[0] != "open" {
		t.Errorf("the original's states after the duplicate opened: %q, want only open", got)
	}
	if got := b.statesSeen(); len(got) != 1 || got[0] != "open" {
		t.Errorf("the duplicate's states once open: %q, want only open", got)
	}
	s.waitServerBodies(t, "lou", before+1, 5*time.Second)
	if len(placed) != 1 {
		t.Errorf("the server gained bodies %q from the original's planet, want one", placed)
	}
	if n := metric(t, s, "cosmic_session_takeovers_total"); n != 0 {
		t.Errorf("%v session takeovers (4409), want none", n)
	}
	s.requireConverged(t, "lou", a, b)
}

// Without Web Locks a duplicated tab cannot tell it is one and resumes the
// original's session, which takes it over (4409). The original must not
// fight back by resuming that session: it starts a new one, once, and both
// tabs end open and in sync.
func TestDuplicatedTabWithoutWebLocks(t *testing.T) {
	s := startServer(t, serverOptions{})
	a := newDevice(t, "original")
	err := a.ctx.AddInitScript(playwright.Script{Content: playwright.String(
		`Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });`)})
	if err != nil {
		t.Fatal(err)
	}
	a.openGame(s.URL(), "mia", "")
	if _, err := a.page.Evaluate(`() => ` + recordStates); err != nil {
		t.Fatal(err)
	}
	popup, err := a.page.ExpectPopup(func() error {
		_, err := a.page.Evaluate(`() => { window.open(location.href, '_blank'); }`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b := a.adoptPage("duplicate", popup)
	b.waitState("open", 15*time.Second)
	a.waitFor(`() => window.__states.length > 1 && document.querySelector('[data-testid="connection-state"]').dataset.state === 'open'`,
		15*time.Second, "the original taken over, then open again on a new session")
	if _, err := b.page.Evaluate(`() => ` + recordStates); err != nil {
		t.Fatal(err)
	}
	known := s.view("mia").State.Bodies
	a.place("planet", 0.6, 0.3)
	a.waitQueue(0, 10*time.Second)
	if placed := newBodies(s.waitServerBodies(t, "mia", len(known)+1, 5*time.Second), known); len(placed) != 1 {
		t.Errorf("the server gained bodies %q from the original's planet, want one", placed)
	}
	b.waitBodies(a.bodyCount(), 5*time.Second)
	hold := time.Now().Add(3 * time.Second)
	for time.Now().Before(hold) {
		if sa, sb := a.connState(), b.connState(); sa != "open" || sb != "open" {
			t.Fatalf("original %q, duplicate %q: both must stay open", sa, sb)
		}
		time.Sleep(100 * time.Millisecond) // sampling interval of the hold
	}
	if n := metric(t, s, "cosmic_session_takeovers_total"); n != 1 {
		t.Errorf("%v session takeovers, want exactly the duplicate's one: the original must not take its session back", n)
	}
	if got := b.statesSeen(); len(got) != 1 || got[0] != "open" {
		t.Errorf("the duplicate's states once open: %q, want only open", got)
	}
	t.Logf("the original's states: %q", a.statesSeen())
	s.requireConverged(t, "mia", a, b)
}

// Without IndexedDB the queue falls back to a localStorage key of the
// tab's own, and the page says so.
func TestNoIndexedDB(t *testing.T) {
	s := startServer(t, serverOptions{})
	d := newDevice(t, "device")
	err := d.ctx.AddInitScript(playwright.Script{Content: playwright.String(
		`Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });`)})
	if err != nil {
		t.Fatal(err)
	}
	d.openGame(s.URL(), "max", "")
	d.waitFor(`() => document.querySelector('[data-testid="storage-note"]')?.hidden === false`, 5*time.Second, "the localStorage note")
	base := d.bodyCount()
	if err := d.ctx.SetOffline(true); err != nil {
		t.Fatal(err)
	}
	d.waitState("offline", 5*time.Second)
	d.place("asteroid", 0.3, 0.3)
	d.place("asteroid", 0.6, 0.3)
	d.waitQueue(2, 2*time.Second)
	// The record sits under this tab's own key, holding both actions.
	d.waitFor(`() => {
	  const tab = window.cosmicDebug.tab();
	  if (tab.store !== 'localstorage') return false;
	  const rec = JSON.parse(localStorage.getItem('cosmic.queue.v2.max/' + tab.id) || 'null');
	  return rec !== null && (JSON.parse(rec.queue).pending || []).length === 2;
	}`, 5*time.Second, "the queue in localStorage under the tab's key")
	if err := d.ctx.SetOffline(false); err != nil {
		t.Fatal(err)
	}
	d.waitQueue(0, 30*time.Second)
	s.waitServerBodies(t, "max", base+2, 10*time.Second)
	s.requireConverged(t, "max", d)
}
