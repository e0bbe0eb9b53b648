package app

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/cosmic-gardener/realtime/server/config"
)

// MaxBodyBytes caps a plain HTTP request's body. The largest body the
// server reads is dev-login's {"user": "..."}; 64 KiB, the WebSocket frame
// limit, leaves room for any future JSON endpoint.
const MaxBodyBytes = 64 << 10

// NewHTTPServer returns the http.Server that serves h as server/main.go
// runs it: with the configured HTTP_*_TIMEOUTs (a zero field takes
// config.Defaults), so that idle keep-alive connections, slow headers and
// trickled bodies cannot hold a connection open for ever (issue 11 item 6).
//
// The timeouts do not reach WebSocket connections: net/http clears the
// connection's read and write deadlines when it is hijacked (server.go,
// conn.hijackLocked: rwc.SetDeadline(time.Time{})), coder/websocket sets
// none of its own (it times out with contexts), and the WebSocket server
// ends dead connections with its heartbeat and write timeout.
// TestHTTPServerTimeouts checks that a WebSocket outlives them.
func NewHTTPServer(cfg config.Config, h http.Handler, errorLog *log.Logger) *http.Server {
	def := config.Defaults()
	orDefault := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: orDefault(cfg.HTTPReadHeaderTimeout, def.HTTPReadHeaderTimeout),
		ReadTimeout:       orDefault(cfg.HTTPReadTimeout, def.HTTPReadTimeout),
		WriteTimeout:      orDefault(cfg.HTTPWriteTimeout, def.HTTPWriteTimeout),
		IdleTimeout:       orDefault(cfg.HTTPIdleTimeout, def.HTTPIdleTimeout),
		ErrorLog:          errorLog,
	}
}

// limitBody caps request bodies at limit bytes (issue 11 item 6). A
// declared Content-Length over the limit is answered 413 at once, without
// reading the body; a chunked body is cut at the limit by
// http.MaxBytesReader, whose error a handler that reads the body answers
// with the same 413 (devLogin). The WebSocket route stays out: its request
// has no body and the connection is hijacked.
func limitBody(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				// The body stays unread: net/http closes the connection
				// rather than drain it.
				w.Header().Set("Connection", "close")
				writeBodyTooLarge(w, limit)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			next.ServeHTTP(w, r)
		})
	}
}

func writeBodyTooLarge(w http.ResponseWriter, limit int64) {
	writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"code": "body_too_large",
		"message": fmt.Sprintf("request body larger than %d bytes", limit)})
}
