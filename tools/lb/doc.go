// Package lb is a small round-robin reverse proxy for a local cluster of
// cosmic-server nodes (tools/devcluster) and for tests: every request and
// every WebSocket goes to the next backend that accepts a TCP connection,
// so a killed or draining node (its listener closed) is routed around at
// once, without waiting for a health check.
//
// It is net/http/httputil.ReverseProxy, which passes WebSocket upgrades
// through (Go ≥ 1.12), over a Transport that keeps no idle connections:
// each request and each WebSocket is one dial, and a refused dial, before
// anything of the request was sent, is retried on the next backend. The
// Host header is passed on unchanged, so the nodes see the browser's
// origin as their own (docs/operations.md, WebSocket origins). With
// Config.StickyCookie a browser stays on the node that last answered it,
// which lets a page name the node holding its WebSocket.
//
// It is not meant for production: use nginx or HAProxy there
// (docs/operations.md, "Running several nodes").
package lb
