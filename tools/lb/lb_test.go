package lb_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/cosmic-gardener/realtime/tools/lb"
)

// TestMain fails the package when the LB leaves a goroutine behind after
// Close (STYLE §3).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is one fake node: GET /who answers its name, /readyz answers
// 200 or 503 as told, /ws is a WebSocket that sends its name and then
// echoes.
type backend struct {
	name  string
	srv   *httptest.Server
	ready atomic.Bool
	host  atomic.Value // the Host header of the last request
	// dead ends with kill: httptest does not track hijacked connections,
	// so the WebSocket handlers end on it themselves.
	dead context.Context
	die  context.CancelFunc
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.dead, b.die = context.WithCancel(context.Background())
	b.ready.Store(true)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /who", func(w http.ResponseWriter, r *http.Request) {
		b.host.Store(r.Host)
		fmt.Fprint(w, name)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, r.Body)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !b.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(b.dead, cancel)()
		if err := c.Write(ctx, websocket.MessageText, []byte(name)); err != nil {
			return
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.kill)
	return b
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

// kill ends the backend as a killed process would: its listener and every
// connection, WebSockets included, are closed.
func (b *backend) kill() {
	b.die()
	b.srv.CloseClientConnections()
	b.srv.Close()
}

// startLB runs an LB over backends on a loopback port of its own (Serve)
// and returns its base URL; Close runs at cleanup.
func startLB(t *testing.T, cfg lb.Config) (*lb.LB, string) {
	t.Helper()
	p, err := lb.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p, "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func dialWS(t *testing.T, base string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial through the LB: %v", err)
	}
	_, name, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("first message: %v", err)
	}
	return c, string(name)
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []lb.Config{{}, {Backends: []string{"no-port"}}} {
		if p, err := lb.New(cfg); err == nil {
			p.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestRoundRobin: plain requests go to the backends in turn, skipping
// the dead ones, with the client's Host passed on; with every backend
// dead the client gets 502.
func TestRoundRobin(t *testing.T) {
	tests := []struct {
		name string
		dead []int // backends killed before the requests
		want string
	}{
		{"all alive", nil, "a b c a b c"},
		{"middle dead", []int{1}, "a c a c a c"},
		{"two dead", []int{0, 2}, "b b b b b b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := []*backend{startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")}
			for _, i := range tt.dead {
				bs[i].kill()
			}
			_, base := startLB(t, lb.Config{Backends: []string{bs[0].addr(), bs[1].addr(), bs[2].addr()}})
			var got []string
			for range 6 {
				code, body := get(t, base+"/who")
				if code != http.StatusOK {
					t.Fatalf("status %d: %s", code, body)
				}
				got = append(got, body)
			}
			// The rotation starts at the first backend and a dead one
			// passes its turn to the next: the pattern is exact.
			if g := strings.Join(got, " "); g != tt.want {
				t.Fatalf("backends %q, want %q", g, tt.want)
			}
			wantHost := strings.TrimPrefix(base, "http://")
			for _, b := range bs {
				if h, _ := b.host.Load().(string); h != "" && h != wantHost {
					t.Errorf("backend %s saw Host %q, want the client's %q", b.name, h, wantHost)
				}
			}
		})
	}
}

func TestAllDead(t *testing.T) {
	a := startBackend(t, "a")
	a.kill()
	_, base := startLB(t, lb.Config{Backends: []string{a.addr()}})
	if code, _ := get(t, base+"/who"); code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", code)
	}
}

// TestBody: a request body reaches the backend.
func TestBody(t *testing.T) {
	a := startBackend(t, "a")
	_, base := startLB(t, lb.Config{Backends: []string{a.addr()}})
	resp, err := http.Post(base+"/echo", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("echo %q", b)
	}
}

