package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader on two
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRunConfiguration: -h prints the flags and the variables with their
// ranges and exits 0 (it used to exit 2 with "flag: help requested"); a
// value outside its range exits 2 naming the variable before anything is
// opened (protocol.md §11).
func TestRunConfiguration(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want []string // in stderr
	}{
		{"help", []string{"-h"}, nil, 0, []string{"-addr", "-max-updates", "RATE_PER_SECOND", "0.1 to 1000000", "HTTP_IDLE_TIMEOUT"}},
		{"help long", []string{"-help"}, nil, 0, []string{"MAX_SESSIONS_PER_USER"}},
		{"rate NaN", nil, map[string]string{"DEV_MODE": "1", "RATE_PER_SECOND": "NaN"}, 2, []string{"RATE_PER_SECOND"}},
		{"updates Inf", nil, map[string]string{"DEV_MODE": "1", "MAX_UPDATES_PER_SECOND": "+Inf"}, 2, []string{"MAX_UPDATES_PER_SECOND"}},
		{"updates tiny", nil, map[string]string{"DEV_MODE": "1", "MAX_UPDATES_PER_SECOND": "1e-300"}, 2, []string{"MAX_UPDATES_PER_SECOND"}},
		{"sessions zero", nil, map[string]string{"DEV_MODE": "1", "MAX_SESSIONS_PER_USER": "0"}, 2, []string{"MAX_SESSIONS_PER_USER"}},
		{"retention 1ns", nil, map[string]string{"DEV_MODE": "1", "SESSION_RETENTION": "1ns"}, 2, []string{"SESSION_RETENTION"}},
		{"dev mode typo", nil, map[string]string{"DEV_MODE": "ture"}, 2, []string{"DEV_MODE"}},
		{"bad flag value", []string{"-max-updates", "NaN"}, map[string]string{"DEV_MODE": "1"}, 2, []string{"MAX_UPDATES_PER_SECOND"}},
		{"unknown flag", []string{"-nope"}, map[string]string{"DEV_MODE": "1"}, 2, []string{"-nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr syncBuffer
			db := filepath.Join(t.TempDir(), "cosmic.db")
			env := func(k string) (string, bool) {
				if v, ok := tt.env[k]; ok {
					return v, ok
				}
				// Were the bad value accepted, nothing lands in the tree
				// and no fixed port is taken.
				switch k {
				case "DB_PATH":
					return db, true
				case "ADDR":
					return "127.0.0.1:0", true
				}
				return "", false
			}
			// Were a bad value accepted, run would start serving and block:
			// the guard turns that into a failure instead of a hang.
			exit := make(chan int, 1)
			go func() { exit <- run(tt.args, env, &stderr) }()
			var code int
			select {
			case code = <-exit:
			case <-time.After(10 * time.Second):
				t.Fatalf("run did not return: the configuration was accepted; stderr:\n%s", stderr.String())
			}
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}
