package lb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures an LB. Zero fields take the documented defaults.
type Config struct {
	// Backends are the nodes' host:port addresses; at least one.
	Backends []string
	// HealthPath, when set (e.g. "/readyz"), is fetched from every backend
	// each HealthInterval; a backend that does not answer 200 is tried
	// only after all the others. Without it, only failed dials steer.
	HealthPath string
	// HealthInterval is the health check period, default 1s.
	HealthInterval time.Duration
	// DialTimeout bounds one dial to a backend, default 1s.
	DialTimeout time.Duration
	// Logger receives backend state changes; nil discards them.
	Logger *slog.Logger
	// StickyCookie, when set, names a cookie that keeps a browser on the
	// backend that last answered it (while that one accepts), so that a
	// page, its /api/config and its WebSocket meet the same node.
	// Clients without cookies (tests, load tools) are spread round robin.
	StickyCookie string
}

// LB is the proxy: an http.Handler, and with Serve its own HTTP server.
// Create with New, stop with Close. Safe for concurrent use.
type LB struct {
	cfg       Config
	proxy     *httputil.ReverseProxy
	transport *http.Transport
	next      atomic.Uint64
	unhealthy []atomic.Bool // by backend index, written by the health checker
	served    []atomic.Int64

	// ctx ends with Close: it cancels every proxied request, which makes
	// ReverseProxy close the backend side of an upgraded connection, and
	// stops the health checker.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	servers  []*http.Server
	handlers sync.WaitGroup // ServeHTTP calls in flight (upgraded ones last as long as the WebSocket)
	loops    sync.WaitGroup // the health checker and Serve's servers
}

// New validates cfg and starts the health checker if HealthPath is set.
func New(cfg Config) (*LB, error) {
	if len(cfg.Backends) == 0 {
		return nil, errors.New("lb: no backends")
	}
	for _, b := range cfg.Backends {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return nil, fmt.Errorf("lb: backend %q: want host:port: %w", b, err)
		}
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Backends = append([]string(nil), cfg.Backends...)
	b := &LB{cfg: cfg, unhealthy: make([]atomic.Bool, len(cfg.Backends)), served: make([]atomic.Int64, len(cfg.Backends))}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.transport = &http.Transport{
		DialContext:       (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		DisableKeepAlives: true, // one dial per request: a dead node is noticed by the next request
	}
	// Every outgoing request names this placeholder host; roundTrip puts
	// the backend's address in its place, one attempt after the other.
	target := &url.URL{Scheme: "http", Host: "backend.invalid"}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		Transport:      roundTripper{b},
		ModifyResponse: b.stick,
		FlushInterval:  -1, // pass every write through at once: no buffering
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.Logger.Warn("lb: no backend answered", "path", r.URL.Path, "err", err)
			http.Error(w, "no backend available", http.StatusBadGateway)
		},
	}
	if cfg.HealthPath != "" {
		b.loops.Add(1)
		go b.checkHealth()
	}
	return b, nil
}

// Healthy reports, by backend in configuration order, whether its last
// health check passed (all true without HealthPath or before the first).
func (b *LB) Healthy() []bool {
	out := make([]bool, len(b.unhealthy))
	for i := range b.unhealthy {
		out[i] = !b.unhealthy[i].Load()
	}
	return out
}

// Backends returns the backend addresses, in configuration order.
func (b *LB) Backends() []string { return append([]string(nil), b.cfg.Backends...) }

// Served returns how many requests (WebSockets included) each backend has
// answered, in configuration order.
func (b *LB) Served() []int64 {
	out := make([]int64, len(b.served))
	for i := range b.served {
		out[i] = b.served[i].Load()
	}
	return out
}

// maxRetryBody is the largest request body kept in memory so that the
// request can be sent to another backend when the first refuses; a larger
// body is streamed and gets one backend only.
const maxRetryBody = 1 << 20

// route is one request's choice of backends, shared by ServeHTTP,
// roundTrip and stick through the request's context.
type route struct {
	turn   uint64 // the round-robin counter's value taken, when not sticky
	order  []int  // backend indexes in the order to try
	sticky int    // the backend the request's cookie names, -1 for none
	chosen int    // the backend that answered, -1 until one has
}

type routeKey struct{}

// ServeHTTP proxies r to the next backend. After Close it answers 503.
func (b *LB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		http.Error(w, "load balancer closed", http.StatusServiceUnavailable)
		return
	}
	b.handlers.Add(1)
	b.mu.Unlock()
	defer b.handlers.Done()
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength >= 0 && r.ContentLength <= maxRetryBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRetryBody+1))
		if err != nil || len(body) > maxRetryBody {
			http.Error(w, "request body unreadable or too large", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	rt := b.route(r)
	// The request ends with the client or with Close, whichever is first;
	// no goroutine per request.
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), routeKey{}, rt))
	defer cancel()
	stop := context.AfterFunc(b.ctx, cancel)
	defer stop()
	b.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// route orders the backends for r: the one its sticky cookie names, or
