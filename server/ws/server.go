package ws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/auth"
	"github.com/cosmic-gardener/realtime/server/session"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// Observer receives connection events for metrics. Methods must be cheap
// and safe for concurrent use.
type Observer interface {
	ConnOpened()
	ConnClosed(code int)
	MessageIn(typ string)
	MessageOut(bytes int)
	AuthRefused(code string)
	// ActionDone reports an action answered here without reaching the
	// garden (a player's SaveGame with a state, outcome "rejected"), the
	// way garden.Observer reports the others.
	ActionDone(actionType, outcome string, d time.Duration)
}

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	Verifier *auth.Verifier   // required
	Sessions *session.Manager // required
	Logger   *slog.Logger     // default discards
	Observer Observer         // default records nothing
	Clock    func() time.Time // default time.Now

	// HeartbeatInterval is sent as Welcome.heartbeat_ms; a connection
	// silent for two intervals is closed with 4408. Default 30s.
	HeartbeatInterval time.Duration
	// AllowedOrigins are path.Match patterns for the Origin header's host
	// (or scheme://host when the pattern has "://"). The server's own
	// origin is always allowed, requests without Origin (non-browsers)
	// too; see originAllowed.
	AllowedOrigins []string
	// ReadLimit is the inbound frame limit (close 1009), default 64 KiB.
	ReadLimit int64
	// RateBurst and RatePerSecond shape the inbound token bucket, defaults
	// 200 and 50 (protocol.md §5).
	RateBurst     int
	RatePerSecond float64
	// AbuseLimit is how many consecutive rate-limited messages close the
	// connection with 4429, default 100.
	AbuseLimit int
	// BadLimit is how many consecutive undecodable messages close the
	// connection with 4400, default 100.
	BadLimit int
	// WriteTimeout closes a connection whose write has been stuck this
	// long (a client that stopped reading), default 10s.
	WriteTimeout time.Duration
	// PlainBuffers accepts connections the way coder/websocket does by
	// default: net/http's hijacked 4 KiB buffers, every frame flushed
	// with its own write, and each connection's goroutine reading inside
	// coder/websocket's reader. It turns off what buffers.go adds (small
	// buffers, the cork, the idle one-byte wait), which leans on how
	// coder/websocket's Accept uses the hijacked buffers, so an operator
	// can rule that code out of a problem. It costs memory per idle
	// connection and a system call per frame (docs/performance.md,
	// Round 2 items 1 and 2). Default false.
	PlainBuffers bool
}

// Server is the WebSocket endpoint. Create with New, serve with ServeHTTP,
// stop with Shutdown.
type Server struct {
	cfg Config
	obs Observer
	log *slog.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	running  sync.WaitGroup // one per registered connection

	stop     chan struct{}
	sweeping sync.WaitGroup
	workers  *workers // runs message handling and writers; stopped by Shutdown
}

// New validates cfg and starts the sweeper, which Shutdown stops.
func New(cfg Config) (*Server, error) {
	if cfg.Verifier == nil || cfg.Sessions == nil {
		return nil, errors.New("ws: Config.Verifier and Config.Sessions are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 30 * time.Second
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = protocol.MaxFrameBytes
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 200
	}
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond = 50
	}
	if cfg.AbuseLimit <= 0 {
		cfg.AbuseLimit = 100
	}
	if cfg.BadLimit <= 0 {
		cfg.BadLimit = 100
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, obs: cfg.Observer, log: cfg.Logger, conns: map[*conn]struct{}{}, stop: make(chan struct{}), workers: newWorkers()}
	s.sweeping.Add(1)
	go s.sweep()
	return s, nil
}

// IdleWorkers returns how many of the goroutines that handle messages and
// write frames wait for work (at most maxIdleWorkers; they outlive
// connections).
func (s *Server) IdleWorkers() int { return int(s.workers.idle.Load()) }

