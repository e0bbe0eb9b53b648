package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/tools/cluster"
)

// devcluster is what `make run-cluster` runs (tools/cluster), in this
// process: a throw-away PostgreSQL, NATS, three cosmic-server processes and
// the load balancer with its sticky cookie, as tools/devcluster sets it.
type devcluster struct {
	t   *testing.T
	c   *cluster.Cluster
	log *lockedBuffer
	url string // the load balancer's http:// URL
}

// startDevcluster starts the cluster with the load balancer on a free
// port. Outside E2E=1 missing PostgreSQL skips the test, like the suite's
// other prerequisites; under E2E=1 it fails.
func startDevcluster(t *testing.T) *devcluster {
	t.Helper()
	requireBrowser(t)
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) == 0 {
		const missing = "missing PostgreSQL (make pg-deps)"
		if os.Getenv("E2E") == "1" {
			t.Fatalf("e2e: %s (E2E=1 requires it; run `make test-e2e`)", missing)
		}
		t.Skip("e2e: " + missing)
	}
	d := &devcluster{t: t, log: &lockedBuffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	d.c, err = cluster.Start(ctx, cluster.Config{Addr: "127.0.0.1:0", Nodes: 3, Bin: serverBin,
		WebDir: filepath.Join(repoRoot, "web", "dist"), NodeLog: d.log, StickyCookie: "cosmic_node",
		// A lost bus message is repaired within half a second
		// (docs/operations.md, Cross-node fan-out).
		Env: []string{"RECONCILE_INTERVAL=500ms", "LOG_LEVEL=debug"}})
	if err != nil {
		t.Fatalf("start the cluster: %v\n%s", err, d.log.String())
	}
	d.url = d.c.URL()
	t.Cleanup(func() {
		if err := d.c.Stop(); err != nil {
			t.Errorf("stop the cluster: %v", err)
		}
		if t.Failed() {
			saveArtifact(t, "cluster.log", []byte(d.log.String()))
		}
	})
	return d
}

// view reads user's garden through the load balancer, as a new device:
// its version and hash.
func (c *devcluster) view(user string) (uint64, string) {
	c.t.Helper()
	resp, err := http.Post(c.url+"/api/auth/dev-login", "application/json", strings.NewReader(fmt.Sprintf(`{"user":%q}`, user)))
	if err != nil {
		c.t.Fatal(err)
	}
	var login struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&login)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || login.Token == "" {
		c.t.Fatalf("dev-login through the load balancer: %d %v", resp.StatusCode, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.url, "http")+"/api/ws?token="+login.Token, nil)
	if err != nil {
		c.t.Fatalf("dial through the load balancer: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(8 << 20)
	for {
		_, frame, err := conn.Read(ctx)
		if err != nil {
			c.t.Fatalf("read the state: %v", err)
		}
		env, msg, err := protocol.DecodeServer(frame)
		if err != nil {
			c.t.Fatalf("decode %s: %v", frame, err)
		}
		if env.Type == protocol.TypeStateUpdate {
			up := msg.(protocol.StateUpdate)
			_ = conn.Close(websocket.StatusNormalClosure, "")
			return up.Data.Version, up.Data.Hash
		}
	}
}

var servedBy = regexp.MustCompile(`served by (node-\d+)`)

// node returns the node the page's footer names, waiting for it.
func (d *device) node() string {
	d.t.Helper()
	d.waitFor(`() => /served by node-\d+/.test(document.querySelector('[data-testid="footnote"]')?.textContent ?? '')`,
		10*time.Second, "the footer to name the node")
	text, err := d.page.Locator(`[data-testid="footnote"]`).TextContent()
	if err != nil {
		d.t.Fatalf("%s: footer: %v", d.name, err)
	}
	return servedBy.FindStringSubmatch(text)[1]
}

// Scenario: two pages of one player on different nodes of the cluster
// `make run-cluster` runs, through its load balancer; the node of one page is killed
// (kill -9) while that page places a body: the page reconnects through the
// load balancer to another node (its footer says which), its body is
// applied once, and both pages end equal to the server, with every body.
func TestClusterNodeKilled(t *testing.T) {
	c := startDevcluster(t)
	a, b := newDevice(t, "a"), newDevice(t, "b")
	a.openGame(c.url, "gus", "")
	b.openGame(c.url, "gus", "")
	na, nb := a.node(), b.node()
	if na == nb {
		t.Fatalf("both pages on %s: the load balancer should spread two browsers", na)
	}
	base := a.bodyCount()
	a.place("planet", 0.3, 0.4)
	start := time.Now()
	b.waitBodies(base+1, 5*time.Second)
	t.Logf("a's body (on %s) visible on b (on %s) after %s", na, nb, time.Since(start))

	if err := c.c.Kill(nb); err != nil { // SIGKILL
		t.Fatal(err)
	}
	killed := time.Now()
	b.place("moon", 0.6, 0.5) // sent into the dying connection, or queued
	b.waitState("open", 20*time.Second)
	b.waitFor(fmt.Sprintf(`() => { const t = document.querySelector('[data-testid="footnote"]')?.textContent ?? '';
		return /served by node-\d+/.test(t) && !t.includes('served by %s'); }`, nb), 20*time.Second, "the footer to name another node")
	moved := b.node()
	b.waitQueue(0, 20*time.Second)
	t.Logf("b moved from %s to %s; its queue drained %s after the kill", nb, moved, time.Since(killed))

	a.place("comet", 0.5, 0.6)
	a.waitQueue(0, 10*time.Second)
	for _, d := range []*device{a, b} {
		d.waitBodies(base+3, 10*time.Second)
	}
	// Equal to the server: the garden read afresh through the load
	// balancer (any node), and both pages at its version and hash. The
	// pages hold it once the last update reached them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, h := c.view("gus")
		sa, sb := a.state(), b.state()
		if sa.Hash == h && sb.Hash == h && sa.Version == v && sb.Version == v {
			if sa.Bodies != base+3 {
				t.Fatalf("the garden holds %d bodies, want %d (each placement once)", sa.Bodies, base+3)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pages not equal to the server: a %+v, b %+v, server version %d hash %s", sa, sb, v, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range []*device{a, b} {
		for _, e := range d.consoleErrors() {
			if strings.HasPrefix(e, "pageerror:") {
				t.Errorf("%s: %s", d.name, e)
			}
		}
	}
}
