package ws

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originAllowed is protocol.md §1's origin check, made before the token is
// looked at. A request without Origin is allowed: browsers always send it
// on a WebSocket handshake, so its absence means a non-browser client,
// which the token alone authenticates.
//
// An Origin is allowed when it is the server's own origin or matches one
// of patterns (path.Match on the host, or on scheme://host when the
// pattern holds "://"). It is refused, whatever the patterns, when it does
// not parse as scheme://host, or carries userinfo, a path, a query or a
// fragment: no browser sends those, and userinfo would let
// "http://trusted@evil" read as trusted to a careless eye.
//
// The server's own origin is the request's Host with the scheme the
// request arrived by: https when this server terminated TLS (r.TLS), http
// otherwise. X-Forwarded-Proto is not trusted, since any client can send
// it; behind a TLS-terminating proxy the public https origin is listed in
// ALLOWED_ORIGINS instead (docs/operations.md).
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u.Scheme == scheme && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}