// Connections returns the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ServeHTTP implements GET /api/ws.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// protocol.md §1: the origin is checked before the token.
	if !originAllowed(r, s.cfg.AllowedOrigins) {
		http.Error(w, `{"code":"origin_forbidden","message":"origin not allowed"}`, http.StatusForbidden)
		return
	}
	token, src, ferr := auth.FromRequest(r)
	var claims auth.Claims
	var authErr *auth.Error
	if ferr != nil {
		if !errors.As(ferr, &authErr) {
			authErr = &auth.Error{Code: auth.CodeInvalid, Message: "malformed credentials", Err: ferr}
		}
	} else if c, err := s.cfg.Verifier.Verify(token); err != nil {
		if !errors.As(err, &authErr) {
			authErr = &auth.Error{Code: auth.CodeInvalid, Message: "invalid token", Err: err}
		}
	} else {
		claims = c
	}
	if authErr != nil {
		s.obs.AuthRefused(authErr.Code)
		s.log.Info("ws auth refused", "code", authErr.Code, "source", src.String(), "path", r.URL.Path, "remote", r.RemoteAddr, "err", authErr.Err)
		if src == auth.SourceHeader {
			auth.WriteHTTPError(w, authErr)
			return
		}
		// A browser cannot read the status of a failed handshake: upgrade,
		// then close with 4401 and the code as reason.
		wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		_ = wc.Close(protocol.CloseAuth, authErr.Code)
		return
	}

	q := r.URL.Query()
	resumeID := q.Get("session")
	lastSeq, _ := strconv.ParseUint(q.Get("last_seq"), 10, 64)

	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	var hj *smallBuffers
	rw := w
	if !s.cfg.PlainBuffers {
		hj = &smallBuffers{ResponseWriter: w}
		rw = hj
	}
	wc, err := websocket.Accept(rw, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("ws accept failed", "err", err)
		return
	}
	wc.SetReadLimit(s.cfg.ReadLimit)
	c := newConn(s, wc, claims)
	if hj != nil {
		c.idle.br, c.idle.sock, c.idle.early, c.cork = hj.br, hj.sock, hj.early, hj.cork
	}
	if !s.register(c) {
		_ = wc.Close(protocol.CloseGoingAway, "server shutting down")
		return
	}
	if !c.open(r.Context(), resumeID, lastSeq) {
		s.unregister(c)
		return
	}
	// The connection runs in a goroutine of its own, owned by s, and the
	// handler returns: net/http's goroutine, the stack that opening the
	// session grew and the request it holds are freed for the
	// connection's whole life; the new goroutine only reads.
	go func() {
		defer s.unregister(c)
		c.serve()
	}()
}

func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.conns[c] = struct{}{}
	s.running.Add(1)
	s.obs.ConnOpened()
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.running.Done()
}

// sweep runs the periodic checks of every connection.
func (s *Server) sweep() {
	defer s.sweeping.Done()
	tick := min(s.cfg.HeartbeatInterval/4, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := s.cfg.Clock()
		s.mu.Lock()
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.check(now)
		}
		s.cfg.Sessions.Sweep()
	}
}

// Shutdown stops accepting connections, closes every open one with 1001
// and waits for them to end or ctx to expire, then stops the sweeper.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(protocol.CloseGoingAway, "server shutting down")
	}
	defer func() {
		select {
		case <-s.stop:
		default:
			close(s.stop)
			// Every connection has ended (below): no task is left.
			s.workers.close()
		}
		s.sweeping.Wait()
	}()
	// Owned by Shutdown; it ends once every connection has, which the
	// CloseNow below forces if ctx expires first.
	done := make(chan struct{})
	go func() {
		s.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			_ = c.ws.CloseNow()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

type nopObserver struct{}

func (nopObserver) ConnOpened()        {}
func (nopObserver) ConnClosed(int)     {}
func (nopObserver) MessageIn(string)   {}
func (nopObserver) MessageOut(int)     {}
func (nopObserver) AuthRefused(string) {}

func (nopObserver) ActionDone(string, string, time.Duration) {}
