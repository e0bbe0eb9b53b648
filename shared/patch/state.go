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
	var ops []Op
	var changed []string
	for id, nb := range b.Bodies {
		if ob, ok := a.Bodies[id]; !ok || (ob != nb && *ob != *nb) {
			changed = append(changed, id)
		}
	}
	for id := range a.Bodies {
		if _, ok := b.Bodies[id]; !ok {
			changed = append(changed, id)
		}
	}
	slices.Sort(changed)
	for _, id := range changed {
		path := "/bodies/" + escapePointer(id)
		nb, inNew := b.Bodies[id]
		_, inOld := a.Bodies[id]
		switch {
		case !inNew:
			ops = append(ops, Op{Op: "remove", Path: path})
		default:
			v, err := encodeValue(nb)
			if err != nil {
				return nil, err
			}
			op := "replace"
			if !inOld {
				op = "add"
			}
			ops = append(ops, Op{Op: op, Path: path, Value: v})
		}
	}
	if a.Owner != b.Owner {
		v, err := encodeValue(b.Owner)
		if err != nil {
			return nil, err
		}
		ops = append(ops, Op{Op: "replace", Path: "/owner", Value: v})
	}
	topics := make([]string, 0, len(a.Research)+len(b.Research))
	for t := range a.Research {
		topics = append(topics, t)
	}
	for t := range b.Research {
		if _, ok := a.Research[t]; !ok {
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	for _, t := range topics {
		ol, inOld := a.Research[t]
		nl, inNew := b.Research[t]
		path := "/research/" + escapePointer(t)
		switch {
		case !inNew:
			ops = append(ops, Op{Op: "remove", Path: path})
		case !inOld:
			ops = append(ops, Op{Op: "add", Path: path, Value: []byte(strconv.Itoa(nl))})
		case ol != nl:
			ops = append(ops, Op{Op: "replace", Path: path, Value: []byte(strconv.Itoa(nl))})
		}
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
