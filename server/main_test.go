package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/cosmic-gardener/realtime/server/internal/pgtest"
)

// pg is this package's PostgreSQL cluster, started by the first test that
// asks for a database.
var pg pgtest.Cluster

// binDir holds the server binary that serverBinary builds once.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "cosmic-bin-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := pg.Run(m)
	_ = os.RemoveAll(binDir)
	os.Exit(code)
}
