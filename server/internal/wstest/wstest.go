// Package wstest starts a real server (server/app) on httptest and dials
// it with real WebSocket clients, for integration tests of the contract.
package wstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/app"
	"github.com/cosmic-gardener/realtime/server/auth"
	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// Secret is the HS256 secret of test servers.
const Secret = "wstest-secret-0123456789abcdef0123456789"

// Server is a running app behind httptest, or on pipes (Options.Pipe).
type Server struct {
	T   testing.TB
	App *app.App
	// HTTP is the httptest server; nil on pipes.
	HTTP *httptest.Server
	// Client reaches the server: http.DefaultClient over TCP, one
	// dialing the pipe listener on pipes.
	Client *http.Client
	Config config.Config
	issuer *auth.Issuer

	base    string // http:// URL of the server's root
	stopped bool
	// On pipes: the listener, its server, and Serve's end.
	pipe   *PipeListener
	pipeHS *http.Server
	served chan struct{}
}

// Start runs a server with test defaults (dev mode, a fresh DB in a temp
// dir); mutate adjusts the config. It is shut down by t.Cleanup.
func Start(t testing.TB, mutate func(*config.Config)) *Server {
	t.Helper()
	return StartWith(t, Options{Config: mutate})
}

// Options adjusts a test server started by StartWith.
type Options struct {
	// Config adjusts the test defaults; nil keeps them.
	Config func(*config.Config)
	// Log, when set, receives the server's log at LogLevel instead of
	// t.Log at Warn, e.g. to check that no line leaks a token.
	Log      io.Writer
	LogLevel slog.Level
	// Pipe serves the app over a PipeListener instead of TCP, so that the
	// server and its clients can run in a testing/synctest bubble (call
	// StartWith inside it): time is then fake, and rate windows and
	// pacing take none. The URLs name the host "pipe".
	Pipe bool
}

// StartWith is Start with more options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	mutate := opts.Config
	cfg, err := config.Load(nil, func(string) (string, bool) { return "", false }, nil)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Fatalf("config defaults: %v", err)
	}
	cfg.JWTSecret = Secret
	cfg.DevMode = true
	cfg.DBPath = filepath.Join(t.TempDir(), "cosmic.db")
	cfg.WebDir = t.TempDir()
	if mutate != nil {
		mutate(&cfg)
	}
	var logw io.Writer = testWriter{t}
	level := slog.LevelWarn
	if opts.Log != nil {
		logw, level = opts.Log, opts.LogLevel
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))
	a, err := app.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	issuer, err := auth.NewIssuer([]byte(cfg.JWTSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{T: t, App: a, Config: cfg, issuer: issuer}
	// The http.Server main runs, timeouts included, so that every
	// integration test goes through them.
	if opts.Pipe {
		s.pipe, s.pipeHS, s.served = NewPipeListener(), app.NewHTTPServer(cfg, a.Handler(), nil), make(chan struct{})
		go func() {
			defer close(s.served)
			_ = s.pipeHS.Serve(s.pipe)
		}()
		s.Client, s.base = s.pipe.Client(), "http://pipe"
	} else {
		hs := httptest.NewUnstartedServer(a.Handler())
		hs.Config = app.NewHTTPServer(cfg, a.Handler(), nil)
		hs.Start()
		s.HTTP, s.Client, s.base = hs, http.DefaultClient, hs.URL
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// Stop shuts the app down and closes the listener; safe to call twice.
func (s *Server) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.App.Shutdown(ctx); err != nil {
		s.T.Errorf("shutdown: %v", err)
	}
	if s.pipe != nil {
		_ = s.pipeHS.Close()
		<-s.served
		s.Client.CloseIdleConnections()
		return
	}
	s.HTTP.Close()
	s.HTTP = nil
}

// Token mints a token for user valid for ttl.
func (s *Server) Token(user string, ttl time.Duration) string {
	s.T.Helper()
	tok, err := s.issuer.Issue(user, ttl)
	if err != nil {
		s.T.Fatal(err)
	}
	return tok
}

// OperatorToken mints a token for user valid for ttl that carries the
// operator claim ("role": "operator"), which a SaveGame with a state
// needs.
func (s *Server) OperatorToken(user string, ttl time.Duration) string {
	s.T.Helper()
	tok, err := s.issuer.IssueOperator(user, ttl)
	if err != nil {
		s.T.Fatal(err)
	}
	return tok
}

// WSURL returns the ws:// URL of /api/ws with query appended.
func (s *Server) WSURL(query string) string {
	u := "ws" + strings.TrimPrefix(s.base, "http") + "/api/ws"
	if query != "" {
		u += "?" + query
	}
	return u
}

// Client is one WebSocket client.
type Client struct {
	T    testing.TB
	Conn *websocket.Conn
	// Welcome is the first message, read by Dial.
	Welcome protocol.Welcome

	// seenVersion is the highest garden version in a StateUpdate or
	// ActionResult read so far.
	seenVersion uint64
}

// Dial connects user with a token in the query, plus extra query, and
// reads the Welcome.
func (s *Server) Dial(user, extra string) *Client {
	s.T.Helper()
	q := "token=" + s.Token(user, time.Hour)
	if extra != "" {
		q += "&" + extra
	}
	return s.DialWith(q, nil)
}

// DialOperator is Dial with an operator's token, for tests that set a
// garden with SaveGame and a state.
func (s *Server) DialOperator(user, extra string) *Client {
	s.T.Helper()
	q := "token=" + s.OperatorToken(user, time.Hour)
	if extra != "" {
		q += "&" + extra
	}
	return s.DialWith(q, nil)
}

// DialRaw connects with the given query and header, reading nothing.
func (s *Server) DialRaw(query string, header http.Header) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.WSURL(query), &websocket.DialOptions{HTTPHeader: header, HTTPClient: s.Client})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(16 << 20)
	c := &Client{T: s.T, Conn: conn}
	s.T.Cleanup(func() { _ = conn.CloseNow() })
	return c, nil
}

