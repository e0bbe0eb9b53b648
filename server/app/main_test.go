package app_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// connection, writer and sweeper must be stopped by its owner (STYLE §3).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
