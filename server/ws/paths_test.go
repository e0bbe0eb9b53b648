package ws_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/auth"
	"github.com/cosmic-gardener/realtime/server/garden"
	"github.com/cosmic-gardener/realtime/server/internal/memstore"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/server/session"
	"github.com/cosmic-gardener/realtime/server/ws"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// paths are the two ways a connection is read and written
// (Config.PlainBuffers); every test in this file runs on both, so the
// operator's switch back to coder/websocket's plain path keeps the
// contract.
var paths = []struct {
	name  string
	plain bool
}{
	{"small buffers", false},
	{"plain buffers", true},
}

// pathServer is a ws.Server over an in-memory store behind httptest.
type pathServer struct {
	t      *testing.T
	ws     *ws.Server
	http   *httptest.Server
	issuer *auth.Issuer
	closed chan int // close codes, from the Observer
	plain  bool
}

// startPath starts a server on the given path; adjust, if not nil, changes
// its Config. It is shut down at cleanup.
func startPath(t *testing.T, plain bool, adjust func(*ws.Config)) *pathServer {
	t.Helper()
	secret := []byte(wstest.Secret)
	verifier, err := auth.NewVerifier(auth.Config{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := auth.NewIssuer(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	gardens, err := garden.New(garden.Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := session.New(session.Config{Gardens: gardens})
	if err != nil {
		t.Fatal(err)
	}
	p := &pathServer{t: t, issuer: issuer, closed: make(chan int, 16), plain: plain}
	cfg := ws.Config{Verifier: verifier, Sessions: sessions, Observer: closeObserver{p.closed}, PlainBuffers: plain}
	if adjust != nil {
		adjust(&cfg)
	}
	if p.ws, err = ws.New(cfg); err != nil {
		t.Fatal(err)
	}
	p.http = httptest.NewServer(p.ws)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.ws.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		sessions.Close()
		p.http.Close()
	})
	return p
}

// closeObserver reports each connection's close code.
type closeObserver struct{ closed chan<- int }

func (o closeObserver) ConnClosed(code int) { o.closed <- code }

func (closeObserver) ConnOpened()                              {}
func (closeObserver) MessageIn(string)                         {}
func (closeObserver) MessageOut(int)                           {}
func (closeObserver) AuthRefused(string)                       {}
func (closeObserver) ActionDone(string, string, time.Duration) {}

func (p *pathServer) token(user string) string {
	p.t.Helper()
	tok, err := p.issuer.Issue(user, time.Hour)
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

// dial connects user and reads the Welcome, then checks that the
// connection runs on the server's path.
func (p *pathServer) dial(user string) *wstest.Client {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.http.URL, "http")+"/?token="+p.token(user), nil)
	if err != nil {
		p.t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(16 << 20)
	p.t.Cleanup(func() { _ = conn.CloseNow() })
	c := &wstest.Client{T: p.t, Conn: conn}
	c.Welcome = wstest.Decode[protocol.Welcome](p.t, c.Expect(protocol.TypeWelcome))
	p.checkPath()
	return c
}

// checkPath fails the test unless every open connection runs on the path
// the server was started with.
func (p *pathServer) checkPath() {
	p.t.Helper()
	plain, small := p.ws.Paths()
	if p.plain && small != 0 || !p.plain && plain != 0 {
		p.t.Fatalf("PlainBuffers %v: %d connections on plain buffers, %d on small ones", p.plain, plain, small)
	}
}

// closeCode waits for the server to report a connection's close code.
func (p *pathServer) closeCode() int {
	p.t.Helper()
	select {
	case code := <-p.closed:
		return code
	case <-time.After(5 * time.Second):
		p.t.Fatal("no connection closed within 5 s")
		return 0
	}
}

// TestPathsContract: connect, first state, an action answered and
// broadcast to another device, a burst of messages and one larger than
// the socket buffers.
func TestPathsContract(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			p := startPath(t, path.plain, nil)
			a, b := p.dial("alice"), p.dial("alice")
			for _, c := range []*wstest.Client{a, b} {
				if u := wstest.Decode[protocol.StateUpdate](t, c.Expect(protocol.TypeStateUpdate)); !u.Full {
					t.Fatalf("first StateUpdate not full: %+v", u)
				}
			}

			a.Create("act-1", "star", 1, 2, 3)
			res, _ := a.Result("act-1")
			if !res.Success {
				t.Fatalf("CreateCelestialBody refused: %+v", res)
			}
			if res.Version == 0 {
				t.Fatalf("ActionResult without a version: %+v", res)
			}
			for { // the other device sees the action's version
				u := wstest.Decode[protocol.StateUpdate](t, b.NextOf(protocol.TypeStateUpdate))
				if u.Data.Version >= res.Version {
					break
				}
			}

			// A burst: several frames likely share a socket read, so the
			// idle wait must see the ones left in the buffer.
			const burst = 50
			for range burst {
				a.Send(map[string]string{"type": protocol.TypeHeartbeat})
			}
			for i := range burst {
				if env := a.Answer(); env.Type != protocol.TypeHeartbeat {
					t.Fatalf("answer %d to the burst: %s %s", i, env.Type, env.Data)
				}
			}

			// Larger than either path's read buffer (256 B, 4 KiB).
			a.SendRaw(`{"type":"Heartbeat","id":"` + strings.Repeat("x", 10000) + `"}`)
			if e, _ := a.ErrorAnswer(); e.Code != protocol.CodeBadMessage && e.Code != protocol.CodeInvalidData {
				t.Fatalf("a 10 KB message with a bad id: Error %+v, want bad_message or invalid_data", e)
			}
			a.Send(map[string]string{"type": protocol.TypeHeartbeat})
			if env := a.Answer(); env.Type != protocol.TypeHeartbeat {
				t.Fatalf("after the large message: %s %s", env.Type, env.Data)
			}
		})
	}
}

