// Package shared is the pure-Go core of Cosmic Gardener realtime: it is
// compiled into the server and, through wasm/, into the browser, so both
// sides apply byte-identical rules, patches and queues.
//
// Nothing below this directory does I/O, reads a clock or draws random
// numbers: time and ids are arguments. TestPurity (purity_test.go) enforces
// the import rules with `go list -deps`.
package shared
