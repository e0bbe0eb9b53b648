package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/tools/cluster"
)

// syncBuffer collects the nodes' output, written by several copiers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestCluster runs what `make run-cluster` runs, with two nodes: real
// PostgreSQL, NATS, cosmic-server processes and the load balancer. Requests
// through the load balancer alternate between the nodes, a player signs in
// and connects through it, every log line names its node, and Stop leaves
// no process and no directory behind.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and runs PostgreSQL")
	}
	bin := filepath.Join(t.TempDir(), "cosmic-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cosmic-gardener/realtime/server").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{Addr: "127.0.0.1:0", Nodes: 2, Bin: bin, WebDir: t.TempDir(), NodeLog: &logs})
	if err != nil {
		t.Fatalf("Start: %v\nlogs:\n%s", err, logs.String())
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop()
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	var described bytes.Buffer
	c.Describe(&described)
	for _, want := range []string{"PostgreSQL", "psql -h ", "NATS", "nats://127.0.0.1:", "node-1", "node-2", "pid ", c.URL()} {
		if !strings.Contains(described.String(), want) {
			t.Errorf("Describe lacks %q:\n%s", want, described.String())
		}
	}

	var nodes []string
	for range 4 {
		resp, err := http.Get(c.URL() + "/api/config")
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Node    string `json:"node"`
			DevMode bool   `json:"dev_mode"`
		}
		err = json.NewDecoder(resp.Body).Decode(&cfg)
		resp.Body.Close()
		if err != nil || !cfg.DevMode {
			t.Fatalf("/api/config: %+v, %v", cfg, err)
		}
		nodes = append(nodes, cfg.Node)
	}
	if got := strings.Join(nodes, " "); got != "node-1 node-2 node-1 node-2" {
		t.Fatalf("/api/config through the load balancer answered by %q, want the nodes in turn", got)
	}

	// A new operator's path: dev-login and the WebSocket, both through the
	// load balancer (so on different nodes: the token is good on all).
	resp, err := http.Post(c.URL()+"/api/auth/dev-login", "application/json", strings.NewReader(`{"user":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || login.Token == "" {
		t.Fatalf("dev-login: status %d, %v", resp.StatusCode, err)
	}
	for range 2 {
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.URL(), "http")+"/api/ws?token="+url.QueryEscape(login.Token), nil)
		if err != nil {
			t.Fatalf("WebSocket through the load balancer: %v", err)
		}
		_, msg, err := ws.Read(ctx)
		var env protocol.Envelope
		if err == nil {
			err = json.Unmarshal(msg, &env)
		}
		if err != nil || env.Type != protocol.TypeWelcome {
			t.Fatalf("first message %s, %v; want Welcome", msg, err)
		}
		ws.Close(websocket.StatusNormalClosure, "")
	}

	// A node the operator killed is routed around, and is no failure of
	// Stop's.
	if err := c.Kill("node-2"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := http.Get(c.URL() + "/api/config")
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct{ Node string }
		err = json.NewDecoder(resp.Body).Decode(&cfg)
		resp.Body.Close()
		if err != nil || cfg.Node != "node-1" {
			t.Fatalf("with node-2 killed /api/config answered by %q, %v", cfg.Node, err)
		}
	}

	started := c.Nodes()
	dir := c.Dir()
	stopped = true
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the throw-away directory %s is still there: %v", dir, err)
	}
	for _, n := range started {
		if err := syscall.Kill(n.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Stop: %v", n.ID, n.PID, err)
		}
	}
	if _, err := http.Get(c.URL() + "/api/config"); err == nil {
		t.Error("the load balancer still answers after Stop")
	}
	out := logs.String()
	for _, want := range []string{"node=node-1", "node=node-2", `msg="shutting down" node=node-1`, "msg=stopped node=node-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("the nodes' logs lack %s", want)
		}
	}
	// Every line a node wrote names it (the load balancer's lines, which
	// share the writer, start with its msg).
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "time=") && !strings.Contains(line, "node=") && !strings.Contains(line, "msg=lb:") && !strings.Contains(line, `msg="lb:`) {
			t.Errorf("a node's log line without node=: %s", line)
		}
	}
}
