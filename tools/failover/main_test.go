package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestRunRefusesBadFlags: a usage error exits 2 before anything starts.
func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-players", "0"}, {"-nodes", "1"}, {"-backoff", "0s"}, {"extra?", "-players", "x"}} {
		var out, errOut bytes.Buffer
		if rc := run(args, &out, &errOut); rc != 2 {
			t.Errorf("run(%q) = %d, want 2 (%s)", args, rc, errOut.String())
		}
	}
}

// TestFailover runs the measurement small: two nodes, 30 players; the
// killed node's players (about half, round robin) all come back.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and runs PostgreSQL")
	}
	bin := filepath.Join(t.TempDir(), "cosmic-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cosmic-gardener/realtime/server").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	if rc := run([]string{"-players", "30", "-nodes", "2", "-bin", bin}, &out, &errOut); rc != 0 {
		t.Fatalf("run = %d\n%s\n%s", rc, out.String(), errOut.String())
	}
	m := regexp.MustCompile(`(\d+) of 30 devices lost their node; all back`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no result line:\n%s", out.String())
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 || n > 20 {
		t.Errorf("%d of 30 devices lost their node, want about half (round robin over 2 nodes)", n)
	}
	t.Log(out.String())
}
