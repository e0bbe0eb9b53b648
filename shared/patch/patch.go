package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/cosmic-gardener/realtime/shared/internal/jsonenc"
	jsonpatch "github.com/evanphx/json-patch/v5"
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
		if o.Op != "remove" {
			buf.WriteString(`,"value":`)
			buf.Write(o.Value)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// Apply applies an RFC 6902 patch to doc and returns the result in
// canonical form. Every path (and from) must be "" or start with "/";
// negative array indices, a json-patch extension, are refused. Operations
// on the whole document (path ""), which diff.JSON emits when the root changes
// type, and documents that are not an object or array are supported.
//
// For a garden and a patch of the kind the server emits, ApplyState gives
// the same result without decoding the document.
func Apply(doc, patch []byte) ([]byte, error) {
	if len(patch) > MaxPatchBytes {
		return nil, fmt.Errorf("apply: patch larger than %d bytes", MaxPatchBytes)
	}
	if t := bytes.TrimLeft(patch, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return nil, errors.New("apply: decode patch: a patch is a JSON array")
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("apply: decode patch: %w", err)
	}
	// json-patch applies operations only inside an object or array, and
	// refuses most operations on the root. When the patch touches the root
	// or the document is a scalar, apply it to {"doc": doc} instead, every
	// path prefixed with /doc.
	wrap := !isContainer(doc)
	for i, op := range p {
		path, err := op.Path()
		if err != nil {
			return nil, fmt.Errorf("apply: operation %d: %w", i, err)
		}
		if path != "" && path[0] != '/' {
			return nil, fmt.Errorf("apply: operation %d: path %q must be empty or start with /", i, path)
		}
		wrap = wrap || path == ""
		if kind := op.Kind(); kind == "move" || kind == "copy" {
			from, err := op.From()
			if err != nil {
				return nil, fmt.Errorf("apply: operation %d: %w", i, err)
			}
			if from != "" && from[0] != '/' {
				return nil, fmt.Errorf("apply: operation %d: from %q must be empty or start with /", i, from)
			}
			wrap = wrap || from == ""
		}
	}
	if wrap {
		for _, op := range p {
			path, _ := op.Path()
			op["path"] = rawString(op["path"], wrapKey+path)
			if kind := op.Kind(); kind == "move" || kind == "copy" {
				from, _ := op.From()
				op["from"] = rawString(op["from"], wrapKey+from)
			}
		}
		doc = slices.Concat([]byte(`{"doc":`), doc, []byte("}"))
	}
	opts := jsonpatch.NewApplyOptions()
	// Copies could grow a document without bound; a patch of ours never
	// copies, so a small allowance is plenty.
	opts.AccumulatedCopySizeLimit = 1 << 20
	// RFC 6902 has no negative indices; other clients' libraries refuse them.
	opts.SupportNegativeIndices = false
	out, err := p.ApplyWithOptions(doc, opts)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	if wrap {
		var w map[string]json.RawMessage
		if err := json.Unmarshal(out, &w); err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
		inner, ok := w["doc"]
		if !ok {
			return nil, errors.New("apply: the patch removes the whole document")
		}
		out = inner
	}
	return Canonical(out)
}

// wrapKey is the pointer to the document inside Apply's wrapper.
const wrapKey = "/doc"

// isContainer reports whether a JSON document is an object or an array.
func isContainer(doc []byte) bool {
	doc = bytes.TrimLeft(doc, " \t\r\n")
	return len(doc) > 0 && (doc[0] == '{' || doc[0] == '[')
}

// rawString returns s as a JSON string of json-patch's raw message type.
func rawString[T ~[]byte](_ *T, s string) *T {
	b, _ := json.Marshal(s) // a string always encodes
	v := T(b)
	return &v
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
		if f == 0 {
			f = 0 // -0 is written 0, as JavaScript and RFC 8785 do
		}
		buf.Write(jsonenc.AppendFloat(buf.AvailableBuffer(), f)) // finite: ParseFloat refused the rest
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
	buf.Write(jsonenc.AppendString(buf.AvailableBuffer(), s))
}

// AppendString appends the JSON string that Canonical writes for a string
// holding s: escaped as encoding/json escapes with HTML escaping off, each
// byte of invalid UTF-8 replaced by U+FFFD (as decoding replaces it). It
// lets callers build canonical documents around strings without a second
// pass.
func AppendString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // one U+FFFD per invalid byte, as encoding/json decodes
	}
	return jsonenc.AppendString(dst, s)
}
