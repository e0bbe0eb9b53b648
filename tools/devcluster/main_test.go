package main

import (
	"io"
	"testing"
)

// TestRunFlags: bad flags exit 2 and a missing server binary 1, before
// anything is started. tools/cluster's TestCluster runs the cluster itself.
func TestRunFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-nodes", "0"}, 2},
		{[]string{"extra"}, 2},
		{[]string{"-nope"}, 2},
		{[]string{"-bin", "/nonexistent/cosmic-server", "-addr", "127.0.0.1:0"}, 1},
	} {
		if code := run(tt.args, io.Discard, io.Discard); code != tt.code {
			t.Errorf("run %q = %d, want %d", tt.args, code, tt.code)
		}
	}
}
