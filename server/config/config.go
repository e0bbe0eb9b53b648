package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration.
type Config struct {
	Addr              string        // ADDR, default ":8080"
	JWTSecret         string        // JWT_SECRET, required unless DevMode
	JWTPublicKeyFile  string        // JWT_PUBLIC_KEY_FILE, optional PEM enabling RS256/ES256
	DBPath            string        // DB_PATH, default "data/cosmic.db"
	DBSync            string        // DB_SYNC, NORMAL (default) or FULL
	DBBusyTimeout     time.Duration // DB_BUSY_TIMEOUT, wait for a lock held by another connection; 0 means the store's default, 5s
	DevMode           bool          // DEV_MODE=1
	AllowedOrigins    []string      // ALLOWED_ORIGINS, comma-separated host patterns
	HeartbeatInterval time.Duration // HEARTBEAT_INTERVAL, default 30s
	MaxUpdatesPerSec  float64       // MAX_UPDATES_PER_SECOND, default 10
	MaxBytesPerSec    int           // MAX_BYTES_PER_SECOND per connection state budget, default 0 (unlimited)
	SessionRetention  time.Duration // SESSION_RETENTION, default 2m
	MaxSessionsUser   int           // MAX_SESSIONS_PER_USER, default 1000
	RateBurst         int           // RATE_BURST, default 200
	RatePerSecond     float64       // RATE_PER_SECOND, default 50
	LogFile           string        // LOG_FILE, optional
	LogFormat         string        // LOG_FORMAT, text (default) or json
	LogLevel          string        // LOG_LEVEL, debug|info (default)|warn|error
	WebDir            string        // WEB_DIR, default "web/dist"
	Pprof             bool          // PPROF=1 mounts /debug/pprof
	DevTokenTTL       time.Duration // DEV_TOKEN_TTL, default 24h
}

// Load reads env (a lookup like os.LookupEnv) and then args (flags).
func Load(args []string, env func(string) (string, bool), stderr io.Writer) (Config, error) {
	c := Config{
		Addr: ":8080", DBPath: "data/cosmic.db", DBSync: "NORMAL", HeartbeatInterval: 30 * time.Second,
		MaxUpdatesPerSec: 10, SessionRetention: 2 * time.Minute, MaxSessionsUser: 1000, RateBurst: 200,
		RatePerSecond: 50, LogFormat: "text", LogLevel: "info", WebDir: "web/dist", DevTokenTTL: 24 * time.Hour,
	}
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := env(name); ok && v != "" {
			*dst = v
		}
	}
	parse := func(name string, set func(string) error) {
		if v, ok := env(name); ok && v != "" {
			if err := set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	}
	str("ADDR", &c.Addr)
	str("JWT_SECRET", &c.JWTSecret)
	str("JWT_PUBLIC_KEY_FILE", &c.JWTPublicKeyFile)
	str("DB_PATH", &c.DBPath)
	str("DB_SYNC", &c.DBSync)
	str("LOG_FILE", &c.LogFile)
	str("LOG_FORMAT", &c.LogFormat)
	str("LOG_LEVEL", &c.LogLevel)
	str("WEB_DIR", &c.WebDir)
	parse("DEV_MODE", boolVar(&c.DevMode))
	parse("PPROF", boolVar(&c.Pprof))
	parse("ALLOWED_ORIGINS", listVar(&c.AllowedOrigins))
	parse("HEARTBEAT_INTERVAL", durationVar(&c.HeartbeatInterval))
	parse("SESSION_RETENTION", durationVar(&c.SessionRetention))
	parse("DB_BUSY_TIMEOUT", durationVar(&c.DBBusyTimeout))
	parse("DEV_TOKEN_TTL", durationVar(&c.DevTokenTTL))
	parse("MAX_UPDATES_PER_SECOND", floatVar(&c.MaxUpdatesPerSec))
	parse("RATE_PER_SECOND", floatVar(&c.RatePerSecond))
	parse("MAX_BYTES_PER_SECOND", intVar(&c.MaxBytesPerSec))
	parse("MAX_SESSIONS_PER_USER", intVar(&c.MaxSessionsUser))
	parse("RATE_BURST", intVar(&c.RateBurst))

	fs := flag.NewFlagSet("cosmic-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (ADDR)")
	fs.StringVar(&c.DBPath, "db", c.DBPath, "SQLite file (DB_PATH)")
	fs.BoolVar(&c.DevMode, "dev", c.DevMode, "development mode: dev-login and a development secret (DEV_MODE=1)")
	fs.StringVar(&c.LogFile, "log-file", c.LogFile, "also log to this file (LOG_FILE)")
	fs.StringVar(&c.WebDir, "web", c.WebDir, "directory of the web client (WEB_DIR)")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat", c.HeartbeatInterval, "heartbeat interval (HEARTBEAT_INTERVAL)")
	fs.Float64Var(&c.MaxUpdatesPerSec, "max-updates", c.MaxUpdatesPerSec, "state updates per second per connection (MAX_UPDATES_PER_SECOND)")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve /debug/pprof (PPROF=1)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}

	c.DBSync = strings.ToUpper(c.DBSync)
	switch {
	case c.JWTSecret == "" && c.JWTPublicKeyFile == "" && !c.DevMode:
		errs = append(errs, errors.New("JWT_SECRET is required unless DEV_MODE=1"))
	case c.DBSync != "NORMAL" && c.DBSync != "FULL":
		errs = append(errs, fmt.Errorf("DB_SYNC=%q: want NORMAL or FULL", c.DBSync))
	case c.HeartbeatInterval < 100*time.Millisecond:
		errs = append(errs, fmt.Errorf("HEARTBEAT_INTERVAL=%s: at least 100ms", c.HeartbeatInterval))
	case c.MaxUpdatesPerSec <= 0:
		errs = append(errs, errors.New("MAX_UPDATES_PER_SECOND must be positive"))
	case c.LogFormat != "text" && c.LogFormat != "json":
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q: want text or json", c.LogFormat))
	}
	return c, errors.Join(errs...)
}

func boolVar(dst *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		*dst = b
		return err
	}
}

func durationVar(dst *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err == nil && d <= 0 {
			err = errors.New("must be positive")
		}
		*dst = d
		return err
	}
}

func floatVar(dst *float64) func(string) error {
	return func(v string) (err error) { *dst, err = strconv.ParseFloat(v, 64); return err }
}

func intVar(dst *int) func(string) error {
	return func(v string) (err error) { *dst, err = strconv.Atoi(v); return err }
}

func listVar(dst *[]string) func(string) error {
	return func(v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*dst = append(*dst, p)
			}
		}
		return nil
	}
}
