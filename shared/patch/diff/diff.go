// Package diff computes the RFC 6902 patch between any two JSON documents
// with github.com/wI2L/jsondiff, written in the canonical form of package
// patch, so the same documents give the same bytes everywhere.
//
// It is a package of its own so that the browser's module, which only
// applies patches, does not carry jsondiff and its dependencies (about
// 50 KB of the gzipped module). The server's hot path is patch.DiffStates.
package diff

import (
	"encoding/json"
	"fmt"

	"github.com/wI2L/jsondiff"

	"github.com/cosmic-gardener/realtime/shared/patch"
)

// JSON returns the canonical encoding of a patch that takes document a to
// document b. Both must be valid JSON.
func JSON(a, b []byte) ([]byte, error) {
	ops, err := jsondiff.CompareJSON(a, b)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	out := make([]patch.Op, 0, len(ops))
	for _, o := range ops {
		op := patch.Op{Op: o.Type, Path: o.Path}
		if o.Type != jsondiff.OperationRemove {
			v, err := json.Marshal(o.Value)
			if err != nil {
				return nil, fmt.Errorf("diff: encode value at %s: %w", o.Path, err)
			}
			if op.Value, err = patch.Canonical(v); err != nil {
				return nil, fmt.Errorf("diff: %w", err)
			}
		}
		out = append(out, op)
	}
	return patch.EncodeOps(out), nil
}
