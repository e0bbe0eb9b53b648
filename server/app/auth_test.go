package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// mint signs claims with HS256 and the test server's secret. A nil value
// in edits deletes the claim; the base claims are sub alice, iat now and exp
// in an hour.
func mint(t *testing.T, edits jwt.MapClaims) string {
	t.Helper()
	return mintWith(t, jwt.SigningMethodHS256, []byte(wstest.Secret), edits)
}

func mintWith(t *testing.T, m jwt.SigningMethod, key any, edits jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// badTokens are refused for every client kind (protocol.md §1).
func badTokens(t *testing.T) []struct{ name, token, code string } {
	now := time.Now()
	return []struct{ name, token, code string }{
		{"malformed", "not.a.jwt", "auth_invalid"},
		{"garbage", "garbage", "auth_invalid"},
		{"bad signature", mintWith(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef-0123"), nil), "auth_invalid"},
		{"expired", mint(t, jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()}), "auth_expired"},
		{"alg none", mintWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), "auth_invalid"},
		{"alg HS512", mintWith(t, jwt.SigningMethodHS512, []byte(wstest.Secret), nil), "auth_invalid"},
		{"missing sub", mint(t, jwt.MapClaims{"sub": nil}), "auth_invalid"},
		{"missing exp", mint(t, jwt.MapClaims{"exp": nil}), "auth_invalid"},
		{"not valid yet", mint(t, jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()}), "auth_invalid"},
	}
}

// TestAuthHeaderRefused: a client with an Authorization header gets HTTP
// 401 with a JSON {code, message} body and no upgrade.
func TestAuthHeaderRefused(t *testing.T) {
	s := wstest.Start(t, nil)
	type tc struct{ name, header, code string }
	tests := []tc{
		{"empty header", "", "auth_invalid"},
		{"basic scheme", "Basic YWxpY2U6c2VjcmV0", "auth_invalid"},
		{"token without scheme", s.Token("alice", time.Hour), "auth_invalid"},
		{"bearer without token", "Bearer", "auth_invalid"},
		{"bearer with empty token", "Bearer ", "auth_invalid"},
		{"two tokens", "Bearer a b", "auth_invalid"},
	}
	for _, b := range badTokens(t) {
		tests = append(tests, tc{b.name, "Bearer " + b.token, b.code})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, resp, err := s.Handshake("", http.Header{"Authorization": {tt.header}})
			if err == nil {
				_ = c.Conn.CloseNow()
				t.Fatal("upgraded, want HTTP 401")
			}
			if resp == nil {
				t.Fatalf("no HTTP response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d (%s), want 401", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got struct {
				Code    *string `json:"code"`
				Message *string `json:"message"`
			}
			if err := json.Unmarshal(body, &got); err != nil || got.Code == nil || got.Message == nil {
				t.Fatalf("body %s: want {code, message} (%v)", body, err)
			}
			if *got.Code != tt.code || *got.Message == "" {
				t.Errorf("body %s, want code %s and a message", body, tt.code)
			}
		})
	}
}

// TestAuthQueryRefused: a client without an Authorization header is
// upgraded, then closed at once with 4401 and the code as reason.
func TestAuthQueryRefused(t *testing.T) {
	s := wstest.Start(t, nil)
	type tc struct{ name, query, code string }
	tests := []tc{
		{"no token", "", "auth_required"},
		{"empty token", "token=", "auth_required"},
		{"token given twice", "token=a&token=b", "auth_invalid"},
	}
	for _, b := range badTokens(t) {
		tests = append(tests, tc{b.name, "token=" + url.QueryEscape(b.token), b.code})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, resp, err := s.Handshake(tt.query, nil)
			if err != nil {
				t.Fatalf("handshake: %v (response %+v)", err, resp)
			}
			env, err := c.Read(5 * time.Second)
			if err == nil {
				t.Fatalf("got %s %s, want close 4401 before any message", env.Type, env.Data)
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("read: %v, want a close frame", err)
			}
			if ce.Code != protocol.CloseAuth || ce.Reason != tt.code {
				t.Errorf("closed %d %q, want 4401 %q", ce.Code, ce.Reason, tt.code)
			}
		})
	}
}

