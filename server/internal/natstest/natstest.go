// Package natstest runs NATS servers in-process for tests, from the
// nats-server/v2 package (no external binary): one server, or a cluster of
// several; each can be stopped and started again on its ports, to test
// what a NATS outage does to the nodes.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is one in-process NATS server; it is shut down at the test's
// cleanup. Safe for concurrent use.
type Server struct {
	t    testing.TB
	mu   sync.Mutex
	opts server.Options
	s    *server.Server
}

// Start runs one NATS server on a free port.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, server.Options{Host: "127.0.0.1", Port: -1})
}

// StartCluster runs n NATS servers routed to each other as one cluster.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	var out []*Server
	var routes []*url.URL
	for i := range n {
		o := server.Options{Host: "127.0.0.1", Port: -1, ServerName: fmt.Sprintf("n%d", i)}
		o.Cluster = server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: -1}
		o.Routes = routes
		s := start(t, o)
		out = append(out, s)
		if i == 0 {
			routes = []*url.URL{{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.opts.Cluster.Port))}}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range out {
		for s.s.NumRoutes() < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("natstest: cluster of %d did not form", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return out
}

// URLs joins the servers' client URLs as NATS_URL takes them.
func URLs(servers []*Server) string {
	var u []string
	for _, s := range servers {
		u = append(u, s.URL())
	}
	return strings.Join(u, ",")
}

func start(t testing.TB, o server.Options) *Server {
	t.Helper()
	o.NoLog, o.NoSigs = true, true
	s := &Server{t: t, opts: o}
	s.Restart()
	// The ports chosen are kept, so that a restart comes back where the
	// clients look for it.
	s.opts.Port = s.s.Addr().(*net.TCPAddr).Port
	if o.Cluster.Port != 0 {
		s.opts.Cluster.Port = s.s.ClusterAddr().Port
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the client URL, nats://127.0.0.1:port.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.opts.Port))
}

// Stop shuts the server down and waits until it has; clients see the
// connection drop. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return
	}
	s.s.Shutdown()
	s.s.WaitForShutdown()
	s.s = nil
}

// Restart starts a stopped server again on its ports.
func (s *Server) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s != nil {
		return
	}
	o := s.opts
	ns, err := server.NewServer(&o)
	if err != nil {
		s.t.Fatalf("natstest: new server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		s.t.Fatalf("natstest: server not ready in 10s")
	}
	s.s = ns
}

// NumSubscriptions returns how many subscriptions the server holds (0
// while stopped).
func (s *Server) NumSubscriptions() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return 0
	}
	return s.s.NumSubscriptions()
}

// Clients describes the server's client connections and their
// subscriptions, for failure messages.
func (s *Server) Clients() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return "stopped"
	}
	cz, err := s.s.Connz(&server.ConnzOptions{Subscriptions: true})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, c := range cz.Conns {
		fmt.Fprintf(&b, "[%s in=%d out=%d subs=%v] ", c.Name, c.InMsgs, c.OutMsgs, c.Subs)
	}
	return b.String()
}
