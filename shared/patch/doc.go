// Package patch computes and applies RFC 6902 JSON Patches and the
// canonical encoding whose digest is a StateUpdate's hash (protocol.md §4).
//
// Subpackage diff works on any two JSON documents (github.com/wI2L/jsondiff);
// DiffStates is the server's fast path for two versions of one garden,
// which share unchanged bodies by pointer. Both produce patches that Apply (github.com/evanphx/json-patch/v5)
// takes from the old document to exactly the new one, as the property tests
// check. ApplyState is the client's fast path: the server's kind of patch
// applied to a decoded garden, with Apply's result.
//
// Canonical form: compact JSON; object keys sorted by their UTF-8 bytes; no
// insignificant whitespace; strings escaped as encoding/json does with HTML
// escaping off ('"', '\\', control characters, U+2028 and U+2029); numbers
// written as encoding/json writes a float64 (the shortest form that reads
// back to the same float64, as JavaScript's Number#toString), except that
// -0 is written 0, as JavaScript writes it. The hash is the lowercase hex
// SHA-256 of those bytes.
package patch