// else the next in turn, then the others in index order; those failing
// their health check after all the rest.
func (b *LB) route(r *http.Request) *route {
	n := len(b.cfg.Backends)
	rt := &route{sticky: -1, chosen: -1, order: make([]int, 0, n)}
	var start int
	if b.cfg.StickyCookie != "" {
		if c, err := r.Cookie(b.cfg.StickyCookie); err == nil {
			if i, err := strconv.Atoi(c.Value); err == nil && i >= 0 && i < n {
				rt.sticky = i
			}
		}
	}
	if rt.sticky >= 0 {
		start = rt.sticky
	} else {
		rt.turn = b.next.Add(1) - 1
		start = int(rt.turn % uint64(n))
	}
	for pass := range 2 {
		for k := range n {
			i := (start + k) % n
			if b.unhealthy[i].Load() == (pass == 1) {
				rt.order = append(rt.order, i)
			}
		}
	}
	return rt
}

// roundTripper sends a request to the backends of its route in order
// until one accepts the connection. Only a failed dial moves on: nothing
// of the request was sent, so trying the next backend is safe for any
// method.
type roundTripper struct{ b *LB }

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	b := t.b
	rt, _ := req.Context().Value(routeKey{}).(*route)
	if rt == nil {
		return nil, errors.New("lb: request without a route")
	}
	var errs []error
	for k, i := range rt.order {
		out := req.Clone(req.Context())
		out.URL.Host = b.cfg.Backends[i]
		if k > 0 && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				break // streamed: already spent on the first backend
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			out.Body = body
		}
		resp, err := b.transport.RoundTrip(out)
		if err == nil {
			rt.chosen = i
			b.served[i].Add(1)
			n := uint64(len(b.cfg.Backends))
			if skipped := (uint64(i) + n - rt.turn%n) % n; rt.sticky < 0 && skipped > 0 {
				// The next turn is the backend after this one, so a dead
				// backend's turns are shared out rather than all given
				// to its successor; unless another request took a turn
				// meanwhile.
				b.next.CompareAndSwap(rt.turn+1, rt.turn+1+skipped)
			}
			return resp, nil
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" || req.Context().Err() != nil {
			return nil, err
		}
		b.cfg.Logger.Debug("lb: backend refused, trying the next", "backend", b.cfg.Backends[i], "err", err)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("every backend refused: %w", errors.Join(errs...))
}

// stick sets the sticky cookie on a response (a WebSocket's 101 included)
// from a backend other than the one the request's cookie named.
func (b *LB) stick(resp *http.Response) error {
	rt, _ := resp.Request.Context().Value(routeKey{}).(*route)
	if b.cfg.StickyCookie == "" || rt == nil || rt.chosen < 0 || rt.chosen == rt.sticky {
		return nil
	}
	resp.Header.Add("Set-Cookie", (&http.Cookie{Name: b.cfg.StickyCookie, Value: strconv.Itoa(rt.chosen),
		Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}).String())
	return nil
}

// checkHealth is the health checker, owned by the LB until Close.
func (b *LB) checkHealth() {
	defer b.loops.Done()
	client := &http.Client{Timeout: b.cfg.HealthInterval, Transport: &http.Transport{DisableKeepAlives: true}}
	t := time.NewTicker(b.cfg.HealthInterval)
	defer t.Stop()
	for {
		for i, addr := range b.cfg.Backends {
			ok := b.probe(client, addr)
			if was := !b.unhealthy[i].Swap(!ok); was != ok {
				b.cfg.Logger.Info("lb: backend health changed", "backend", addr, "healthy", ok)
			}
		}
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *LB) probe(client *http.Client, addr string) bool {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, "http://"+addr+b.cfg.HealthPath, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Serve serves the LB on ln until Close, which closes ln. It returns at
// once; the server is owned by the LB.
func (b *LB) Serve(ln net.Listener) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		ln.Close()
		return errors.New("lb: closed")
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(b.cfg.Logger.Handler(), slog.LevelDebug)}
	b.servers = append(b.servers, srv)
	b.loops.Add(1)
	go func() {
		defer b.loops.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.cfg.Logger.Error("lb: serve", "err", err)
		}
	}()
	return nil
}

// Close stops the servers started by Serve, ends every proxied request
// and WebSocket (the backend side is closed, then the client side), stops
// the health checker and returns once all of them have. Idempotent.
func (b *LB) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	servers := b.servers
	b.mu.Unlock()
	b.cancel()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Close())
	}
	b.handlers.Wait()
	b.loops.Wait()
	b.transport.CloseIdleConnections()
	return errors.Join(errs...)
}
