package app

import "net/http"

// ContentSecurityPolicy is sent with every response. The page loads only
// its own files: app.js (a module) and wasm_exec.js as scripts, style.css,
// favicon.svg; it has no inline script, style element or style attribute
// (it sets element.style through the CSSOM, which style-src does not
// govern). 'wasm-unsafe-eval' lets it compile cosmic.wasm
// (WebAssembly.instantiateStreaming) without allowing eval; connect-src
// 'self' covers fetch and the same-origin ws:/wss: WebSocket (CSP level 3).
// data: images are allowed for SVG gradients and icons a stylesheet may
// inline.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the browser-facing hardening headers on every
// response (issue 11 item 10): harmless on JSON and on the WebSocket
// handshake, essential on the page and its assets.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		// The game's URLs stay on the game's server.
		h.Set("Referrer-Policy", "no-referrer")
		// frame-ancestors does this in current browsers; X-Frame-Options
		// for older ones.
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
