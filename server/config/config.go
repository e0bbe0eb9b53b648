package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Config is the server's configuration. Settings lists every field's
// variable, default and valid range.
type Config struct {
	Addr             string        // ADDR, default ":8080"
	JWTSecret        string        // JWT_SECRET, required unless DevMode
	JWTPublicKeyFile string        // JWT_PUBLIC_KEY_FILE, optional PEM enabling RS256/ES256
	DBPath           string        // DB_PATH, default "data/cosmic.db"
	DBSync           string        // DB_SYNC, NORMAL (default) or FULL
	DBBusyTimeout    time.Duration // DB_BUSY_TIMEOUT, default 5s: how long a commit waits for a lock held by another connection
	// DatabaseURL (DATABASE_URL) selects the PostgreSQL store instead of
	// SQLite at DBPath; it may hold a password and is never logged.
	DatabaseURL        string
	DBPoolSize         int           // DB_POOL_SIZE, PostgreSQL connections, default 16
	DBStatementTimeout time.Duration // DB_STATEMENT_TIMEOUT, PostgreSQL statement_timeout, default 5s
	DBConnectTimeout   time.Duration // DB_CONNECT_TIMEOUT, how long start-up waits for PostgreSQL, default 30s
	DevMode            bool          // DEV_MODE
	AllowedOrigins     []string      // ALLOWED_ORIGINS, comma-separated host patterns
	HeartbeatInterval  time.Duration // HEARTBEAT_INTERVAL, default 30s
	MaxUpdatesPerSec   float64       // MAX_UPDATES_PER_SECOND, default 10
	MaxBytesPerSec     int           // MAX_BYTES_PER_SECOND per connection state budget, default 0 (unlimited)
	SessionRetention   time.Duration // SESSION_RETENTION, default 2m
	MaxSessionsUser    int           // MAX_SESSIONS_PER_USER, default 1000
	RateBurst          int           // RATE_BURST, default 200
	RatePerSecond      float64       // RATE_PER_SECOND, default 50
	LogFile            string        // LOG_FILE, optional
	LogFormat          string        // LOG_FORMAT, text (default) or json
	LogLevel           string        // LOG_LEVEL, debug|info (default)|warn|error
	WebDir             string        // WEB_DIR, default "web/dist"
	Pprof              bool          // PPROF mounts /debug/pprof
	WSPlainBuffers     bool          // WS_PLAIN_BUFFERS: coder/websocket's own buffers, no cork or idle one-byte wait
	DevTokenTTL        time.Duration // DEV_TOKEN_TTL, default 24h
	// NodeID (NODE_ID) names this process among several nodes: in every
	// log line and in /api/config. Load fills an unset one with
	// DefaultNodeID.
	NodeID string

	// The plain HTTP server's timeouts (hijacked WebSockets keep their own
	// heartbeat instead): see app.NewHTTPServer.
	HTTPReadHeaderTimeout time.Duration // HTTP_READ_HEADER_TIMEOUT, default 5s
	HTTPReadTimeout       time.Duration // HTTP_READ_TIMEOUT, default 10s
	HTTPWriteTimeout      time.Duration // HTTP_WRITE_TIMEOUT, default 90s
	HTTPIdleTimeout       time.Duration // HTTP_IDLE_TIMEOUT, default 30s

	// NATSURL (NATS_URL) turns on cross-node fan-out over NATS; empty is
	// a single node. It may hold credentials and is never logged.
	NATSURL           string
	ReconcileInterval time.Duration // RECONCILE_INTERVAL, cross-node version check, default 2s
}

// MinSecretBytes is the shortest JWT_SECRET accepted; auth.MinSecretBytes
// (a test keeps them equal). Checking it here lets a short secret stop the
// server with exit code 2 like every other invalid setting.
const MinSecretBytes = 32

// Setting describes one environment variable: the documentation table in
// docs/operations.md and the -h text are checked against these.
type Setting struct {
	Name    string // environment variable
	Flag    string // equivalent flag without the dash, "" for none
	Default string // as documented
	Range   string // the values accepted; anything else stops the server
	Usage   string // one line
	set     func(c *Config, v string) error
	isBool  bool // the flag may be given without a value
}

