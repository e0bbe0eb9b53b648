package main

import (
	"slices"
	"strings"

	"github.com/cosmic-gardener/realtime/shared/patch"
)

// rawValue is an answer's value already written as canonical JSON, which
// call wraps as it is.
type rawValue []byte

// reply is an answer in three parts: head, then doc as a JSON string,
// then tail. A document (a garden, a queue) goes apart so that the
// JavaScript glue quotes it with JSON.stringify, many times faster than
// quoteDoc compiled to WebAssembly. doc is empty when the whole answer is
// in head; otherwise it is text that this module's encoders wrote, which
// JSON.stringify quotes exactly as quoteDoc does.
type reply struct{ head, doc, tail string }

// String returns the answer as one string.
func (r reply) String() string {
	if r.doc == "" {
		return r.head + r.tail
	}
	return r.head + string(quoteDoc(nil, r.doc)) + r.tail
}

// object returns the canonical JSON object whose members are named by
// keys, comma-separated in byte order, and valued by vals, canonical JSON
// each.
func object(keys string, vals ...[]byte) rawValue {
	var b []byte
	for i, k := range strings.Split(keys, ",") {
		b = appendMember(b, i, k, vals[i])
	}
	return append(b, '}')
}

func appendMember(b []byte, i int, k string, v []byte) []byte {
	sep := byte(',')
	if i == 0 {
		sep = '{'
	}
	return append(append(append(append(b, sep, '"'), k...), '"', ':'), v...)
}

// docObject is object with doc, as a JSON string, for the value that is
// nil in vals; with no keys, it is doc as a JSON string.
func docObject(keys, doc string, vals ...[]byte) reply {
	if keys == "" {
		return reply{doc: doc}
	}
	var head, tail []byte
	b := &head
	for i, k := range strings.Split(keys, ",") {
		*b = appendMember(*b, i, k, nil)
		if vals[i] == nil {
			b = &tail
		}
		*b = append(*b, vals[i]...)
	}
	*b = append(*b, '}')
	return reply{string(head), doc, string(tail)}
}

// jsonString is s as a canonical JSON string.
func jsonString(s string) []byte { return patch.AppendString(nil, s) }

func jsonBool(v bool) []byte {
	if v {
		return []byte("true")
	}
	return []byte("false")
}

// quoteDoc appends doc, text that this module's encoders wrote
// (game.Encode, patch.Canonical, newQueueDoc), as a canonical JSON string.
// Such text holds no control characters, U+2028 or U+2029 (strings escape
// them) and is valid UTF-8, so only '"' and '\\' need escaping: the
// escaping JSON.stringify does too (TestQuoteDoc).
func quoteDoc(dst []byte, doc string) []byte {
	j := len(dst)
	dst = slices.Grow(dst, 2*len(doc)+2)[:j+2*len(doc)+2] // room for the worst case: one pass
	dst[j] = '"'
	j++
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if c == '"' || c == '\\' {
			dst[j] = '\\'
			j++
		}
		dst[j] = c
		j++
	}
	dst[j] = '"'
	return dst[:j+1]
}
