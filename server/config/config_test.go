package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/auth"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestLoadRefusesOutOfRange: every value outside its documented range is
// an error naming the variable (issue 11 item 7: NaN, ±Inf, 1e-300, zero,
// negatives and 1ns used to pass and switch limits off).
func TestLoadRefusesOutOfRange(t *testing.T) {
	tests := []struct{ name, value string }{
		{"RATE_PER_SECOND", "NaN"},
		{"RATE_PER_SECOND", "0"},
		{"RATE_PER_SECOND", "-5"},
		{"RATE_PER_SECOND", "+Inf"},
		{"MAX_UPDATES_PER_SECOND", "NaN"},
		{"MAX_UPDATES_PER_SECOND", "+Inf"},
		{"MAX_UPDATES_PER_SECOND", "-Inf"},
		{"MAX_UPDATES_PER_SECOND", "1e-300"},
		{"MAX_UPDATES_PER_SECOND", "0"},
		{"MAX_UPDATES_PER_SECOND", "1001"},
		{"MAX_SESSIONS_PER_USER", "0"},
		{"MAX_SESSIONS_PER_USER", "-1"},
		{"MAX_SESSIONS_PER_USER", "ten"},
		{"RATE_BURST", "0"},
		{"RATE_BURST", "-200"},
		{"MAX_BYTES_PER_SECOND", "0"},
		{"MAX_BYTES_PER_SECOND", "-1"},
		{"MAX_BYTES_PER_SECOND", "1023"},
		{"SESSION_RETENTION", "1ns"},
		{"SESSION_RETENTION", "-1m"},
		{"SESSION_RETENTION", "25h"},
		{"HEARTBEAT_INTERVAL", "99ms"},
		{"HEARTBEAT_INTERVAL", "2h"},
		{"HEARTBEAT_INTERVAL", "30"},
		{"DEV_TOKEN_TTL", "0s"},
		{"DEV_MODE", "maybe"},
		{"DEV_MODE", "2"},
		{"PPROF", "enabled"},
		{"DB_SYNC", "OFF"},
		{"LOG_FORMAT", "xml"},
		{"LOG_LEVEL", "verbose"},
		{"LOG_LEVEL", "INFO+2"},
		{"ADDR", "8080"},
		{"JWT_SECRET", "short"},
		{"ALLOWED_ORIGINS", "http://user@app.example.com"},
		{"ALLOWED_ORIGINS", "ftp://app.example.com"},
		{"ALLOWED_ORIGINS", "app.example.com/path"},
		{"ALLOWED_ORIGINS", "[a-"},
		{"ALLOWED_ORIGINS", " , "},
		{"HTTP_READ_HEADER_TIMEOUT", "0s"},
		{"HTTP_READ_TIMEOUT", "1ms"},
		{"HTTP_WRITE_TIMEOUT", "-1s"},
		{"HTTP_IDLE_TIMEOUT", "2h"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			env := map[string]string{"DEV_MODE": "1", tt.name: tt.value}
			_, err := Load(nil, lookup(env), nil)
			if err == nil {
				t.Fatalf("%s=%q accepted", tt.name, tt.value)
			}
			if !strings.Contains(err.Error(), tt.name+"=") {
				t.Fatalf("error does not name %s: %v", tt.name, err)
			}
		})
	}
}