// Settings returns every setting, in documentation order.
func Settings() []Setting {
	return []Setting{
		{Name: "ADDR", Flag: "addr", Default: ":8080", Range: "host:port (host may be empty, port 0-65535 or a service name)",
			Usage: "listen address", set: func(c *Config, v string) error {
				if _, _, err := net.SplitHostPort(v); err != nil {
					return fmt.Errorf("want host:port: %w", err)
				}
				c.Addr = v
				return nil
			}},
		{Name: "JWT_SECRET", Default: "none", Range: fmt.Sprintf("at least %d bytes; required unless DEV_MODE is true or JWT_PUBLIC_KEY_FILE is set", MinSecretBytes),
			Usage: "HS256 secret", set: func(c *Config, v string) error {
				if len(v) < MinSecretBytes {
					// The value is a secret: the message gives its length only.
					return fmt.Errorf("%d bytes, want at least %d", len(v), MinSecretBytes)
				}
				c.JWTSecret = v
				return nil
			}},
		{Name: "JWT_PUBLIC_KEY_FILE", Default: "none", Range: "a readable PEM file (checked at start, exit code 1)",
			Usage: "public key that also allows RS256/ES256 tokens", set: stringSetter(func(c *Config) *string { return &c.JWTPublicKeyFile })},
		{Name: "DB_PATH", Flag: "db", Default: "data/cosmic.db", Range: "a file path", Usage: "SQLite file",
			set: stringSetter(func(c *Config) *string { return &c.DBPath })},
		{Name: "DB_SYNC", Default: "NORMAL", Range: "NORMAL or FULL (any case)", Usage: "SQLite synchronous mode",
			set: oneOf(func(c *Config) *string { return &c.DBSync }, strings.ToUpper, "NORMAL", "FULL")},
		{Name: "DB_BUSY_TIMEOUT", Default: "5s", Range: "10ms to 10m",
			Usage: "how long a commit waits for a lock held by another connection", set: durationIn(func(c *Config) *time.Duration { return &c.DBBusyTimeout }, 10*time.Millisecond, 10*time.Minute)},
		{Name: "DATABASE_URL", Default: "none (SQLite at DB_PATH)", Range: "a postgres:// or postgresql:// URL",
			Usage: "PostgreSQL store instead of SQLite", set: setDatabaseURL},
		{Name: "DB_POOL_SIZE", Default: "16", Range: "1 to 1000",
			Usage: "PostgreSQL connections per server", set: intIn(func(c *Config) *int { return &c.DBPoolSize }, 1, 1000)},
		{Name: "DB_STATEMENT_TIMEOUT", Default: "5s", Range: "10ms to 10m",
			Usage: "PostgreSQL statement_timeout", set: durationIn(func(c *Config) *time.Duration { return &c.DBStatementTimeout }, 10*time.Millisecond, 10*time.Minute)},
		{Name: "DB_CONNECT_TIMEOUT", Default: "30s", Range: "1s to 1h",
			Usage: "how long start-up keeps trying to reach PostgreSQL", set: durationIn(func(c *Config) *time.Duration { return &c.DBConnectTimeout }, time.Second, time.Hour)},
		{Name: "NATS_URL", Default: "none (a single node)", Range: "comma-separated nats://, tls://, ws:// or wss:// URLs of one NATS cluster",
			Usage: "cross-node fan-out over NATS, with DATABASE_URL", set: setNATSURL},
		{Name: "RECONCILE_INTERVAL", Default: "2s", Range: "100ms to 1h",
			Usage: "how often a node checks its gardens' versions against the store (with NATS_URL)", set: durationIn(func(c *Config) *time.Duration { return &c.ReconcileInterval }, 100*time.Millisecond, time.Hour)},
		{Name: "NODE_ID", Flag: "node", Default: "unset (the host name, a dash and 4 random hex digits)", Range: "1 to 64 characters from A-Z a-z 0-9 . _ -",
			Usage: "this node's name in logs and /api/config", set: setNodeID},
		{Name: "DEV_MODE", Flag: "dev", Default: "false", Range: boolRange, isBool: true,
			Usage: "development mode: dev-login and a development secret", set: boolSetter(func(c *Config) *bool { return &c.DevMode })},
		{Name: "ALLOWED_ORIGINS", Default: "none (the server's own origin only)", Range: "comma-separated path.Match patterns of a host, or of scheme://host with scheme http or https; no userinfo, path or query",
			Usage: "browser origins allowed on /api/ws besides the server's own", set: setOrigins},
		{Name: "HEARTBEAT_INTERVAL", Flag: "heartbeat", Default: "30s", Range: "100ms to 1h",
			Usage: "heartbeat interval; silence for two closes with 4408", set: durationIn(func(c *Config) *time.Duration { return &c.HeartbeatInterval }, 100*time.Millisecond, time.Hour)},
		{Name: "MAX_UPDATES_PER_SECOND", Flag: "max-updates", Default: "10", Range: "0.1 to 1000",
			Usage: "state updates per second per connection", set: floatIn(func(c *Config) *float64 { return &c.MaxUpdatesPerSec }, 0.1, 1000)},
		{Name: "MAX_BYTES_PER_SECOND", Default: "unset (unlimited)", Range: "1024 to 1073741824",
			Usage: "per-connection byte budget for state updates", set: intIn(func(c *Config) *int { return &c.MaxBytesPerSec }, 1024, 1<<30)},
		{Name: "SESSION_RETENTION", Default: "2m", Range: "1s to 24h",
			Usage: "how long a session outlives its connection", set: durationIn(func(c *Config) *time.Duration { return &c.SessionRetention }, time.Second, 24*time.Hour)},
		{Name: "MAX_SESSIONS_PER_USER", Default: "1000", Range: "1 to 1000000",
			Usage: "sessions (devices) per user", set: intIn(func(c *Config) *int { return &c.MaxSessionsUser }, 1, 1_000_000)},
		{Name: "RATE_BURST", Default: "200", Range: "1 to 1000000",
			Usage: "inbound messages a connection may send at once", set: intIn(func(c *Config) *int { return &c.RateBurst }, 1, 1_000_000)},
		{Name: "RATE_PER_SECOND", Default: "50", Range: "0.1 to 1000000",
			Usage: "inbound messages per second sustained per connection", set: floatIn(func(c *Config) *float64 { return &c.RatePerSecond }, 0.1, 1_000_000)},
		{Name: "LOG_FILE", Flag: "log-file", Default: "none", Range: "a file path", Usage: "also append logs to this file",
			set: stringSetter(func(c *Config) *string { return &c.LogFile })},
		{Name: "LOG_FORMAT", Default: "text", Range: "text or json (any case)", Usage: "log format",
			set: oneOf(func(c *Config) *string { return &c.LogFormat }, strings.ToLower, "text", "json")},
		{Name: "LOG_LEVEL", Default: "info", Range: "debug, info, warn or error (any case)", Usage: "least level logged",
			set: oneOf(func(c *Config) *string { return &c.LogLevel }, strings.ToLower, "debug", "info", "warn", "error")},
		{Name: "WEB_DIR", Flag: "web", Default: "web/dist", Range: "a directory path", Usage: "the built web client",
			set: stringSetter(func(c *Config) *string { return &c.WebDir })},
		{Name: "PPROF", Flag: "pprof", Default: "false", Range: boolRange, isBool: true,
			Usage: "serve /debug/pprof/", set: boolSetter(func(c *Config) *bool { return &c.Pprof })},
		{Name: "WS_PLAIN_BUFFERS", Default: "false", Range: boolRange, isBool: true,
			Usage: "accept WebSockets on net/http's buffers and coder/websocket's own read/write path (rules out server/ws/buffers.go)",
			set:   boolSetter(func(c *Config) *bool { return &c.WSPlainBuffers })},
		{Name: "DEV_TOKEN_TTL", Default: "24h", Range: "1s to 720h",
			Usage: "lifetime of dev-login tokens", set: durationIn(func(c *Config) *time.Duration { return &c.DevTokenTTL }, time.Second, 720*time.Hour)},
		{Name: "HTTP_READ_HEADER_TIMEOUT", Default: "5s", Range: "10ms to 10m",
			Usage: "time to read a request's headers", set: durationIn(func(c *Config) *time.Duration { return &c.HTTPReadHeaderTimeout }, 10*time.Millisecond, 10*time.Minute)},
		{Name: "HTTP_READ_TIMEOUT", Default: "10s", Range: "10ms to 10m",
			Usage: "time to read a whole request, body included", set: durationIn(func(c *Config) *time.Duration { return &c.HTTPReadTimeout }, 10*time.Millisecond, 10*time.Minute)},
		{Name: "HTTP_WRITE_TIMEOUT", Default: "90s", Range: "10ms to 1h",
			Usage: "time from the end of a request's headers to the end of its response", set: durationIn(func(c *Config) *time.Duration { return &c.HTTPWriteTimeout }, 10*time.Millisecond, time.Hour)},
		{Name: "HTTP_IDLE_TIMEOUT", Default: "30s", Range: "10ms to 1h",
			Usage: "how long an idle keep-alive connection stays open", set: durationIn(func(c *Config) *time.Duration { return &c.HTTPIdleTimeout }, 10*time.Millisecond, time.Hour)},
	}
}