// TestAuthLeeway: exp, nbf and iat are honoured with a 5 s leeway, and a
// token accepted thanks to it is not then dropped as expired by the live
// expiry check a moment later.
func TestAuthLeeway(t *testing.T) {
	s := wstest.Start(t, func(c *config.Config) { c.HeartbeatInterval = 300 * time.Millisecond })
	now := time.Now()
	tokens := []struct {
		name  string
		edits jwt.MapClaims
	}{
		{"expired 2s ago", jwt.MapClaims{"exp": now.Unix() - 2}},
		{"nbf in 3s", jwt.MapClaims{"nbf": now.Unix() + 3}},
		{"iat in 3s", jwt.MapClaims{"iat": now.Unix() + 3}},
	}
	for _, tok := range tokens {
		for _, via := range []string{"header", "query"} {
			t.Run(tok.name+" via "+via, func(t *testing.T) {
				jwt := mint(t, tok.edits)
				var c *wstest.Client
				if via == "header" {
					c = s.DialWith("", http.Header{"Authorization": {"Bearer " + jwt}})
				} else {
					c = s.DialWith("token="+jwt, nil)
				}
				if c.Welcome.UserID != "alice" {
					t.Fatalf("welcome %+v", c.Welcome)
				}
				// Several sweeps (every 75 ms here) run meanwhile.
				keepAlive(t, c, 400*time.Millisecond)
			})
		}
	}
}

