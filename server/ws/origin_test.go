package ws

import (
	"crypto/tls"
	"net/http"
	"testing"
)

// TestOriginAllowed: the server's own host is allowed only with the scheme
// the request arrived by, never with userinfo; patterns allow other hosts
// (issue 11 item 10, protocol.md §1).
func TestOriginAllowed(t *testing.T) {
	patterns := []string{"app.example.com", "https://*.trusted.test"}
	tests := []struct {
		name, origin, host string
		tls                bool
		want               bool
	}{
		{"no origin", "", "game.test:8080", false, true},
		{"own origin over http", "http://game.test:8080", "game.test:8080", false, true},
		{"own origin, host case differs", "http://GAME.test:8080", "game.test:8080", false, true},
		{"own origin over https", "https://game.test", "game.test", true, true},
		{"own host, https origin on a plain request", "https://game.test:8080", "game.test:8080", false, false},
		{"own host, http origin on a TLS request", "http://game.test", "game.test", true, false},
		{"own host, ws scheme", "ws://game.test:8080", "game.test:8080", false, false},
		{"own host, other port", "http://game.test:9090", "game.test:8080", false, false},
		{"own host with userinfo", "http://user@game.test:8080", "game.test:8080", false, false},
		{"own host with empty userinfo", "http://@game.test:8080", "game.test:8080", false, false},
		{"own host with user and password", "http://u:p@game.test:8080", "game.test:8080", false, false},
		{"own host with a path", "http://game.test:8080/x", "game.test:8080", false, false},
		{"own host with a trailing slash", "http://game.test:8080/", "game.test:8080", false, false},
		{"own host with a query", "http://game.test:8080?x", "game.test:8080", false, false},
		{"own host with a fragment", "http://game.test:8080#x", "game.test:8080", false, false},
		{"null origin", "null", "game.test:8080", false, false},
		{"not a URL", "http://[::1", "game.test:8080", false, false},
		{"host only", "game.test:8080", "game.test:8080", false, false},
		{"foreign", "https://evil.example", "game.test", false, false},
		{"pattern host, any scheme", "http://app.example.com", "game.test", false, true},
		{"pattern host over https", "https://app.example.com", "game.test", false, true},
		{"pattern host with userinfo", "https://x@app.example.com", "game.test", false, false},
		{"lookalike of a pattern", "https://app.example.com.evil.example", "game.test", false, false},
		{"scheme pattern", "https://a.trusted.test", "game.test", false, true},
		{"scheme pattern, other scheme", "http://a.trusted.test", "game.test", false, false},
		{"userinfo naming the own host", "http://game.test:8080@evil.example", "game.test:8080", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://"+tt.host+"/api/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := originAllowed(r, patterns); got != tt.want {
				t.Fatalf("Origin %q on Host %q (TLS %v): allowed %v, want %v", tt.origin, tt.host, tt.tls, got, tt.want)
			}
		})
	}
}
