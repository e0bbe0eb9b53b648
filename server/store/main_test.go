package store

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/cosmic-gardener/realtime/server/internal/pgtest"
)

// pg is this package's PostgreSQL cluster, started by the first test that
// asks for a database.
var pg pgtest.Cluster

// withCluster stops the cluster after the tests, before goleak looks.
type withCluster struct{ m *testing.M }

func (w withCluster) Run() int { return pg.Run(w.m) }

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(withCluster{m})
}
