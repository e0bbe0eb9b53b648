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
	cosmic := js.Global().Get("Object").New()
	for name := range api {
		cosmic.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any {
			return call(name, jsArgs(args))
		}))
	}
	js.Global().Set("cosmic", cosmic)
	select {}
}

// jsArgs turns JavaScript arguments into the strings call takes: strings as
// they are, numbers and booleans as JSON text, null and undefined as "",
// anything else through JSON.stringify.
func jsArgs(args []js.Value) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch a.Type() {
		case js.TypeString:
			out[i] = a.String()
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
