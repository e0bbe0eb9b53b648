package app_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/cosmic-gardener/realtime/server/internal/pgtest"
)

// pg is the package's PostgreSQL cluster, started by the first test that
// asks for a database.
var pg pgtest.Cluster

type withCluster struct{ m *testing.M }

func (w withCluster) Run() int { return pg.Run(w.m) }

// TestMain fails the package when a test leaves goroutines behind: every
// connection, writer and sweeper must be stopped by its owner (STYLE §3).
func TestMain(m *testing.M) { goleak.VerifyTestMain(withCluster{m}) }
