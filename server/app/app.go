package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/cosmic-gardener/realtime/server/auth"
	"github.com/cosmic-gardener/realtime/server/bus"
	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/garden"
	"github.com/cosmic-gardener/realtime/server/metrics"
	"github.com/cosmic-gardener/realtime/server/sendq"
	"github.com/cosmic-gardener/realtime/server/session"
	"github.com/cosmic-gardener/realtime/server/store"
	"github.com/cosmic-gardener/realtime/server/ws"
)

// Store is what the app needs of the durable store, SQLite or PostgreSQL:
// the garden's methods, health for /readyz, and Close at shutdown.
type Store interface {
	garden.Store
	// Healthy returns nil while the latest commit committed (no I/O).
	Healthy() error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Versions is the cross-node reconciliation's batched version query.
	Versions(ctx context.Context, userIDs []string) (map[string]uint64, error)
	Close() error
}

// App is the assembled server. Create with New, serve Handler, stop with
// Shutdown.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	store    Store
	gardens  *garden.Manager
	bus      *bus.Bus       // nil without NATS_URL
	remote   *garden.Remote // nil without NATS_URL
	sessions *session.Manager
	ws       *ws.Server
	metrics  *metrics.Metrics
	issuer   *auth.Issuer // dev mode only
	router   http.Handler
	ready    atomic.Bool
}

// New opens the store and builds the server. On error nothing is left
// running.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, log: log}
	secret := []byte(cfg.JWTSecret)
	if len(secret) == 0 && cfg.DevMode {
		secret = []byte(auth.DevSecret)
		log.Warn("DEV_MODE without JWT_SECRET: using the insecure development secret")
	}
	var pub []byte
	if cfg.JWTPublicKeyFile != "" {
		var err error
		if pub, err = os.ReadFile(cfg.JWTPublicKeyFile); err != nil {
			return nil, fmt.Errorf("read JWT_PUBLIC_KEY_FILE: %w", err)
		}
	}
	verifier, err := auth.NewVerifier(auth.Config{HS256Secret: secret, PublicKeyPEM: pub})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if cfg.DevMode && len(secret) > 0 {
		if a.issuer, err = auth.NewIssuer(secret, nil); err != nil {
			return nil, fmt.Errorf("dev issuer: %w", err)
		}
	}

	a.metrics = metrics.New(metrics.Gauges{GardensLoaded: func() int {
		if a.gardens == nil {
			return 0
		}
		return a.gardens.Loaded()
	}})
	if a.store, err = openStore(ctx, cfg, log, a.metrics); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// A garden shows its devices at most one version step per update
	// interval: the steps every current device asks for, computed once.
	flush := time.Duration(float64(time.Second) / cfg.MaxUpdatesPerSec)
	if a.gardens, err = garden.New(garden.Config{Store: a.store, Logger: log, Observer: a.metrics, FlushInterval: flush}); err != nil {
		return nil, errors.Join(err, a.store.Close())
	}
	if err := a.startBus(cfg, log); err != nil {
		return nil, errors.Join(err, a.store.Close())
	}
	a.sessions, err = session.New(session.Config{
		Gardens: a.gardens, Retention: cfg.SessionRetention, MaxPerUser: cfg.MaxSessionsUser, Observer: a.metrics,
		Queue: sendq.Config{UpdatesPerSecond: cfg.MaxUpdatesPerSec, BytesPerSecond: cfg.MaxBytesPerSec},
	})
	if err != nil {
		a.stopBus()
		return nil, errors.Join(err, a.store.Close())
	}
	a.ws, err = ws.New(ws.Config{
		Verifier: verifier, Sessions: a.sessions, Logger: log, Observer: a.metrics,
		HeartbeatInterval: cfg.HeartbeatInterval, AllowedOrigins: cfg.AllowedOrigins,
		RateBurst: cfg.RateBurst, RatePerSecond: cfg.RatePerSecond, PlainBuffers: cfg.WSPlainBuffers,
	})
	if err != nil {
		a.sessions.Close()
		a.stopBus()
		return nil, errors.Join(err, a.store.Close())
	}
	a.router = a.routes()
	a.ready.Store(true)
	return a, nil
}

// startBus connects to NATS when NATS_URL is set and keeps the gardens
// current with what other nodes commit. NATS unreachable is not an error
// (the bus retries in the background); a bad URL is.
func (a *App) startBus(cfg config.Config, log *slog.Logger) error {
	if cfg.NATSURL == "" {
		return nil
	}
	if cfg.DatabaseURL == "" {
		log.Warn("NATS_URL without DATABASE_URL: only nodes sharing this SQLite file (one machine) see each other's versions")
	}
	// The bus id is random, not NODE_ID: a node ignores messages carrying
	// its own id, so two nodes given one name by mistake would miss each
	// other's versions.
	b, err := bus.New(bus.Config{URL: cfg.NATSURL, Logger: log, Observer: a.metrics})
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	r, err := a.gardens.StartRemote(garden.RemoteConfig{Bus: b, Store: a.store, Observer: a.metrics, ReconcileInterval: cfg.ReconcileInterval})
	if err != nil {
		b.Close()
		return fmt.Errorf("bus: %w", err)
	}
	b.Start(r)
	a.bus, a.remote = b, r
	log.Info("cross-node fan-out on", "bus_id", b.NodeID(), "reconcile_interval", cfg.ReconcileInterval.String())
	return nil
}