// Defaults returns the configuration with every setting at its default
// (JWT_SECRET empty, which Load refuses outside development mode).
func Defaults() Config {
	return Config{
		Addr: ":8080", DBPath: "data/cosmic.db", DBSync: "NORMAL", DBBusyTimeout: 5 * time.Second, HeartbeatInterval: 30 * time.Second,
		DBPoolSize: 16, DBStatementTimeout: 5 * time.Second, DBConnectTimeout: 30 * time.Second, ReconcileInterval: 2 * time.Second,
		MaxUpdatesPerSec: 10, SessionRetention: 2 * time.Minute, MaxSessionsUser: 1000, RateBurst: 200,
		RatePerSecond: 50, LogFormat: "text", LogLevel: "info", WebDir: "web/dist", DevTokenTTL: 24 * time.Hour,
		HTTPReadHeaderTimeout: 5 * time.Second, HTTPReadTimeout: 10 * time.Second,
		HTTPWriteTimeout: 90 * time.Second, HTTPIdleTimeout: 30 * time.Second,
	}
}

// Load reads env (a lookup like os.LookupEnv) and then args (flags); a flag
// wins over its variable. An empty variable counts as unset. Every value
// outside its Setting's range is an error naming the variable; all of them
// are reported at once. With -h or -help it writes the usage to stderr
// and returns an error wrapping flag.ErrHelp.
func Load(args []string, env func(string) (string, bool), stderr io.Writer) (Config, error) {
	c := Defaults()
	var errs []error
	settings := Settings()
	for _, s := range settings {
		v, ok := env(s.Name)
		if !ok || v == "" {
			continue
		}
		if err := s.set(&c, v); err != nil {
			shown := strconv.Quote(v)
			if s.Name == "JWT_SECRET" || s.Name == "DATABASE_URL" || s.Name == "NATS_URL" {
				shown = "(hidden)"
			}
			errs = append(errs, fmt.Errorf("%s=%s: %w", s.Name, shown, err))
		}
	}

	fs := flag.NewFlagSet("cosmic-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { Usage(fs.Output(), fs) }
	for _, s := range settings {
		if s.Flag == "" {
			continue
		}
		set := func(v string) error {
			if err := s.set(&c, v); err != nil {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			return nil
		}
		usage := fmt.Sprintf("%s (%s, default %s; %s)", s.Usage, s.Name, s.Default, s.Range)
		if s.isBool {
			fs.BoolFunc(s.Flag, usage, set)
		} else {
			fs.Func(s.Flag, usage, set)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, fmt.Errorf("usage printed: %w", err)
		}
		return Config{}, fmt.Errorf("flags: %w", err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if c.NodeID == "" {
		c.NodeID = DefaultNodeID()
	}
	if c.JWTSecret == "" && c.JWTPublicKeyFile == "" && !c.DevMode {
		errs = append(errs, errors.New("JWT_SECRET is required unless DEV_MODE is true"))
	}
	return c, errors.Join(errs...)
}

// Usage writes the flags of fs and every environment variable with its
// default and range: what `cosmic-server -h` prints.
func Usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: cosmic-server [flags]\n\nThe Cosmic Gardener realtime server. Configuration comes from the\nenvironment; a flag wins over its variable. A value outside its range\nstops the server with exit code 2.\n\nFlags:\n")
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nEnvironment:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  VARIABLE\tDEFAULT\tVALID\n")
	for _, s := range Settings() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, s.Default, s.Range)
	}
	_ = tw.Flush()
}

const boolRange = "1, t, true, yes, on or 0, f, false, no, off (any case)"

// parseBool accepts the usual spellings of true and false, and nothing
// else: strconv.ParseBool's set plus yes/no and on/off, case-insensitive.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "yes", "on":
		return true, nil
	case "0", "f", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("want true or false (1, t, true, yes, on / 0, f, false, no, off)")
}