// TestWebSocket: WebSockets pass through in turn; when the backend of one
// dies, its client sees the connection end and a new dial through the LB
// lands on a live backend.
func TestWebSocket(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	_, base := startLB(t, lb.Config{Backends: []string{a.addr(), b.addr()}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c1, n1 := dialWS(t, base)
	defer c1.CloseNow()
	c2, n2 := dialWS(t, base)
	defer c2.CloseNow()
	if n1 != "a" || n2 != "b" {
		t.Fatalf("WebSockets on %s and %s, want a and b", n1, n2)
	}
	for _, c := range []*websocket.Conn{c1, c2} {
		if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
			t.Fatalf("echo %q, %v", msg, err)
		}
	}

	a.kill()
	if _, _, err := c1.Read(ctx); err == nil {
		t.Fatal("the WebSocket of a killed backend still reads")
	}
	for range 3 {
		c, n := dialWS(t, base)
		c.Close(websocket.StatusNormalClosure, "")
		if n != "b" {
			t.Fatalf("a new WebSocket landed on %s, want b (a is dead)", n)
		}
	}
	// The other backend's WebSocket is untouched.
	if err := c2.Write(ctx, websocket.MessageText, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c2.Read(ctx); err != nil || string(msg) != "still" {
		t.Fatalf("echo %q, %v", msg, err)
	}
}

// TestHealth: a backend whose health check fails is tried only after the
// others, and comes back when it passes again.
func TestHealth(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	b.ready.Store(false)
	p, base := startLB(t, lb.Config{Backends: []string{a.addr(), b.addr()}, HealthPath: "/readyz", HealthInterval: 20 * time.Millisecond})
	waitHealthy(t, p, []bool{true, false})
	for range 4 {
		if _, who := get(t, base+"/who"); who != "a" {
			t.Fatalf("request went to %s, which fails its health check", who)
		}
	}
	// Unhealthy but the only one left: still tried rather than nothing.
	a.kill()
	if _, who := get(t, base+"/who"); who != "b" {
		t.Fatalf("request went to %s, want b as the last resort", who)
	}
	b.ready.Store(true)
	waitHealthy(t, p, []bool{false, true})
}

// waitHealthy polls the LB's view until it is want; the deadline only
// guards against a hang.
func waitHealthy(t *testing.T, p *lb.LB, want []bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for fmt.Sprint(p.Healthy()) != fmt.Sprint(want) {
		if time.Now().After(deadline) {
			t.Fatalf("health %v, want %v", p.Healthy(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestClose: Close ends the open WebSockets, refuses new connections and
// leaves no goroutine behind (TestMain checks).
func TestClose(t *testing.T) {
	a := startBackend(t, "a")
	p, err := lb.New(lb.Config{Backends: []string{a.addr()}, HealthPath: "/readyz"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(ln); err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	c, _ := dialWS(t, base)
	defer c.CloseNow()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("a WebSocket through the LB outlived Close")
	}
	if _, err := http.Get(base + "/who"); err == nil {
		t.Fatal("the LB still accepts connections after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestSticky: with StickyCookie a client that keeps cookies stays on the
// backend that first answered it, WebSocket included, and moves (with a
// new cookie) when that backend dies; a client without cookies is still
// spread round robin.
func TestSticky(t *testing.T) {
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	_, base := startLB(t, lb.Config{Backends: []string{a.addr(), b.addr(), c.addr()}, StickyCookie: "lb_node"})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	who := func(client *http.Client) string {
		t.Helper()
		resp, err := client.Get(base + "/who")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	first := who(browser)
	for range 3 {
		if got := who(browser); got != first {
			t.Fatalf("a client with the cookie moved from %s to %s", first, got)
		}
	}
	var spread []string
	for range 3 {
		spread = append(spread, who(http.DefaultClient))
	}
	if strings.Join(spread, " ") == strings.Repeat(first+" ", 2)+first {
		t.Fatalf("clients without cookies all went to %s", first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, _ := url.Parse(base)
	ws, _, err := websocket.Dial(ctx, "ws://"+u.Host+"/ws", &websocket.DialOptions{HTTPClient: browser})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, name, err := ws.Read(ctx); err != nil || string(name) != first {
		t.Fatalf("the WebSocket went to %q (%v), the page to %s", name, err, first)
	}

	for _, bk := range []*backend{a, b, c} {
		if bk.name == first {
			bk.kill()
		}
	}
	moved := who(browser)
	if moved == first {
		t.Fatalf("still on the killed backend %s", first)
	}
	for range 3 {
		if got := who(browser); got != moved {
			t.Fatalf("after the move the client went from %s to %s: the cookie did not follow", moved, got)
		}
	}
}

// TestConcurrentSpread: WebSockets opened at once take distinct turns, so
// with every backend alive each gets the same number.
func TestConcurrentSpread(t *testing.T) {
	bs := []*backend{startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")}
	p, base := startLB(t, lb.Config{Backends: []string{bs[0].addr(), bs[1].addr(), bs[2].addr()}})
	const n = 30
	errs := make(chan error, n)
	conns := make(chan *websocket.Conn, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
			if err == nil {
				_, _, err = c.Read(ctx)
				conns <- c
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(conns)
	for c := range conns {
		c.Close(websocket.StatusNormalClosure, "")
	}
	if got := fmt.Sprint(p.Served()); got != "[10 10 10]" {
		t.Fatalf("connections per backend %s, want [10 10 10]", got)
	}
}
