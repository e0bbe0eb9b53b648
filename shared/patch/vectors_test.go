package patch_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/internal/vectors"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/patch/diff"
)

type canonicalVector struct {
	Name      string `json:"name"`
	Input     string `json:"input"`
	Canonical string `json:"canonical"`
	Hash      string `json:"hash"`
	Error     bool   `json:"error"`
}

type patchVectors struct {
	Diff []struct {
		Name   string          `json:"name"`
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
		Patch  json.RawMessage `json:"patch"`
	} `json:"diff"`
	Apply []struct {
		Name   string          `json:"name"`
		Doc    json.RawMessage `json:"doc"`
		Patch  json.RawMessage `json:"patch"`
		Result json.RawMessage `json:"result"`
	} `json:"apply"`
	ApplyErrors []struct {
		Name  string `json:"name"`
		Doc   string `json:"doc"`
		Patch string `json:"patch"`
	} `json:"apply_errors"`
}

func mustCanonical(t *testing.T, doc []byte) []byte {
	t.Helper()
	c, err := patch.Canonical(doc)
	if err != nil {
		t.Fatalf("canonical of vector value %s: %v", doc, err)
	}
	return c
}

func TestCanonicalVectors(t *testing.T) {
	var cases []canonicalVector
	vectors.Load(t, "canonical.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no vectors")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := patch.Canonical([]byte(tc.Input))
			if tc.Error {
				if err == nil {
					t.Fatalf("Canonical(%q) = %q, want an error", tc.Input, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Canonical(%q): %v", tc.Input, err)
			}
			if string(got) != tc.Canonical {
				t.Errorf("Canonical(%q)\n got %q\nwant %q", tc.Input, got, tc.Canonical)
			}
			if h := game.Hash(got); h != tc.Hash {
				t.Errorf("Hash = %s, want %s", h, tc.Hash)
			}
			again, err := patch.Canonical(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("Canonical is not idempotent: %q -> %q (%v)", got, again, err)
			}
		})
	}
}

func TestDiffVectors(t *testing.T) {
	var v patchVectors
	vectors.Load(t, "patch.json", &v)
	if len(v.Diff) == 0 {
		t.Fatal("no vectors")
	}
	for _, tc := range v.Diff {
		t.Run(tc.Name, func(t *testing.T) {
			want := mustCanonical(t, tc.Patch)
			got, err := diff.JSON(tc.Before, tc.After)
			if err != nil {
				t.Fatalf("Diff: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Diff\n got %s\nwant %s", got, want)
			}
			out, err := patch.Apply(tc.Before, want)
			if err != nil {
				t.Fatalf("Apply(before, patch): %v", err)
			}
			if after := mustCanonical(t, tc.After); !bytes.Equal(out, after) {
				t.Errorf("Apply(before, patch)\n got %s\nwant %s", out, after)
			}
		})
	}
}

func TestApplyVectors(t *testing.T) {
	var v patchVectors
	vectors.Load(t, "patch.json", &v)
	for _, tc := range v.Apply {
		t.Run(tc.Name, func(t *testing.T) {
			out, err := patch.Apply(tc.Doc, tc.Patch)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if want := mustCanonical(t, tc.Result); !bytes.Equal(out, want) {
				t.Errorf("Apply\n got %s\nwant %s", out, want)
			}
		})
	}
	for _, tc := range v.ApplyErrors {
		t.Run("error/"+tc.Name, func(t *testing.T) {
			if out, err := patch.Apply([]byte(tc.Doc), []byte(tc.Patch)); err == nil {
				t.Errorf("Apply(%s, %s) = %s, want an error", tc.Doc, tc.Patch, out)
			}
		})
	}
}

// FuzzApply checks that Apply never panics and that whatever it returns is
// canonical. Seeded from patch.json.
func FuzzApply(f *testing.F) {
	var v patchVectors
	vectors.Load(f, "patch.json", &v)
	for _, tc := range v.Diff {
		f.Add(string(tc.Before), string(tc.Patch))
	}
	for _, tc := range v.Apply {
		f.Add(string(tc.Doc), string(tc.Patch))
	}
	for _, tc := range v.ApplyErrors {
		f.Add(tc.Doc, tc.Patch)
	}
	f.Fuzz(func(t *testing.T, doc, p string) {
		out, err := patch.Apply([]byte(doc), []byte(p))
		if err != nil {
			return
		}
		again, err := patch.Canonical(out)
		if err != nil {
			t.Fatalf("Apply output %q is not JSON: %v", out, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("Apply output is not canonical:\n got %q\nre-canonical %q", out, again)
		}
	})
}