// TestAuthOrigin: a disallowed Origin gets 403 before the token is looked
// at; ALLOWED_ORIGINS and the server's own host are allowed.
func TestAuthOrigin(t *testing.T) {
	env := map[string]string{"DEV_MODE": "1", "ALLOWED_ORIGINS": "app.example.com, https://*.trusted.test"}
	loaded, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := wstest.Start(t, func(c *config.Config) { c.AllowedOrigins = loaded.AllowedOrigins })
	self := s.HTTP.URL // http://127.0.0.1:port: the server's own host
	valid := s.Token("alice", time.Hour)
	tests := []struct {
		name, origin string
		auth         string // Authorization header, "" for none
		query        string
		want         int // HTTP status, or 101 for an upgrade with Welcome
	}{
		{"foreign origin, bad header token", "https://evil.example", "Bearer garbage", "", http.StatusForbidden},
		{"foreign origin, no token", "https://evil.example", "", "", http.StatusForbidden},
		{"foreign origin, bad query token", "https://evil.example", "", "token=garbage", http.StatusForbidden},
		{"foreign origin, valid token", "https://evil.example", "", "token=" + valid, http.StatusForbidden},
		{"lookalike origin", "https://app.example.com.evil.example", "", "token=" + valid, http.StatusForbidden},
		{"pattern scheme mismatch", "http://a.trusted.test", "", "token=" + valid, http.StatusForbidden},
		{"allowed host, bad header token", "https://app.example.com", "Bearer garbage", "", http.StatusUnauthorized},
		{"allowed host", "https://app.example.com", "", "token=" + valid, http.StatusSwitchingProtocols},
		{"allowed pattern", "https://a.trusted.test", "Bearer " + valid, "", http.StatusSwitchingProtocols},
		{"own host", self, "", "token=" + valid, http.StatusSwitchingProtocols},
		{"own host with userinfo", "http://user@" + strings.TrimPrefix(self, "http://"), "", "token=" + valid, http.StatusForbidden},
		{"own host, https on a plain request", "https://" + strings.TrimPrefix(self, "http://"), "", "token=" + valid, http.StatusForbidden},
		{"no origin", "", "", "token=" + valid, http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			c, resp, err := s.Handshake(tt.query, h)
			if tt.want == http.StatusSwitchingProtocols {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				if env := c.Next(); env.Type != protocol.TypeWelcome {
					t.Fatalf("got %s %s, want Welcome", env.Type, env.Data)
				}
				return
			}
			if err == nil {
				_ = c.Conn.CloseNow()
				t.Fatalf("upgraded, want HTTP %d", tt.want)
			}
			if resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("response %+v (%v), want HTTP %d", resp, err, tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent log
// writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTokenNotLogged: a token in the URL appears in no log line, at any
// level, whatever happens to the request (protocol.md §1).
func TestTokenNotLogged(t *testing.T) {
	var logBuf syncBuffer
	s := wstest.StartWith(t, wstest.Options{Log: &logBuf, LogLevel: slog.LevelDebug})
	good := s.Token("alice", time.Hour)
	bad := badTokens(t)
	tokens := []string{good}

	// A connection that works, acts and closes.
	c := s.DialWith("token="+good, nil)
	c.Create("log-1", "planet", 1, 2, 3)
	c.Result("log-1")
	_ = c.Conn.Close(websocket.StatusNormalClosure, "")
	// A resume attempt with an unknown session.
	c2 := s.DialWith("session=bogus&last_seq=7&token="+good, nil)
	_ = c2.Conn.CloseNow()
	// Refused tokens of every kind.
	for _, b := range bad {
		tokens = append(tokens, b.token)
		c, _, err := s.Handshake("token="+url.QueryEscape(b.token), nil)
		if err != nil {
			t.Fatalf("%s: handshake: %v", b.name, err)
		}
		if code, _ := c.CloseStatus(5 * time.Second); code != protocol.CloseAuth {
			t.Fatalf("%s: closed %d, want 4401", b.name, code)
		}
	}
	// Plain HTTP requests carrying a token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/no/such/page", "/api/config"} {
		resp, err := http.Get(s.URL(p + "?token=" + good))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Post(s.URL("/api/auth/dev-login?token="+good), "application/json", strings.NewReader(`{"user":"bob"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	s.Stop() // every connection has logged its last line
	out := logBuf.String()
	for _, want := range []string{"ws disconnected", "ws auth refused", "/healthz"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q, so the capture is not working:\n%s", want, out)
		}
	}
	for _, tok := range tokens {
		parts := strings.Split(tok, ".")
		for _, secret := range []string{tok, url.QueryEscape(tok), parts[len(parts)-1]} {
			if len(secret) >= 8 && strings.Contains(out, secret) {
				t.Errorf("log contains token material %q:\n%s", secret, out)
			}
		}
	}
}

// TestDevLogin: POST /api/auth/dev-login issues a working token in
// development mode only.
func TestDevLogin(t *testing.T) {
	dev := wstest.Start(t, nil)
	prod := wstest.Start(t, func(c *config.Config) { c.DevMode = false })
	tests := []struct {
		name string
		s    *wstest.Server
		body string
		want int
	}{
		{"dev mode", dev, `{"user":"alice"}`, http.StatusOK},
		{"dev mode, not JSON", dev, `alice`, http.StatusBadRequest},
		{"dev mode, empty user", dev, `{"user":""}`, http.StatusBadRequest},
		{"dev mode, user not a string", dev, `{"user":42}`, http.StatusBadRequest},
		{"dev mode, no body", dev, ``, http.StatusBadRequest},
		{"production", prod, `{"user":"alice"}`, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(tt.s.URL("/api/auth/dev-login"), "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want != http.StatusOK {
				return
			}
			var got struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(body, &got); err != nil || got.Token == "" {
				t.Fatalf("body %s (%v), want {\"token\": ...}", body, err)
			}
			c := tt.s.DialWith("", http.Header{"Authorization": {"Bearer " + got.Token}})
			if c.Welcome.UserID != "alice" {
				t.Fatalf("welcome %+v, want user alice", c.Welcome)
			}
			c.Create("dev-1", "moon", 0, 0, 0)
			if res, _ := c.Result("dev-1"); !res.Success {
				t.Fatalf("action with the dev token: %+v", res)
			}
		})
	}
}

// keepAlive sends a Heartbeat every 50 ms for d and requires each to be
// answered: the connection stays open and responsive for d.
func keepAlive(t *testing.T, c *wstest.Client, d time.Duration) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); <-tick.C {
		c.Send(map[string]string{"type": protocol.TypeHeartbeat})
		if env := c.Answer(); env.Type != protocol.TypeHeartbeat {
			t.Fatalf("got %s %s, want Heartbeat", env.Type, env.Data)
		}
	}
}
