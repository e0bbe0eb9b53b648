package protocol_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// docBlock is one ```json block of docs/protocol.md and the marker comment
// on the line before it, if any: <!-- not-a-frame --> for JSON that is not
// an envelope, <!-- frame-error CODE --> for a client frame that must fail
// with CODE.
type docBlock struct {
	line   int
	marker string
	text   string
}

func docBlocks(t *testing.T) []docBlock {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []docBlock
	var cur *docBlock
	prev := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```json":
			marker := ""
			if p := strings.TrimSpace(prev); strings.HasPrefix(p, "<!--") {
				marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(p, "<!--"), "-->"))
			}
			cur = &docBlock{line: n, marker: marker}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("line %d: unterminated json block", cur.line)
	}
	return blocks
}

// TestDocsExamples decodes every JSON example of docs/protocol.md as the
// peer would. Full StateUpdates must carry the hash of their state, and a
// patch whose base appeared earlier must lead to its hash.
func TestDocsExamples(t *testing.T) {
	blocks := docBlocks(t)
	if len(blocks) < 10 {
		t.Fatalf("found only %d json blocks", len(blocks))
	}
	states := map[uint64][]byte{} // version → canonical state, from earlier examples
	frames := 0
	for _, b := range blocks {
		dec := json.NewDecoder(strings.NewReader(b.text))
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("docs/protocol.md:%d: not JSON: %v", b.line, err)
			}
			switch {
			case b.marker == "not-a-frame":
				continue
			case strings.HasPrefix(b.marker, "frame-error "):
				code := strings.TrimPrefix(b.marker, "frame-error ")
				_, _, err := protocol.DecodeClient(raw)
				var de *protocol.DecodeError
				if !errors.As(err, &de) || de.Code != code {
					t.Errorf("docs/protocol.md:%d: decoded with %v, want %s", b.line, err, code)
				}
				continue
			case b.marker != "":
				t.Fatalf("docs/protocol.md:%d: unknown marker %q", b.line, b.marker)
			}
			frames++
			env, err := protocol.DecodeEnvelope(raw)
			if err != nil {
				t.Fatalf("docs/protocol.md:%d: %v", b.line, err)
			}
			decode := protocol.DecodeServer
			if protocol.IsClientType(env.Type) {
				decode = protocol.DecodeClient
			}
			_, msg, err := decode(raw)
			if err != nil {
				t.Errorf("docs/protocol.md:%d: %s: %v", b.line, env.Type, err)
				continue
			}
			if su, ok := msg.(protocol.StateUpdate); ok {
				checkStateUpdate(t, b.line, su, states)
			}
		}
	}
	if frames < 15 {
		t.Errorf("only %d frames checked", frames)
	}
}

func checkStateUpdate(t *testing.T, line int, su protocol.StateUpdate, states map[uint64][]byte) {
	t.Helper()
	d := su.Data
	var state []byte
	if su.Full {
		s, err := game.Decode(d.State)
		if err != nil {
			t.Fatalf("docs/protocol.md:%d: state: %v", line, err)
		}
		if state, err = game.Encode(s); err != nil {
			t.Fatal(err)
		}
	} else {
		base, ok := states[d.Base]
		if !ok {
			return
		}
		var err error
		if state, err = patch.Apply(base, d.Patch); err != nil {
			t.Fatalf("docs/protocol.md:%d: patch from %d: %v", line, d.Base, err)
		}
	}
	if h := game.Hash(state); h != d.Hash {
		t.Errorf("docs/protocol.md:%d: hash of version %d is %s, the example says %s\nstate %s", line, d.Version, h, d.Hash, state)
	}
	states[d.Version] = bytes.Clone(state)
}

// TestDocsReasons: the reason table of docs/protocol.md ("ActionResult")
// lists exactly the reason codes, in their order.
func TestDocsReasons(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| `reason` |")
	if !ok {
		t.Fatal("docs/protocol.md has no reason table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var documented []string
	for _, line := range strings.Split(table, "\n")[2:] { // the header's end and the rule
		rest, ok := strings.CutPrefix(line, "| `")
		code, _, found := strings.Cut(rest, "` |")
		if !ok || !found {
			t.Fatalf("docs/protocol.md: reason table row %q", line)
		}
		documented = append(documented, code)
	}
	if !slices.Equal(documented, protocol.Reasons()) {
		t.Errorf("docs/protocol.md documents reasons %q, want %q", documented, protocol.Reasons())
	}
}
