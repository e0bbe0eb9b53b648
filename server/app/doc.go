// Package app wires the server together — store, gardens, sessions, the
// WebSocket endpoint, metrics — behind one chi router, and takes it apart
// again in order on shutdown.
package app
