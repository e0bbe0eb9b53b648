// Package vectors loads the shared test vectors in shared/testdata/vectors
// for the tests of the shared packages. It reads files, so only _test.go
// files may import it (TestPurity checks). The same files are run from
// Node through the WASM module (wasm/test/vectors.test.mjs).
package vectors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the directory holding the vector files.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("..", "testdata", "vectors")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "vectors")
}

// Load decodes the vector file name (e.g. "rules.json") into v, failing tb
// when it cannot.
func Load(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		tb.Fatalf("read vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("decode vectors %s: %v", name, err)
	}
}

// Fill asks for Count generated bodies of Type in a state document, so that
// vectors about the body cap need not list a thousand bodies. Body i has id
// "b-fill-NNNN" (i in four digits), created_at 0 and position 0,0,0.
type Fill struct {
	Count int    `json:"count"`
	Type  string `json:"type"`
}

// Apply returns the state document doc with the fill bodies added to its
// "bodies" object. A nil Fill returns doc unchanged.
func (f *Fill) Apply(doc json.RawMessage) (json.RawMessage, error) {
	if f == nil || len(doc) == 0 {
		return doc, nil
	}
	var state map[string]json.RawMessage
	if err := json.Unmarshal(doc, &state); err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	bodies := map[string]json.RawMessage{}
	if raw, ok := state["bodies"]; ok {
		if err := json.Unmarshal(raw, &bodies); err != nil {
			return nil, fmt.Errorf("fill: bodies: %w", err)
		}
	}
	for i := range f.Count {
		id := fmt.Sprintf("b-fill-%04d", i)
		b, err := json.Marshal(map[string]any{
			"created_at": 0, "id": id, "type": f.Type,
			"position": map[string]float64{"x": 0, "y": 0, "z": 0},
		})
		if err != nil {
			return nil, fmt.Errorf("fill: %w", err)
		}
		bodies[id] = b
	}
	raw, err := json.Marshal(bodies)
	if err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	state["bodies"] = raw
	return json.Marshal(state)
}

// Frame builds the envelope text of an action vector: {type, id, data},
// data omitted when absent.
func Frame(typ, id string, data json.RawMessage) string {
	env := map[string]any{"type": typ}
	if id != "" {
		env["id"] = id
	}
	if len(data) > 0 {
		env["data"] = data
	}
	b, _ := json.Marshal(env) // strings and valid raw JSON always encode
	return string(b)
}
