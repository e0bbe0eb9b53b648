// Package metrics defines the server's Prometheus metrics on a registry of
// its own and implements the Observer interfaces of garden, session and ws.
// Labels come from closed sets (message types, close codes, outcomes),
// never user or session ids.
package metrics
