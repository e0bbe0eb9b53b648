package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recordsFixture is one player's records as the web client makes them:
// a 36-byte user id (a UUID subject), ids `<device>.<load>-<n>` of about 30
// bytes, and the ActionResult of a created body (about 110 bytes).
func recordsFixture(n int) (user string, id func(int) string, result func(int) []byte) {
	user = "6f1c2a4e-9b7d-4c1e-8a3f-2d5e7b9c0a1f"
	id = func(i int) string { return fmt.Sprintf("k3j9x0qz1m2a.p8r4w1-%d", i) }
	result = func(i int) []byte {
		return fmt.Appendf(nil, `{"success":true,"message":"asteroid created","body_id":"b-k3j9x0qz1m2a.p8r4w1-%d","version":%d}`, i, i+1)
	}
	return user, id, result
}

// fileBytes returns the size of the database file at path, which Close
// has checkpointed: tables and indexes, no WAL.
func fileBytes(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkLookupAction measures what a player's idempotency records cost:
// disk-bytes/record is the growth of the database file (tables and
// indexes, after a checkpoint) per record with 100 000 records of one
// player; ns/op is one point read on (user_id, action_id) among them, the
// read that every new action makes (miss) and that a replay makes (hit).
func BenchmarkLookupAction(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "cosmic.db")
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	empty := fileBytes(b, path)
	if s, err = Open(ctx, Config{Path: path}); err != nil {
		b.Fatal(err)
	}
	user, id, result := recordsFixture(n)
	for i := 0; i < n; i += 1000 {
		var c Commit
		for j := i; j < i+1000; j++ {
			c.Actions = append(c.Actions, ActionRecord{UserID: user, ActionID: id(j), Result: result(j)})
		}
		if err := s.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	perRecord := float64(fileBytes(b, path)-empty) / n
	if s, err = Open(ctx, Config{Path: path}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name string
		id   func(int) string
		want bool
	}{
		{"miss", func(i int) string { return id(n + i) }, false},
		{"hit", func(i int) string { return id(i * 7919 % n) }, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, ok, err := s.LookupAction(ctx, user, tc.id(i)); err != nil || ok != tc.want {
					b.Fatalf("LookupAction = %v, %v; want found %v", ok, err, tc.want)
				}
			}
			b.ReportMetric(perRecord, "disk-bytes/record")
		})
	}
}
