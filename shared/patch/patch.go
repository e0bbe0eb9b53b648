package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/wI2L/jsondiff"
)

// Op is one RFC 6902 operation as this package emits it: add, remove or
// replace. Value is already canonical JSON (nil for remove).
type Op struct {
	Op    string
	Path  string
	Value json.RawMessage
}

// MaxPatchBytes bounds a patch that Apply accepts.
const MaxPatchBytes = 16 << 20

// Diff returns the canonical JSON encoding of a patch that takes document a
// to document b. Both must be valid JSON.
func Diff(a, b []byte) ([]byte, error) {
	ops, err := jsondiff.CompareJSON(a, b)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	out := make([]Op, 0, len(ops))
	for _, o := range ops {
		op := Op{Op: o.Type, Path: o.Path}
		if o.Type != jsondiff.OperationRemove {
			v, err := json.Marshal(o.Value)
			if err != nil {
				return nil, fmt.Errorf("diff: encode value at %s: %w", o.Path, err)
			}
			if op.Value, err = Canonical(v); err != nil {
				return nil, fmt.Errorf("diff: %w", err)
			}
		}
		out = append(out, op)
	}
	return EncodeOps(out), nil
}

// EncodeOps writes ops as a JSON array with members in the order op, path,
// value.
func EncodeOps(ops []Op) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, o := range ops {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"op":`)
		buf.WriteString(strconv.Quote(o.Op))
		buf.WriteString(`,"path":`)
		writeString(&buf, o.Path)
		if o.Op != jsondiff.OperationRemove {
			buf.WriteString(`,"value":`)
			buf.Write(o.Value)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// Apply applies an RFC 6902 patch to doc and returns the result in
// canonical form.
func Apply(doc, patch []byte) ([]byte, error) {
	if len(patch) > MaxPatchBytes {
		return nil, fmt.Errorf("apply: patch larger than %d bytes", MaxPatchBytes)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("apply: decode patch: %w", err)
	}
	opts := jsonpatch.NewApplyOptions()
	// Copies could grow a document without bound; a patch of ours never
	// copies, so a small allowance is plenty.
	opts.AccumulatedCopySizeLimit = 1 << 20
	out, err := p.ApplyWithOptions(doc, opts)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	return Canonical(out)
}

// Canonical re-encodes a JSON document in canonical form (see the package
// comment). It rejects trailing data after the document.
func Canonical(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("canonical: trailing data after the document")
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return fmt.Errorf("canonical: number %s: %w", x, err)
		}
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("canonical: number %s: %w", x, err)
		}
		buf.Write(b)
	case string:
		writeString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // UTF-8 byte order: the canonical key order
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("canonical: unexpected %T", v)
	}
	return nil
}

// writeString escapes s exactly as encoding/json does with HTML escaping
// off, so that canonical strings match what the server's encoder writes.
func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}
