package app_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/app"
	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// closedWithin reports whether the server closes conn within d, reading
// and discarding whatever it sends first. d is a generous failure guard,
// not a measurement.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true // EOF (io.Copy's nil) or a reset: the server closed it
}

// TestHTTPServerTimeouts runs app.NewHTTPServer, as main does, with small
// timeouts (issue 11 item 6): an idle keep-alive connection and a body
// trickled byte by byte are closed, while a WebSocket, hijacked, outlives
// the read and write timeouts many times over and keeps answering.
func TestHTTPServerTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := wstest.Start(t, func(c *config.Config) {
		c.HTTPReadHeaderTimeout, c.HTTPReadTimeout, c.HTTPWriteTimeout, c.HTTPIdleTimeout = timeout, timeout, timeout, timeout
	})
	addr := s.HTTP.Listener.Addr().String()
	dial := func(t *testing.T) net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	t.Run("idle keep-alive", func(t *testing.T) {
		conn := dial(t)
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("healthz: %d, close %v", resp.StatusCode, resp.Close)
		}
		if !closedWithin(t, conn, 20*timeout+5*time.Second) {
			t.Fatal("an idle keep-alive connection is still open long after HTTP_IDLE_TIMEOUT")
		}
	})

	t.Run("silent before headers", func(t *testing.T) {
		conn := dial(t)
		if !closedWithin(t, conn, 20*timeout+5*time.Second) {
			t.Fatal("a connection that never sent a request is still open long after the timeouts")
		}
	})

	t.Run("trickled body", func(t *testing.T) {
		conn := dial(t)
		// A body declared at 1000 bytes, sent a byte every 50 ms, would
		// take 50 s; the read timeout must cut it off long before.
		if _, err := io.WriteString(conn, "POST /api/auth/dev-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		trickling := make(chan struct{})
		go func() { // owned by this subtest: ends on stop or a write error
			defer close(trickling)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := conn.Write([]byte{' '}); err != nil {
					return
				}
			}
		}()
		closed := closedWithin(t, conn, 20*timeout+5*time.Second)
		close(stop)
		<-trickling
		if !closed {
			t.Fatal("a trickled request body is still being read long after HTTP_READ_TIMEOUT")
		}
	})

	t.Run("websocket outlives the timeouts", func(t *testing.T) {
		c := s.Dial("alice", "")
		c.NextOf(protocol.TypeStateUpdate)
		// Silent for several read, write and idle timeouts... (an
		// observation window, kept in real time: the timeouts under test
		// are net/http's deadlines on a real TCP socket)
		time.Sleep(5 * timeout)
		// ...then busy for several more.
		for deadline := time.Now().Add(5 * timeout); time.Now().Before(deadline); {
			c.Send(map[string]string{"type": protocol.TypeHeartbeat})
			if env := c.NextOf(protocol.TypeHeartbeat); env.Type != protocol.TypeHeartbeat {
				t.Fatalf("got %s", env.Type)
			}
			time.Sleep(timeout / 4) // pacing the client across the timeouts
		}
		c.Action(protocol.TypeCreateCelestialBody, "late-1", map[string]any{"body_type": "asteroid", "position": map[string]float64{"x": 1, "y": 2, "z": 0}})
		if env := c.NextOf(protocol.TypeActionResult); env.ID != "late-1" {
			t.Fatalf("result %+v", env)
		}
	})
}

// TestNewHTTPServerDefaults: zero timeouts in the configuration take the
// documented defaults, never "no timeout".
func TestNewHTTPServerDefaults(t *testing.T) {
	srv := app.NewHTTPServer(config.Config{}, http.NotFoundHandler(), nil)
	def := config.Defaults()
	if srv.ReadHeaderTimeout != def.HTTPReadHeaderTimeout || srv.ReadTimeout != def.HTTPReadTimeout ||
		srv.WriteTimeout != def.HTTPWriteTimeout || srv.IdleTimeout != def.HTTPIdleTimeout {
		t.Fatalf("timeouts %v %v %v %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	for _, d := range []time.Duration{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout} {
		if d <= 0 {
			t.Fatalf("a zero default: %v", srv)
		}
	}
}

// TestBodyLimit: request bodies on the HTTP routes are capped at
// app.MaxBodyBytes; over it the answer is 413 with the JSON error shape,
// whether the length is declared or the body is chunked (issue 11 item 6).
func TestBodyLimit(t *testing.T) {
	s := wstest.Start(t, nil)
	big := strings.Repeat(" ", app.MaxBodyBytes+1)
	tests := []struct {
		name, method, path string
		body               string
		chunked            bool
		want               int
	}{
		{"dev-login, normal", http.MethodPost, "/api/auth/dev-login", `{"user":"alice"}`, false, http.StatusOK},
		{"dev-login, declared over the cap", http.MethodPost, "/api/auth/dev-login", big, false, http.StatusRequestEntityTooLarge},
		{"dev-login, chunked over the cap", http.MethodPost, "/api/auth/dev-login", big, true, http.StatusRequestEntityTooLarge},
		{"dev-login, chunked over its own 4 KiB", http.MethodPost, "/api/auth/dev-login", `{"user":"` + strings.Repeat("a", 5000) + `"}`, true, http.StatusRequestEntityTooLarge},
		{"healthz with a body over the cap", http.MethodGet, "/healthz", big, false, http.StatusRequestEntityTooLarge},
		{"static with a body over the cap", http.MethodGet, "/index.html", big, false, http.StatusRequestEntityTooLarge},
		{"healthz with a small body", http.MethodGet, "/healthz", "x", false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: chunked encoding
			}
			req, err := http.NewRequest(tt.method, s.HTTP.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, b, tt.want)
			}
			if tt.want == http.StatusRequestEntityTooLarge &&
				(!strings.Contains(string(b), `"code":"body_too_large"`) || !strings.Contains(string(b), `"message":`) ||
					resp.Header.Get("Content-Type") != "application/json") {
				t.Fatalf("413 body %s (%s), want the JSON error shape", b, resp.Header.Get("Content-Type"))
			}
		})
	}
}
