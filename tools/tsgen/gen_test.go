package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the module root, seen from this package's directory (where go
// test runs).
const root = "../.."

// TestGeneratedFileIsCurrent fails when web/src/conn/protocol.gen.ts does
// not match what the Go types generate: someone changed shared/protocol or
// shared/game without running `make generate`.
func TestGeneratedFileIsCurrent(t *testing.T) {
	want, err := Generate(root)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	path := filepath.Join(root, filepath.FromSlash(DefaultOut))
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the committed file: %v (run `make generate`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `make generate` and commit the result\n%s", DefaultOut, firstDiff(string(got), string(want)))
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := Generate(root)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("two runs differ:\n%s", firstDiff(string(a), string(b)))
		}
	}
}

func TestGeneratedShapes(t *testing.T) {
	src, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	if !strings.HasPrefix(s, Header+"\n") {
		t.Errorf("missing header %q", Header)
	}
	for _, want := range []string{
		// omitempty becomes optional, json names are used.
		"  base?: number;\n",
		"  state?: GameState;\n",
		"  patch?: JsonPatchOperation[];\n",
		"  body_id?: string;\n",
		"  session_id: string;\n",
		// maps and renamed types.
		"  bodies: Record<string, Body>;\n",
		"  research: Record<string, number>;\n",
		"export interface GameState {\n",
		// membership comes from the real decoders.
		"export type ActionType =\n  | 'CreateCelestialBody'\n  | 'Research'\n  | 'SaveGame';\n",
		"  Ack: Ack;\n",
		"  Heartbeat: undefined;\n",
		// constants come from Go values.
		"  TakenOver: 4409,\n",
		"  InvalidData: 'invalid_data',\n",
		"export const MAX_ID_BYTES = 64;\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("generated file lacks %q", want)
		}
	}
}

func TestRunWritesOnlyWhenChanged(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.gen.ts")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-root", root, "-out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "wrote") {
		t.Errorf("first run should write, stdout %q", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"-root", root, "-out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("second run = %d", code)
	}
	if stdout.Len() != 0 {
		t.Errorf("second run should not rewrite, stdout %q", stdout.String())
	}
	if code := run([]string{"extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("unexpected argument: exit %d, want 2", code)
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n committed: " + x + "\n generated: " + y
		}
	}
	return ""
}

// TestCheck: each kind of problem in a collected model is reported, and
// the model of this repository has none.
func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(m *model)
		want  string // "" for no problem
	}{
		{"this repository", func(*model) {}, ""},
		{"a type neither emitted nor skipped", func(m *model) {
			m.structs = slices.DeleteFunc(m.structs, func(s structInfo) bool { return s.key == "protocol.Welcome" })
		}, "type protocol.Welcome is neither emitted nor in skipTypes"},
		{"two types, one TypeScript name", func(m *model) {
			m.structs = append(m.structs, structInfo{key: "game.Other", goName: "Other", tsName: "GameState"})
		}, "types game.State and game.Other both map to GameState; add a tsNames entry"},
		{"a message no decoder knows", func(m *model) {
			m.msgs = append(m.msgs, msgInfo{typ: "Nobody"})
		}, "message Nobody is decoded by neither side"},
		{"a constant in no table", func(m *model) {
			m.src.consts = append(m.src.consts, "protocol.CloseSomething")
		}, "constant protocol.CloseSomething is in no table of tools/tsgen/gen.go"},
		{"a constant without a doc comment", func(m *model) {
			m.src.docs["protocol.CloseAuth"] = ""
		}, "constant protocol.CloseAuth has no doc comment"},
		{"an override that matches nothing", func(m *model) {
			m.used = map[string]bool{}
		}, "override protocol.Envelope.Data matches no field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := collect(root)
			if err != nil {
				t.Fatal(err)
			}
			tt.spoil(m)
			err = check(m)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("check = %v, want a problem %q", err, tt.want)
			}
		})
	}
}