// Send writes v as JSON.
func (c *Client) Send(v any) {
	c.T.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.T.Fatal(err)
	}
	c.SendRaw(string(b))
}

// SendRaw writes a text frame.
func (c *Client) SendRaw(frame string) {
	c.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.T.Fatalf("write: %v", err)
	}
}

// Action sends an action envelope.
func (c *Client) Action(typ, id string, data any) {
	c.T.Helper()
	c.Send(map[string]any{"type": typ, "id": id, "data": data})
}

// Read returns the next message or the read error, waiting at most d.
func (c *Client) Read(d time.Duration) (protocol.Envelope, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, b, err := c.Conn.Read(ctx)
	if err != nil {
		return protocol.Envelope{}, err
	}
	env, err := protocol.DecodeEnvelope(b)
	if err != nil {
		return protocol.Envelope{}, fmt.Errorf("server sent an undecodable frame %q: %w", b, err)
	}
	if env.Type == protocol.TypeStateUpdate || env.Type == protocol.TypeActionResult {
		var v struct {
			Version uint64 `json:"version"`
		}
		if json.Unmarshal(env.Data, &v) == nil {
			c.seenVersion = max(c.seenVersion, v.Version)
		}
	}
	return env, nil
}

// Next returns the next message, failing the test after 5 s.
func (c *Client) Next() protocol.Envelope {
	c.T.Helper()
	env, err := c.Read(5 * time.Second)
	if err != nil {
		c.T.Fatalf("read: %v", err)
	}
	return env
}

// NextOf skips messages until one of type typ arrives.
func (c *Client) NextOf(typ string) protocol.Envelope {
	c.T.Helper()
	for {
		if env := c.Next(); env.Type == typ {
			return env
		}
	}
}

// CloseStatus reads until the connection closes and returns its close
// code and reason, or fails after d.
func (c *Client) CloseStatus(d time.Duration) (websocket.StatusCode, string) {
	c.T.Helper()
	deadline := time.Now().Add(d)
	for {
		_, err := c.Read(time.Until(deadline))
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		if time.Now().After(deadline) {
			c.T.Fatalf("connection still open after %s", d)
		}
		return -1, err.Error()
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