// TestLoadAccepts: values inside the ranges, bounds included, and the
// usual spellings of booleans.
func TestLoadAccepts(t *testing.T) {
	tests := []struct {
		env   map[string]string
		check func(Config) bool
	}{
		{map[string]string{"RATE_PER_SECOND": "0.1"}, func(c Config) bool { return c.RatePerSecond == 0.1 }},
		{map[string]string{"MAX_UPDATES_PER_SECOND": "1000"}, func(c Config) bool { return c.MaxUpdatesPerSec == 1000 }},
		{map[string]string{"MAX_BYTES_PER_SECOND": "1024"}, func(c Config) bool { return c.MaxBytesPerSec == 1024 }},
		{map[string]string{"MAX_SESSIONS_PER_USER": "1"}, func(c Config) bool { return c.MaxSessionsUser == 1 }},
		{map[string]string{"SESSION_RETENTION": "1s"}, func(c Config) bool { return c.SessionRetention == time.Second }},
		{map[string]string{"HEARTBEAT_INTERVAL": "100ms"}, func(c Config) bool { return c.HeartbeatInterval == 100*time.Millisecond }},
		{map[string]string{"HTTP_IDLE_TIMEOUT": "10ms"}, func(c Config) bool { return c.HTTPIdleTimeout == 10*time.Millisecond }},
		{map[string]string{"DB_SYNC": "full"}, func(c Config) bool { return c.DBSync == "FULL" }},
		{map[string]string{"LOG_LEVEL": "WARN", "LOG_FORMAT": "JSON"}, func(c Config) bool { return c.LogLevel == "warn" && c.LogFormat == "json" }},
		{map[string]string{"ALLOWED_ORIGINS": "app.example.com, https://*.trusted.test,"}, func(c Config) bool {
			return len(c.AllowedOrigins) == 2 && c.AllowedOrigins[1] == "https://*.trusted.test"
		}},
		{map[string]string{"MAX_BYTES_PER_SECOND": ""}, func(c Config) bool { return c.MaxBytesPerSec == 0 }}, // empty is unset
	}
	for _, spelling := range []string{"1", "t", "T", "true", "TRUE", "True", "yes", "YES", "on", "On"} {
		tests = append(tests, struct {
			env   map[string]string
			check func(Config) bool
		}{map[string]string{"PPROF": spelling}, func(c Config) bool { return c.Pprof }})
	}
	for _, spelling := range []string{"0", "f", "F", "false", "FALSE", "no", "No", "off", "OFF"} {
		tests = append(tests, struct {
			env   map[string]string
			check func(Config) bool
		}{map[string]string{"PPROF": spelling}, func(c Config) bool { return !c.Pprof }})
	}
	for _, tt := range tests {
		env := map[string]string{"JWT_SECRET": strings.Repeat("s", MinSecretBytes)}
		for k, v := range tt.env {
			env[k] = v
		}
		c, err := Load(nil, lookup(env), nil)
		if err != nil {
			t.Errorf("%v: %v", tt.env, err)
			continue
		}
		if !tt.check(c) {
			t.Errorf("%v: loaded %+v", tt.env, c)
		}
	}
}

func TestDevModeOffNeedsSecret(t *testing.T) {
	for _, v := range []string{"0", "false", "off", "no"} {
		_, err := Load(nil, lookup(map[string]string{"DEV_MODE": v}), nil)
		if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
			t.Errorf("DEV_MODE=%s without a secret: %v", v, err)
		}
	}
}

// TestFlags: flags win over variables and are held to the same ranges.
func TestFlags(t *testing.T) {
	env := lookup(map[string]string{"DEV_MODE": "1", "MAX_UPDATES_PER_SECOND": "5", "ADDR": ":1"})
	c, err := Load([]string{"-max-updates", "20", "-addr", "127.0.0.1:0", "-pprof"}, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxUpdatesPerSec != 20 || c.Addr != "127.0.0.1:0" || !c.Pprof || !c.DevMode {
		t.Fatalf("loaded %+v", c)
	}
	var out bytes.Buffer
	if _, err := Load([]string{"-max-updates", "NaN"}, env, &out); err == nil || !strings.Contains(err.Error(), "MAX_UPDATES_PER_SECOND") {
		t.Fatalf("-max-updates NaN: %v", err)
	}
	if _, err := Load([]string{"-dev=maybe"}, env, &out); err == nil || !strings.Contains(err.Error(), "DEV_MODE") {
		t.Fatalf("-dev=maybe: %v", err)
	}
}

// TestHelp: -h prints the flags and every variable with its range, and is
// reported as flag.ErrHelp (main exits 0 on it).
func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out bytes.Buffer
		_, err := Load([]string{arg}, lookup(nil), &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s: %v", arg, err)
		}
		for _, want := range []string{"-addr", "-max-updates", "HEARTBEAT_INTERVAL", "100ms to 1h", "RATE_PER_SECOND", "0.1 to 1000000"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: usage lacks %q:\n%s", arg, want, out.String())
			}
		}
		for _, s := range Settings() {
			if !strings.Contains(out.String(), s.Name) {
				t.Errorf("%s: usage lacks %s", arg, s.Name)
			}
		}
	}
}

// TestSettingsDocumented: docs/operations.md has a row for every setting
// giving its range, and each documented default is what Defaults holds
// (checked by loading the default as a value where it is one).
func TestSettingsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		row := ""
		for line := range strings.Lines(string(doc)) {
			if strings.HasPrefix(line, "| `"+s.Name+"`") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("docs/operations.md has no row for %s", s.Name)
			continue
		}
		if !strings.Contains(row, s.Range) {
			t.Errorf("docs/operations.md row for %s lacks the range %q:\n%s", s.Name, s.Range, row)
		}
		if !strings.Contains(row, s.Default) {
			t.Errorf("docs/operations.md row for %s lacks the default %q:\n%s", s.Name, s.Default, row)
		}
		if strings.HasPrefix(s.Default, "none") || strings.HasPrefix(s.Default, "unset") {
			continue // documented as absent, not a value to load
		}
		c := Defaults()
		if s.set(&c, s.Default) == nil && !sameConfig(c, Defaults()) {
			t.Errorf("%s: documented default %q differs from Defaults()", s.Name, s.Default)
		}
	}
}

// sameConfig compares every field, so a new setting cannot be left out.
func sameConfig(a, b Config) bool { return reflect.DeepEqual(a, b) }