// TestPathsEarlyFrames: frames sent in the same packet as the handshake
// are read (TestSmallBuffersKeepEarlyBytes tests smallBuffers alone).
func TestPathsEarlyFrames(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			p := startPath(t, path.plain, nil)
			conn, err := net.Dial("tcp", strings.TrimPrefix(p.http.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			req := "GET /?token=" + p.token("bob") + " HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
			hb := ws.MaskedText(`{"type":"Heartbeat"}`)
			if _, err := conn.Write(append(append([]byte(req), hb...), hb...)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake: %v %v", resp, err)
			}
			p.checkPath()
			beats := 0
			for i := 0; beats < 2; i++ {
				if i == 4 { // Welcome, the first state and two heartbeats
					t.Fatalf("%d frames, %d heartbeats answered, want 2", i, beats)
				}
				env, err := protocol.DecodeEnvelope([]byte(ws.ReadText(t, br)))
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 && env.Type != protocol.TypeWelcome {
					t.Fatalf("first frame %s, want Welcome", env.Type)
				}
				if env.Type == protocol.TypeHeartbeat {
					beats++
				}
			}
		})
	}
}

// TestPathsClose: the server's close handshake (heartbeat timeout and
// shutdown) and the peer's.
func TestPathsClose(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			t.Run("heartbeat timeout", func(t *testing.T) {
				p := startPath(t, path.plain, func(c *ws.Config) { c.HeartbeatInterval = 100 * time.Millisecond })
				c := p.dial("carol")
				if code, _ := c.CloseStatus(5 * time.Second); code != protocol.CloseHeartbeat {
					t.Fatalf("client saw close %d, want %d", code, protocol.CloseHeartbeat)
				}
				if code := p.closeCode(); code != protocol.CloseHeartbeat {
					t.Fatalf("server closed with %d, want %d", code, protocol.CloseHeartbeat)
				}
			})
			t.Run("peer closes", func(t *testing.T) {
				p := startPath(t, path.plain, nil)
				c := p.dial("dave")
				if err := c.Conn.Close(websocket.StatusNormalClosure, "bye"); err != nil {
					t.Fatalf("client close handshake: %v", err)
				}
				if code := p.closeCode(); code != protocol.CloseNormal {
					t.Fatalf("server recorded close %d, want %d", code, protocol.CloseNormal)
				}
			})
			t.Run("shutdown", func(t *testing.T) {
				p := startPath(t, path.plain, nil)
				c := p.dial("erin")
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				shut := make(chan error, 1)
				go func() { shut <- p.ws.Shutdown(ctx) }()
				if code, _ := c.CloseStatus(5 * time.Second); code != protocol.CloseGoingAway {
					t.Fatalf("client saw close %d, want %d", code, protocol.CloseGoingAway)
				}
				if err := <-shut; err != nil {
					t.Fatalf("Shutdown: %v (the close handshake did not complete)", err)
				}
			})
		})
	}
}
