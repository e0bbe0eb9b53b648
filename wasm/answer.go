package main

import (
	"slices"

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

// member is one member of an answer object: its key and its value as
// canonical JSON, or, for the member made by docKey, the answer's document.
type member struct {
	key   string
	value []byte
	doc   bool
}

// raw is the member key with a value already in canonical JSON.
func raw(key string, v []byte) member { return member{key: key, value: v} }

// str is the member key with the string s.
func str(key, s string) member { return raw(key, patch.AppendString(nil, s)) }

// boolean is the member key with v.
func boolean(key string, v bool) member {
	if v {
		return raw(key, []byte("true"))
	}
	return raw(key, []byte("false"))
}

// docKey is the member key whose value is the answer's document, quoted
// as a JSON string by the glue (reply).
func docKey(key string) member { return member{key: key, doc: true} }

// object returns the canonical JSON object of ms, which holds no doc
// member. Members are sorted by key here: callers list them in any order.
func object(ms ...member) rawValue {
	r := withDoc("", ms...)
	return rawValue(r.head)
}

// withDoc returns the canonical JSON object of ms as a reply, with text
// where the doc member stands (at most one).
func withDoc(text string, ms ...member) reply {
	for i := 1; i < len(ms); i++ { // insertion sort: a handful of members
		for j := i; j > 0 && ms[j].key < ms[j-1].key; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
	var head, tail []byte
	b := &head
	for i, m := range ms {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		*b = append(append(append(append(*b, sep, '"'), m.key...), '"', ':'), m.value...)
		if m.doc {
			b = &tail
		}
	}
	*b = append(*b, '}')
	if b == &head { // no doc member
		return reply{head: string(head)}
	}
	return reply{string(head), text, string(tail)}
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
