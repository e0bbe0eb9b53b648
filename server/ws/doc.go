// Package ws serves GET /api/ws (protocol.md §1, §5, §6): origin and token
// checks, the upgrade, then per connection:
//
//   - one goroutine of its own, started by ServeHTTP once the session is
//     open (the handler returns, freeing net/http's goroutine and the
//     request). It waits for input in a one-byte read (buffers.go) and
//     hands each message to one of the Server's reused workers
//     (workers.go), which reads it through coder/websocket and handles it
//     while the goroutine waits; with Config.PlainBuffers it reads and
//     handles messages itself, inside coder/websocket's reader;
//   - a writer, run on a worker only while the session has something to
//     send;
//   - a goroutine for the close handshake, started at most once.
//
// One sweeper per Server checks heartbeats, token expiry and stuck
// writes: no timer or goroutine per idle connection. buffers.go states
// what the package relies on in coder/websocket and the lock order.
package ws
