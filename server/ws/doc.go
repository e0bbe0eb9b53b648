// Package ws serves GET /api/ws (protocol.md §1, §5, §6): origin and token
// checks, the upgrade, one read loop per connection in the handler's
// goroutine, a writer goroutine that exists only while there is something
// to send, and one sweeper per Server for heartbeats, token expiry and
// stuck writes — no timer or goroutine per idle connection.
package ws