func TestMinSecretBytes(t *testing.T) {
	if MinSecretBytes != auth.MinSecretBytes {
		t.Fatalf("config.MinSecretBytes %d, auth.MinSecretBytes %d", MinSecretBytes, auth.MinSecretBytes)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "24h", time.Hour: "1h", 10 * time.Minute: "10m", 30 * time.Second: "30s",
		100 * time.Millisecond: "100ms", 90 * time.Minute: "1h30m", 61 * time.Second: "1m1s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestDatabaseURL: DATABASE_URL takes postgres:// and postgresql:// URLs
// only, and an error never shows the value (it may hold a password).
func TestDatabaseURL(t *testing.T) {
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			switch k {
			case "DATABASE_URL":
				return v, true
			case "DEV_MODE":
				return "1", true
			}
			return "", false
		}
	}
	for _, good := range []string{"postgres://u:pw@db.example:5432/cosmic?sslmode=require", "postgresql:///cosmic?host=/run/postgresql"} {
		c, err := Load(nil, env(good), io.Discard)
		if err != nil || c.DatabaseURL != good {
			t.Errorf("Load(DATABASE_URL=%s) = %q, %v", good, c.DatabaseURL, err)
		}
	}
	for _, bad := range []string{"mysql://u:secret@h/db", "secret", "http://u:secret@h/db", "postgres://u:secret@h:x%zz/db"} {
		_, err := Load(nil, env(bad), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "secret") {
			t.Errorf("Load(DATABASE_URL=%s) = %v; want an error naming the variable, not the value", bad, err)
		}
	}
	if c := Defaults(); c.DatabaseURL != "" {
		t.Errorf("default DatabaseURL %q", c.DatabaseURL)
	}
}

// TestNATSURL: NATS_URL takes a comma-separated list of NATS URLs, and an
// error never shows the value (it may hold credentials).
func TestNATSURL(t *testing.T) {
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			switch k {
			case "NATS_URL":
				return v, true
			case "DEV_MODE":
				return "1", true
			}
			return "", false
		}
	}
	for _, good := range []string{"nats://127.0.0.1:4222", "nats://u:pw@a:4222,nats://b:4222, tls://c:4222", "wss://nats.example"} {
		c, err := Load(nil, env(good), io.Discard)
		if err != nil || c.NATSURL != good {
			t.Errorf("Load(NATS_URL=%s) = %q, %v", good, c.NATSURL, err)
		}
	}
	for _, bad := range []string{"http://u:secret@h:4222", "secret", "nats://u:secret@a:4222,", "nats://u:secret@h:x%zz", "nats:///secret"} {
		_, err := Load(nil, env(bad), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "NATS_URL") || strings.Contains(err.Error(), "secret") {
			t.Errorf("Load(NATS_URL=%s) = %v; want an error naming the variable, not the value", bad, err)
		}
	}
	if c := Defaults(); c.NATSURL != "" || c.ReconcileInterval != 2*time.Second {
		t.Errorf("defaults: NATSURL %q, ReconcileInterval %v", c.NATSURL, c.ReconcileInterval)
	}
}

// TestNodeID: NODE_ID takes a short name of log- and URL-safe characters;
// without it every Load picks a different default of the same shape.
func TestNodeID(t *testing.T) {
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			switch k {
			case "NODE_ID":
				return v, v != ""
			case "DEV_MODE":
				return "1", true
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"node-1", "node-1", true},
		{" web_2.eu ", "web_2.eu", true},
		{strings.Repeat("a", 64), strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), "", false},
		{"node 1", "", false},
		{"nöde", "", false},
		{"a=b", "", false},
	} {
		c, err := Load(nil, env(tc.in), io.Discard)
		if tc.ok && (err != nil || c.NodeID != tc.want) {
			t.Errorf("NODE_ID=%q: got %q, %v; want %q", tc.in, c.NodeID, err, tc.want)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "NODE_ID")) {
			t.Errorf("NODE_ID=%q: got %v, want an error naming NODE_ID", tc.in, err)
		}
	}
	a, errA := Load(nil, env(""), io.Discard)
	b, errB := Load(nil, env(""), io.Discard)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	for _, id := range []string{a.NodeID, b.NodeID} {
		var c Config
		if err := setNodeID(&c, id); err != nil || !regexp.MustCompile(`-[0-9a-f]{4}$`).MatchString(id) {
			t.Errorf("default node id %q: %v; want a valid id ending in 4 hex digits", id, err)
		}
	}
	if a.NodeID == b.NodeID {
		// 1 in 65 536 by chance; twice in a row means the suffix is not random.
		if c, _ := Load(nil, env(""), io.Discard); c.NodeID == a.NodeID {
			t.Errorf("three loads gave the same node id %q", a.NodeID)
		}
	}
}