// stopBus drains the NATS connection, then stops the reconciliation.
func (a *App) stopBus() {
	if a.bus != nil {
		a.bus.Close()
		a.remote.Close()
	}
}

// openStore opens PostgreSQL when DATABASE_URL is set (and then never
// touches DB_PATH), SQLite at DB_PATH otherwise (and then never connects to
// PostgreSQL).
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger, m *metrics.Metrics) (Store, error) {
	// Each branch returns a nil interface on error, never a typed nil.
	if cfg.DatabaseURL != "" {
		s, err := store.OpenPostgres(ctx, store.PostgresConfig{URL: cfg.DatabaseURL, Logger: log, PoolSize: cfg.DBPoolSize,
			StatementTimeout: cfg.DBStatementTimeout, ConnectTimeout: cfg.DBConnectTimeout, Observe: m.CommitDone})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	s, err := store.Open(ctx, store.Config{Path: cfg.DBPath, Logger: log, Synchronous: cfg.DBSync,
		BusyTimeout: cfg.DBBusyTimeout, Observe: m.CommitDone, ObserveCheckpoint: m.CheckpointDone})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the HTTP handler.
func (a *App) Handler() http.Handler { return a.router }

// WS returns the WebSocket server, for tests.
func (a *App) WS() *ws.Server { return a.ws }

// Sessions returns the session manager, for tests.
func (a *App) Sessions() *session.Manager { return a.sessions }

// Gardens returns the garden manager, for tests.
func (a *App) Gardens() *garden.Manager { return a.gardens }

// Shutdown closes every WebSocket with 1001, expires the sessions and
// closes the store (checkpointed: the file alone is a complete backup).
func (a *App) Shutdown(ctx context.Context) error {
	a.ready.Store(false)
	err := a.ws.Shutdown(ctx)
	a.sessions.Close()
	a.stopBus() // no commits left to announce
	return errors.Join(err, a.store.Close())
}

func (a *App) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(a.requestLog)
	r.Use(securityHeaders)
	// The WebSocket route stays out of the group below: the body limit
	// means nothing to a hijacked connection (STYLE §2).
	r.Method(http.MethodGet, "/api/ws", a.ws)
	r.Group(func(r chi.Router) {
		r.Use(limitBody(MaxBodyBytes))
		r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		r.Get("/readyz", a.readyz)
		r.Method(http.MethodGet, "/metrics", a.metrics.Handler())
		r.Post("/api/auth/dev-login", a.devLogin)
		r.Get("/api/config", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"dev_mode": a.cfg.DevMode, "protocol": 1,
				"heartbeat_ms": a.cfg.HeartbeatInterval.Milliseconds(), "node": a.cfg.NodeID})
		})
		if a.cfg.Pprof {
			r.HandleFunc("/debug/pprof/*", pprof.Index)
			r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			r.HandleFunc("/debug/pprof/profile", pprof.Profile)
			r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			r.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		r.NotFound(newStatic(a.cfg.WebDir).ServeHTTP)
	})
	return r
}

// readyz is ready when the node can keep players' actions (protocol.md §11):
// the store answers and its latest write transaction committed. While
// commits fail it answers 503, so that a load balancer sends players
// elsewhere; the store's own probe brings it back without traffic. The
// store logs the failure and the recovery once each, not per probe.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	if err := a.store.Healthy(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store cannot commit"})
		return
	}
	if err := a.store.Ping(r.Context()); err != nil {
		a.log.Error("readyz: store ping failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return
	}
	body := map[string]string{"status": "ready"}
	if a.bus != nil {
		// NATS down does not make the node unready: it still keeps its
		// players' actions and serves its own devices, and a load
		// balancer pulling every node at once would help nobody. The
		// state is reported here and in cosmic_bus_connected.
		body["bus"] = a.bus.Status()
	}
	writeJSON(w, http.StatusOK, body)
}

// devLogin implements POST /api/auth/dev-login (protocol.md §1): a token for
// any user name, only in development mode.
func (a *App) devLogin(w http.ResponseWriter, r *http.Request) {
	if a.issuer == nil {
		http.NotFound(w, r)
		return
	}
	var body struct {
		User string `json:"user"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	if err := dec.Decode(&body); err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			writeBodyTooLarge(w, tooLarge.Limit)
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad_request", "message": "body must be JSON {\"user\": \"name\"}"})
		return
	}
	user := strings.TrimSpace(body.User)
	if user == "" || len(user) > 64 || !utf8.ValidString(user) || strings.ContainsFunc(user, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "bad_request", "message": "user must be 1-64 printable characters"})
		return
	}
	token, err := a.issuer.Issue(user, a.cfg.DevTokenTTL)
	if err != nil {
		a.log.Error("dev-login: issue token", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"code": "internal", "message": "could not issue a token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// requestLog logs each plain HTTP request at debug level with the path
// only: a query may hold a token (protocol.md §1). WebSocket connections log
// their own line at close.
func (a *App) requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/ws" || !a.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		a.log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", ww.Status(), "duration_ms", time.Since(start).Milliseconds())
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
