// Package sendq is the per-session outbound queue: a bounded FIFO lane for
// control messages (ActionResult, Error, Heartbeat) ahead of one coalescing
// slot for state, drained by a rate limit (updates per second) and a byte
// budget (token bucket).
//
// A Queue is a plain data structure with no goroutines and no clock of its
// own: the caller passes the time, which keeps it testable and lets one
// writer goroutine own the socket. Not safe for concurrent use.
package sendq
