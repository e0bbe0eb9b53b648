//go:build js && wasm

package main

import (
	"strings"
	"syscall/js"
	"testing"
)

// TestRecentStrings: get returns the text of any JavaScript value, from
// the ring or not; long strings are remembered, short ones are not; the
// ring keeps the last len(vals) strings put.
func TestRecentStrings(t *testing.T) {
	var r recentStrings
	long := func(c string) string { return strings.Repeat(c, 2048) }
	short := js.ValueOf("short")
	if got := r.get(short); got != "short" {
		t.Fatalf("get(short) = %q", got)
	}
	for _, v := range r.vals {
		if v.Equal(short) {
			t.Fatal("a short string was remembered")
		}
	}
	texts := []string{long("a"), long("b"), long("c")}
	vals := make([]js.Value, len(texts))
	for i, s := range texts {
		vals[i] = js.ValueOf(s)
		if got := r.get(vals[i]); got != s {
			t.Fatalf("get(long %d) returned other text", i)
		}
	}
	for i, v := range vals { // from the ring now
		if got := r.get(v); got != texts[i] {
			t.Fatalf("get(remembered %d) returned other text", i)
		}
	}
	// put, as main does for an answer's document, then get by the value.
	doc := long("d")
	dv := js.ValueOf(doc)
	r.put(dv, doc)
	if got := r.get(dv); got != doc {
		t.Fatal("get after put returned other text")
	}
	// Overflow the ring: the oldest go, every answer stays right.
	for i := range 2 * len(r.vals) {
		s := long(string(rune('e' + i)))
		if got := r.get(js.ValueOf(s)); got != s {
			t.Fatalf("get(long %d) after overflow returned other text", i)
		}
	}
	if got := r.get(vals[0]); got != texts[0] {
		t.Fatal("get of an evicted value returned other text")
	}
}
