package shared_test

import (
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// forbiddenDirect are packages no shared package may import itself (STYLE
// §1): no I/O, no clock, no randomness, no browser glue. encoding/json and
// fmt import some of them (fmt imports os), so only direct imports count.
var forbiddenDirect = []string{
	"os", "os/exec", "io/fs", "database/sql", "syscall/js", "time", "math/rand", "math/rand/v2", "crypto/rand",
}

// forbiddenTransitive may not be reached at all, directly or not: the
// module built for the browser must not carry a network stack or SQL.
var forbiddenTransitive = []string{"net", "net/http", "os/exec", "database/sql", "plugin"}

// testOnly are the shared packages that tests import: they may read files
// and draw random numbers, and no other shared code may import them.
var testOnly = []string{
	"github.com/cosmic-gardener/realtime/shared/internal/vectors",
	"github.com/cosmic-gardener/realtime/shared/internal/gardens",
}

func TestPurity(t *testing.T) {
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("cannot run go list from inside WASM")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	for _, goos := range []string{"", "js"} {
		env := []string{}
		if goos == "js" {
			env = []string{"GOOS=js", "GOARCH=wasm"}
		}
		name := "native"
		if goos != "" {
			name = goos
		}
		t.Run(name, func(t *testing.T) {
			direct := goList(t, env, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
			if len(direct) < 5 {
				t.Fatalf("go list found only %d shared packages", len(direct))
			}
			for _, line := range direct {
				fields := strings.Fields(line)
				pkg, imports := fields[0], fields[1:]
				if slices.Contains(testOnly, pkg) {
					continue
				}
				for _, imp := range imports {
					if slices.Contains(forbiddenDirect, imp) || strings.HasPrefix(imp, "net/") || imp == "net" {
						t.Errorf("%s imports %s", pkg, imp)
					}
					if slices.Contains(testOnly, imp) {
						t.Errorf("%s imports the test-only %s", pkg, imp)
					}
				}
			}
			var nonTest []string
			for _, line := range direct {
				if pkg := strings.Fields(line)[0]; !slices.Contains(testOnly, pkg) {
					nonTest = append(nonTest, pkg)
				}
			}
			deps := goList(t, env, append([]string{"-deps"}, nonTest...)...)
			for _, dep := range deps {
				if slices.Contains(forbiddenTransitive, dep) || strings.HasPrefix(dep, "net/") {
					t.Errorf("shared depends on %s", dep)
				}
			}
		})
	}
}

func goList(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
