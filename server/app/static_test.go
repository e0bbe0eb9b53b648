package app_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cosmic-gardener/realtime/server/app"
	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
)

// TestStaticFiles: the web client is served as regular files only: no
// directory listing, no dotfile or dot-directory (issue 11 item 10).
func TestStaticFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"index.html":        "<!doctype html><title>page</title>",
		"app.js":            "console.log('app')",
		"app.js.br":         "brotli bytes",
		"sub/file.txt":      "in a directory",
		"sub/.hidden":       "hidden",
		".env":              "JWT_SECRET=leaked",
		".git/config":       "[core]",
		"nested/index.html": "a directory's index",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := wstest.Start(t, func(c *config.Config) { c.WebDir = dir })
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path, acceptEncoding string
		want                 int
		body                 string // expected body for 200s
	}{
		{"/", "", http.StatusOK, files["index.html"]},
		{"/index.html", "", http.StatusOK, files["index.html"]},
		{"/app.js", "", http.StatusOK, files["app.js"]},
		{"/app.js", "gzip, br", http.StatusOK, files["app.js.br"]},
		{"/sub/file.txt", "", http.StatusOK, files["sub/file.txt"]},
		{"/sub", "", http.StatusNotFound, ""},
		{"/sub/", "", http.StatusNotFound, ""},
		{"/empty/", "", http.StatusNotFound, ""},
		{"/nested/", "", http.StatusNotFound, ""},
		{"/.env", "", http.StatusNotFound, ""},
		{"/%2eenv", "", http.StatusNotFound, ""},
		{"/.git/config", "", http.StatusNotFound, ""},
		{"/.git/", "", http.StatusNotFound, ""},
		{"/sub/.hidden", "", http.StatusNotFound, ""},
		{"/sub/../.env", "", http.StatusNotFound, ""},
		{"/missing.js", "", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.acceptEncoding, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.HTTP.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Set explicitly: the transport's own gzip would decode.
			req.Header.Set("Accept-Encoding", tt.acceptEncoding)
			if tt.acceptEncoding == "" {
				req.Header.Set("Accept-Encoding", "identity")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, b, tt.want)
			}
			if tt.want == http.StatusOK && string(b) != tt.body {
				t.Fatalf("body %q, want %q", b, tt.body)
			}
			if strings.Contains(string(b), "<pre>") || strings.Contains(string(b), "leaked") {
				t.Fatalf("listing or secret served: %q", b)
			}
			checkSecurityHeaders(t, resp.Header)
		})
	}
}

// TestSecurityHeaders: every response — page, JSON endpoints, errors, the
// refused WebSocket handshake — carries the hardening headers (issue 11
// item 10).
func TestSecurityHeaders(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "`"+app.ContentSecurityPolicy+"`") {
		t.Errorf("docs/operations.md does not give the policy sent:\n%s", app.ContentSecurityPolicy)
	}
	s := wstest.Start(t, nil)
	tests := []struct {
		method, path string
		header       http.Header
	}{
		{http.MethodGet, "/healthz", nil},
		{http.MethodGet, "/api/config", nil},
		{http.MethodGet, "/metrics", nil},
		{http.MethodGet, "/", nil},
		{http.MethodGet, "/nothing-here", nil},
		{http.MethodPost, "/api/auth/dev-login", nil},
		{http.MethodGet, "/api/ws", http.Header{"Origin": {"https://evil.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.HTTP.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			checkSecurityHeaders(t, resp.Header)
		})
	}
}

func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": app.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, directive := range []string{"script-src 'self' 'wasm-unsafe-eval'", "frame-ancestors 'none'", "connect-src 'self'", "object-src 'none'"} {
		if !strings.Contains(csp, directive) {
			t.Errorf("CSP %q lacks %q", csp, directive)
		}
	}
	if strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "'unsafe-inline'") {
		t.Errorf("CSP %q allows eval or inline code", csp)
	}
}
