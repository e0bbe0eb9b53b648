// Package session keeps each device's session: the sequence numbers of
// protocol.md §2, the resend buffer that makes a resume lossless (§5), the
// version the device last received, and its send queue.
//
// A session outlives its connection for a retention time so that a
// reconnect can resume it. The connection that currently serves a session
// is its Outlet; at most one is attached, and a newer one takes over.
package session
