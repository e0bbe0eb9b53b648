//go:build js && wasm

package main

import (
	"strconv"
	"syscall/js"
)

// main registers the cosmic object and blocks: the functions are called
// from JavaScript for the life of the page, so they are never released.
// Each runs synchronously on the JavaScript thread (syscall/js FuncOf), so
// every one is short: no I/O, no waiting.
func main() {
	m := newModule()
	var seen recentStrings
	stringify := js.Global().Get("JSON").Get("stringify")
	concat := js.Global().Get("String").Get("prototype").Get("concat")
	cosmic := js.Global().Get("Object").New()
	for name := range functions {
		cosmic.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any {
			r := m.answer(name, jsArgs(args, &seen))
			if r.doc == "" {
				return r.head + r.tail
			}
			// head + JSON.stringify(doc) + tail, joined in JavaScript. The
			// page will pass doc back: remember it.
			doc := js.ValueOf(r.doc)
			seen.put(doc, r.doc)
			return concat.Call("call", r.head, stringify.Invoke(doc), r.tail)
		}))
	}
	js.Global().Set("cosmic", cosmic)
	select {}
}

// jsArgs turns JavaScript arguments into the strings call takes: strings as
// they are, numbers and booleans as JSON text, null and undefined as "",
// anything else through JSON.stringify.
func jsArgs(args []js.Value, seen *recentStrings) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch a.Type() {
		case js.TypeString:
			out[i] = seen.get(a)
		case js.TypeNumber:
			out[i] = strconv.FormatFloat(a.Float(), 'f', -1, 64)
		case js.TypeBoolean:
			out[i] = strconv.FormatBool(a.Bool())
		case js.TypeUndefined, js.TypeNull:
			out[i] = ""
		default:
			out[i] = js.Global().Get("JSON").Call("stringify", a).String()
		}
	}
	return out
}

// recentStrings are the last long strings exchanged with JavaScript, with
// their Go copies. The page passes the documents it receives back, one
// garden or queue to several calls in a row, and wasm_exec.js gives equal
// strings one reference while Go holds one: comparing references spares
// encoding and copying the text again, and hands the module the very
// string its caches hold, which compares with them at no cost.
type recentStrings struct {
	vals [8]js.Value
	strs [8]string
	next int
}

func (r *recentStrings) get(v js.Value) string {
	for i, w := range r.vals {
		if w.Equal(v) {
			return r.strs[i]
		}
	}
	s := v.String()
	if len(s) >= 1024 {
		r.put(v, s)
	}
	return s
}

func (r *recentStrings) put(v js.Value, s string) {
	r.vals[r.next], r.strs[r.next] = v, s
	r.next = (r.next + 1) % len(r.vals)
}
