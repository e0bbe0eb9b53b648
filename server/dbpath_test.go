package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusesNonDatabaseFile: a DB_PATH naming a file that is not an
// SQLite database (here 1 byte) stops the server with exit code 1 and a
// log line naming the path, and the file keeps its bytes (issue 11 item 9).
func TestRefusesNonDatabaseFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "cosmic.db")
	if err := os.WriteFile(db, []byte{'x'}, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DEV_MODE": "1", "DB_PATH": db, "ADDR": "127.0.0.1:0", "WEB_DIR": dir,
		"JWT_SECRET": "dbpath-test-secret-0123456789abcdef-0123", "LOG_FORMAT": "text"}
	var stderr bytes.Buffer
	code := run(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1; log:\n%s", code, &stderr)
	}
	if log := stderr.String(); !strings.Contains(log, "not an SQLite database") || !strings.Contains(log, db) {
		t.Errorf("log does not name the refused file %s:\n%s", db, log)
	}
	if got, err := os.ReadFile(db); err != nil || string(got) != "x" {
		t.Errorf("file after refusal: %q, %v; want the original 1 byte", got, err)
	}
}
