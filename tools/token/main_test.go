package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/auth"
)

const testSecret = "tools-token-test-secret-0123456789abcdef"

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRunMintsVerifiableToken(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		secret   string
		ttl      time.Duration
		operator bool
	}{
		{"JWT_SECRET", []string{"-sub", "alice", "-ttl", "1h"}, map[string]string{"JWT_SECRET": testSecret}, testSecret, time.Hour, false},
		{"default ttl", []string{"-sub", "bob"}, map[string]string{"JWT_SECRET": testSecret}, testSecret, time.Hour, false},
		{"dev", []string{"-dev", "-sub", "carol", "-ttl", "5m"}, nil, auth.DevSecret, 5 * time.Minute, false},
		{"dev wins over JWT_SECRET", []string{"-dev", "-sub", "dave"}, map[string]string{"JWT_SECRET": testSecret}, auth.DevSecret, time.Hour, false},
		{"operator", []string{"-sub", "erin", "-role", "operator", "-ttl", "15m"}, map[string]string{"JWT_SECRET": testSecret}, testSecret, 15 * time.Minute, true},
		{"empty role is a player", []string{"-role", "", "-sub", "fred"}, map[string]string{"JWT_SECRET": testSecret}, testSecret, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			before := time.Now().Truncate(time.Second)
			if code := run(tt.args, env(tt.env), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr = %q, want empty", stderr.String())
			}
			out := stdout.String()
			if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
				t.Fatalf("stdout = %q, want one line", out)
			}
			v, err := auth.NewVerifier(auth.Config{HS256Secret: []byte(tt.secret)})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(strings.TrimSuffix(out, "\n"))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantSub := tt.args[len(tt.args)-1]
			if i := indexOf(tt.args, "-sub"); i >= 0 {
				wantSub = tt.args[i+1]
			}
			if c.UserID != wantSub {
				t.Errorf("sub = %q, want %q", c.UserID, wantSub)
			}
			if c.Operator != tt.operator {
				t.Errorf("operator = %v, want %v", c.Operator, tt.operator)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt); got != tt.ttl {
				t.Errorf("exp - iat = %v, want %v", got, tt.ttl)
			}
			if c.IssuedAt.Before(before) {
				t.Errorf("iat %v before test start %v", c.IssuedAt, before)
			}
		})
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"missing sub", []string{"-ttl", "1h"}, map[string]string{"JWT_SECRET": testSecret}, "-sub is required"},
		{"no secret", []string{"-sub", "alice"}, nil, "no secret"},
		{"short secret", []string{"-sub", "alice"}, map[string]string{"JWT_SECRET": "short"}, "JWT_SECRET"},
		{"unknown flag", []string{"-sub", "alice", "-bogus"}, map[string]string{"JWT_SECRET": testSecret}, "bogus"},
		{"bad ttl", []string{"-sub", "alice", "-ttl", "soon"}, map[string]string{"JWT_SECRET": testSecret}, "-ttl"},
		{"zero ttl", []string{"-sub", "alice", "-ttl", "0s"}, map[string]string{"JWT_SECRET": testSecret}, "at least 1s"},
		{"extra argument", []string{"-sub", "alice", "extra"}, map[string]string{"JWT_SECRET": testSecret}, "unexpected arguments"},
		{"control char in sub", []string{"-sub", "a\nb"}, map[string]string{"JWT_SECRET": testSecret}, "control character"},
		{"unknown role", []string{"-sub", "alice", "-role", "admin"}, map[string]string{"JWT_SECRET": testSecret}, "-role"},
		{"role in another case", []string{"-sub", "alice", "-role", "Operator"}, map[string]string{"JWT_SECRET": testSecret}, "-role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, env(tt.env), &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want empty", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr = %q, want it to mention %q", stderr.String(), tt.wantErr)
			}
			if strings.Contains(stderr.String(), testSecret) {
				t.Error("stderr leaks the secret")
			}
		})
	}
}
