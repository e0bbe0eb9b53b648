// Package game defines the garden state that players grow: resources,
// celestial bodies keyed by id, research levels, and the canonical JSON
// encoding whose SHA-256 digest proves that two sides hold the same state.
//
// A *State is treated as immutable once published: rules return a new
// State that shares unchanged *Body values with the old one, which keeps
// per-version snapshots cheap and lets diffs compare bodies by pointer.
package game