func boolSetter(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		*field(c) = b
		return nil
	}
}

func stringSetter(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be blank")
		}
		*field(c) = v
		return nil
	}
}

// oneOf accepts v when norm(v) is one of values.
func oneOf(field func(*Config) *string, norm func(string) string, values ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		n := norm(strings.TrimSpace(v))
		for _, ok := range values {
			if n == ok {
				*field(c) = n
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(values, ", "))
	}
}

func durationIn(field func(*Config) *time.Duration, lo, hi time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want a Go duration such as 30s: %w", err)
		}
		if d < lo || d > hi {
			return fmt.Errorf("want %s to %s", shortDuration(lo), shortDuration(hi))
		}
		*field(c) = d
		return nil
	}
}

// shortDuration writes d as the documentation does: 24h, not 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// floatIn refuses NaN and ±Inf explicitly: NaN compares false with every
// bound, and the limiters downstream treat a non-finite rate as "off".
func floatIn(field func(*Config) *float64, lo, hi float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("want a number: %w", err)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || f < lo || f > hi {
			return fmt.Errorf("want a finite number from %g to %g", lo, hi)
		}
		*field(c) = f
		return nil
	}
}

func intIn(field func(*Config) *int, lo, hi int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want an integer: %w", err)
		}
		if n < lo || n > hi {
			return fmt.Errorf("want %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

// DefaultNodeID is the node id of a server without NODE_ID: the host name
// (its first label, cut to 32 characters, other characters replaced by
// '-') and 4 random hex digits, so that two processes on one host differ
// and a restarted process is told apart from its predecessor in the logs.
func DefaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	host, _, _ = strings.Cut(host, ".")
	if len(host) > 32 {
		host = host[:32]
	}
	host = strings.Map(func(r rune) rune {
		if nodeIDRune(r) {
			return r
		}
		return '-'
	}, host)
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return host + "-" + hex.EncodeToString(b[:])
}

func nodeIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// setNodeID keeps node ids to characters that need no quoting in a log
// line, a metric label or a URL.
func setNodeID(c *Config, v string) error {
	v = strings.TrimSpace(v)
	if len(v) == 0 || len(v) > 64 || strings.IndexFunc(v, func(r rune) bool { return !nodeIDRune(r) }) >= 0 {
		return errors.New("want 1 to 64 characters from A-Z a-z 0-9 . _ -")
	}
	c.NodeID = v
	return nil
}

// setDatabaseURL accepts a postgres:// or postgresql:// URL with a host or
// a host query parameter (a unix socket directory). Its errors never quote
// the value, which may hold a password.
func setDatabaseURL(c *Config, v string) error {
	u, err := url.Parse(strings.TrimSpace(v))
	switch {
	case err != nil:
		return errors.New("want a postgres:// or postgresql:// URL (it does not parse)")
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return errors.New("want a postgres:// or postgresql:// URL")
	}
	c.DatabaseURL = strings.TrimSpace(v)
	return nil
}

// setNATSURL accepts NATS's comma-separated server list. Its errors never
// quote the value, which may hold credentials.
func setNATSURL(c *Config, v string) error {
	v = strings.TrimSpace(v)
	for i, part := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		switch {
		case err != nil:
			return fmt.Errorf("URL %d does not parse", i+1)
		case u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss":
			return fmt.Errorf("URL %d: want a nats://, tls://, ws:// or wss:// URL", i+1)
		case u.Host == "":
			return fmt.Errorf("URL %d: no host", i+1)
		}
	}
	c.NATSURL = v
	return nil
}

// setOrigins checks each pattern: a bad path.Match pattern would match
// nothing, silently; userinfo, a path or another scheme can never match a
// browser's Origin header.
func setOrigins(c *Config, v string) error {
	var list []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		host := p
		if scheme, rest, ok := strings.Cut(p, "://"); ok {
			if scheme != "http" && scheme != "https" {
				return fmt.Errorf("pattern %q: scheme must be http or https", p)
			}
			host = rest
		}
		if host == "" || strings.ContainsAny(host, "@/?#") {
			return fmt.Errorf("pattern %q: want a host pattern, without userinfo, path or query", p)
		}
		if _, err := path.Match(host, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
		list = append(list, p)
	}
	if len(list) == 0 {
		return errors.New("no pattern")
	}
	c.AllowedOrigins = list
	return nil
}
