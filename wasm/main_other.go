//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// main explains how to build the module: natively this package exists only
// so that its API (api.go) is tested and vetted with the rest.
func main() {
	fmt.Fprintln(os.Stderr, "cosmic wasm adapter: build with GOOS=js GOARCH=wasm (see wasm/README.md)")
	os.Exit(2)
}
