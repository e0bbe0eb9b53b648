package jsonenc_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/internal/jsonenc"
)

func marshal(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// marshalHTML is json.Marshal: HTML escaping on.
func marshalHTML(t testing.TB, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var awkward = []string{
	"", "plain", `"quoted" \back\slash`, "\b\f\n\r\t\x00\x01\x1f\x7f", "<&>", "é😀", "\u2028\u2029",
	"bad \xff\xfe utf-8 \xe2\x82", "\xed\xa0\x80 surrogate", "ü/~x", "\ufffd",
}

// TestMatchesEncodingJSON: AppendString and AppendFloat write what
// encoding/json writes, for awkward and random values.
func TestMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := append([]string(nil), awkward...)
	for range 2000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
			if r.IntN(2) == 0 {
				b[i] = byte(32 + r.IntN(95))
			}
		}
		strs = append(strs, string(b))
	}
	for _, s := range strs {
		if got, want := string(jsonenc.AppendString(nil, s)), marshal(t, s); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
		if got, want := string(jsonenc.AppendStringHTML(nil, s)), marshalHTML(t, s); got != want {
			t.Errorf("AppendStringHTML(%q) = %s, want %s", s, got, want)
		}
	}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.5e300, -2.5e-300,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 5000, -4999.999, 123456789012345680000, 9007199254740993}
	for range 5000 {
		switch r.IntN(3) {
		case 0:
			floats = append(floats, math.Float64frombits(r.Uint64()))
		case 1:
			floats = append(floats, (r.Float64()*2-1)*math.Pow(10, float64(r.IntN(50)-25)))
		default:
			floats = append(floats, float64(r.IntN(20001)-10000)/float64(1+r.IntN(1000)))
		}
	}
	for _, f := range floats {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if got, want := string(jsonenc.AppendFloat(nil, f)), marshal(t, f); got != want {
			t.Errorf("AppendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(jsonenc.AppendString(nil, s)), marshal(t, s); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
		if got, want := string(jsonenc.AppendStringHTML(nil, s)), marshalHTML(t, s); got != want {
			t.Errorf("AppendStringHTML(%q) = %s, want %s", s, got, want)
		}
	})
}
