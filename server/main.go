// Command cosmic-server is the Cosmic Gardener realtime server: the
// WebSocket endpoint, the web client and the operator endpoints of
// protocol.md §11. Configuration comes from the environment (see
// docs/operations.md) and equivalent flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cosmic-gardener/realtime/server/app"
	"github.com/cosmic-gardener/realtime/server/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stderr))
}

func run(args []string, env func(string) (string, bool), stderr io.Writer) int {
	cfg, err := config.Load(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0 // -h: Load printed the flags and the variables
	}
	if err != nil {
		fmt.Fprintf(stderr, "cosmic-server: configuration: %v\n", err)
		return 2
	}
	log, closeLog, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "cosmic-server: %v\n", err)
		return 2
	}
	defer closeLog()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("listen failed", "addr", cfg.Addr, "err", err)
		if err := a.Shutdown(context.Background()); err != nil {
			log.Error("shutdown after a failed start", "err", err)
		}
		return 1
	}
	srv := app.NewHTTPServer(cfg, a.Handler(), slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	log.Info("listening", "addr", ln.Addr().String(), "url", "http://"+displayAddr(ln.Addr()), "dev_mode", cfg.DevMode,
		"store", storeName(cfg), "web_dir", cfg.WebDir, "heartbeat", cfg.HeartbeatInterval.String())

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		log.Error("serve failed", "err", err)
		if err := a.Shutdown(context.Background()); err != nil {
			log.Error("shutdown after a failed start", "err", err)
		}
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// http.Server.Shutdown does not touch hijacked WebSockets: the app
	// closes them with 1001 itself, concurrently.
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Shutdown(sctx) }()
	appErr := a.Shutdown(sctx)
	httpErr := <-httpDone
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
	}
	if appErr != nil || httpErr != nil {
		log.Error("shutdown incomplete", "app_err", appErr, "http_err", httpErr)
		return 1
	}
	log.Info("stopped")
	return 0
}

func newLogger(cfg config.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, nil, fmt.Errorf("LOG_LEVEL=%q: %w", cfg.LogLevel, err)
	}
	w, closer := stderr, func() {}
	if cfg.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o755); err != nil {
			return nil, nil, fmt.Errorf("LOG_FILE: %w", err)
		}
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("LOG_FILE: %w", err)
		}
		w, closer = io.MultiWriter(stderr, f), func() { f.Close() }
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	// Every line names the node, so that the logs of several nodes can be
	// merged and still be told apart.
	return slog.New(h).With("node", cfg.NodeID), closer, nil
}

func displayAddr(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") {
		return "localhost:" + strings.TrimPrefix(s, "[::]:")
	}
	if strings.HasPrefix(s, "0.0.0.0:") {
		return "localhost:" + strings.TrimPrefix(s, "0.0.0.0:")
	}
	return s
}

// storeName is what the start-up line says of the store: the SQLite path,
// or "postgres" (never DATABASE_URL, which may hold a password).
func storeName(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + cfg.DBPath
}
