package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultOut is where the generated file goes, relative to the module root.
const DefaultOut = "web/src/conn/protocol.gen.ts"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process. It returns the exit code: 0 on success,
// 2 on a usage error, 1 otherwise.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tsgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "module root (default: the nearest directory with go.mod above the working directory)")
	out := fs.String("out", "", "output file (default: ROOT/"+DefaultOut+"); - for stdout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tsgen: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	if *root == "" {
		r, err := findRoot()
		if err != nil {
			fmt.Fprintln(stderr, "tsgen:", err)
			return 1
		}
		*root = r
	}
	src, err := Generate(*root)
	if err != nil {
		fmt.Fprintln(stderr, "tsgen:", err)
		return 1
	}
	if *out == "-" {
		_, _ = stdout.Write(src)
		return 0
	}
	if *out == "" {
		*out = filepath.Join(*root, filepath.FromSlash(DefaultOut))
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, src) {
		return 0 // unchanged: keep the mtime, so make sees nothing new
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintln(stderr, "tsgen:", err)
		return 1
	}
	fmt.Fprintln(stdout, "tsgen: wrote", *out)
	return 0
}

// findRoot walks up from the working directory to the directory holding
// go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; pass -root")
		}
		dir = parent
	}
}
