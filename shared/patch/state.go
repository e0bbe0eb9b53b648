package patch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cosmic-gardener/realtime/shared/game"
)

// DiffStates returns the canonical encoding of a patch taking a to b. It
// relies on game's immutability: a body shared by pointer is unchanged, so
// only the bodies that differ are encoded, and a one-body change to a large
// garden costs a map walk rather than two full encodings.
func DiffStates(a, b *game.State) ([]byte, error) {
	ops, err := diffKeyed(nil, "/bodies/", a.Bodies, b.Bodies,
		func(ob, nb *game.Body) bool { return ob == nb || *ob == *nb },
		func(nb *game.Body) ([]byte, error) { return encodeValue(nb) })
	if err != nil {
		return nil, err
	}
	if a.Owner != b.Owner {
		v, err := encodeValue(b.Owner)
		if err != nil {
			return nil, err
		}
		ops = append(ops, Op{Op: "replace", Path: "/owner", Value: v})
	}
	ops, err = diffKeyed(ops, "/research/", a.Research, b.Research,
		func(ol, nl int) bool { return ol == nl },
		func(nl int) ([]byte, error) { return []byte(strconv.Itoa(nl)), nil })
	if err != nil {
		return nil, err
	}
	if a.Resources.Energy != b.Resources.Energy {
		ops = append(ops, Op{Op: "replace", Path: "/resources/energy", Value: []byte(strconv.FormatInt(b.Resources.Energy, 10))})
	}
	if a.Resources.Stardust != b.Resources.Stardust {
		ops = append(ops, Op{Op: "replace", Path: "/resources/stardust", Value: []byte(strconv.FormatInt(b.Resources.Stardust, 10))})
	}
	if a.UpdatedAt != b.UpdatedAt {
		ops = append(ops, Op{Op: "replace", Path: "/updated_at", Value: []byte(strconv.FormatInt(b.UpdatedAt, 10))})
	}
	return EncodeOps(ops), nil
}

// diffKeyed appends to ops the operations turning map a into map b, under
// prefix, in key order: remove, add, or replace where same says the values
// differ.
func diffKeyed[V any](ops []Op, prefix string, a, b map[string]V, same func(old, new V) bool, encode func(V) ([]byte, error)) ([]Op, error) {
	var keys []string // the changed ones: usually few
	for k, nv := range b {
		if ov, ok := a[k]; !ok || !same(ov, nv) {
			keys = append(keys, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		path := prefix + escapePointer(k)
		nv, inNew := b[k]
		if !inNew {
			ops = append(ops, Op{Op: "remove", Path: path})
			continue
		}
		v, err := encode(nv)
		if err != nil {
			return nil, err
		}
		op := "replace"
		if _, inOld := a[k]; !inOld {
			op = "add"
		}
		ops = append(ops, Op{Op: op, Path: path, Value: v})
	}
	return ops, nil
}

// encodeValue encodes a Go value the way game.Encode does, which is
// canonical for the types a state holds.
func encodeValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("diff states: encode value: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// escapePointer escapes a JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
