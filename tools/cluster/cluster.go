package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/cosmic-gardener/realtime/tools/lb"
)

// Config is what Start runs. Zero fields take the documented defaults.
type Config struct {
	Addr    string    // the load balancer's listen address, default ":8080"
	Nodes   int       // cosmic-server processes, default 3
	Bin     string    // the server binary, default "bin/cosmic-server"
	WebDir  string    // the nodes' WEB_DIR, default "web/dist"
	NodeLog io.Writer // the nodes' stdout and stderr, default os.Stderr
	// ReadyTimeout bounds the wait for each node's /readyz, default 60s.
	ReadyTimeout time.Duration
	// DrainTimeout is how long Stop waits for a node after SIGTERM before
	// it kills it, default 20s (the server gives its connections 15s).
	DrainTimeout time.Duration
	// StickyCookie is the load balancer's (lb.Config.StickyCookie): ""
	// spreads every request round robin; devcluster sets one so that a
	// browser stays on one node.
	StickyCookie string
	// Env holds extra settings for every node ("HEARTBEAT_INTERVAL=1s"),
	// after the cluster's own, which they may therefore override.
	Env []string
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.Nodes <= 0 {
		c.Nodes = 3
	}
	if c.Bin == "" {
		c.Bin = "bin/cosmic-server"
	}
	if c.WebDir == "" {
		c.WebDir = "web/dist"
	}
	if c.NodeLog == nil {
		c.NodeLog = os.Stderr
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 60 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 20 * time.Second
	}
	return c
}

// Cluster is a running local cluster: PostgreSQL, NATS, the nodes and the
// load balancer. Stop it with Stop.
type Cluster struct {
	cfg    Config
	pg     *postgres
	nats   *natsserver.Server
	nodes  []*node
	lb     *lb.LB
	lbAddr net.Addr
	once   sync.Once
	err    error
}

// node is one cosmic-server process. Its waiter goroutine, owned by the
// Cluster, reaps it and closes exited.
type node struct {
	id     string
	addr   string // 127.0.0.1:port
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// Start runs PostgreSQL, NATS, cfg.Nodes nodes (each ready: /readyz 200)
// and the load balancer. On error, or when ctx ends first, what was
// started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	cfg = cfg.withDefaults()
	if _, err := os.Stat(cfg.Bin); err != nil {
		return nil, fmt.Errorf("server binary: %w (run `make server`)", err)
	}
	c := &Cluster{cfg: cfg}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	if c.pg, err = startPostgres(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// The embedded NATS server: loopback only, no signal handlers of its
	// own (Ctrl-C is ours), its log off.
	c.nats, err = natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	c.nats.Start()
	if !c.nats.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("nats: not ready within 10s")
	}

	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	backends := make([]string, 0, cfg.Nodes)
	for i := range cfg.Nodes {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		n := &node{id: fmt.Sprintf("node-%d", i+1), addr: fmt.Sprintf("127.0.0.1:%d", port), exited: make(chan struct{})}
		n.cmd = exec.Command(cfg.Bin)
		// The same settings as `make run` (DEV_MODE: dev-login for a new
		// operator), plus what makes the nodes one cluster: one database,
		// one bus, one secret, so that a token from any node's dev-login
		// is good on every node. Later entries win over the inherited
		// environment.
		n.cmd.Env = append(os.Environ(),
			"ADDR="+n.addr,
			"NODE_ID="+n.id,
			"DATABASE_URL="+c.pg.url(),
			"NATS_URL="+c.nats.ClientURL(),
			"JWT_SECRET="+hex.EncodeToString(secret),
			"DEV_MODE=1",
			"WEB_DIR="+cfg.WebDir,
		)
		n.cmd.Env = append(n.cmd.Env, cfg.Env...)
		n.cmd.Stdout, n.cmd.Stderr = cfg.NodeLog, cfg.NodeLog
		// A process group of its own, so that the terminal's Ctrl-C
		// reaches devcluster only and the nodes stop in our order; and
		// SIGTERM should devcluster die without stopping them.
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := n.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", n.id, err)
		}
		go func() {
			n.err = n.cmd.Wait()
			close(n.exited)
		}()
		c.nodes = append(c.nodes, n)
		backends = append(backends, n.addr)
	}
	for _, n := range c.nodes {
		if err := n.waitReady(ctx, cfg.ReadyTimeout); err != nil {
			return nil, err
		}
	}

	if c.lb, err = lb.New(lb.Config{Backends: backends, HealthPath: "/readyz", StickyCookie: cfg.StickyCookie,
		Logger: slog.New(slog.NewTextHandler(cfg.NodeLog, &slog.HandlerOptions{Level: slog.LevelInfo}))}); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("load balancer: %w", err)
	}
	c.lbAddr = ln.Addr()
	if err := c.lb.Serve(ln); err != nil {
		return nil, err
	}
	return c, nil
}

// waitReady polls the node's /readyz until 200, the node exits, ctx ends
// or timeout passes.
func (n *node) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.addr+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-n.exited:
			return fmt.Errorf("%s exited before it was ready: %v", n.id, n.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", n.id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Node is one node as the cluster started it.
type Node struct {
	ID   string // NODE_ID: node-1, node-2, …
	Addr string // its own listen address, 127.0.0.1:port
	PID  int
}

// Nodes returns the nodes in start order.
func (c *Cluster) Nodes() []Node {
	out := make([]Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = Node{ID: n.id, Addr: n.addr, PID: n.cmd.Process.Pid}
	}
	return out
}

// Kill ends node id with SIGKILL, as a crash would, and returns once it
// has exited. Stop does not count it as a failure.
func (c *Cluster) Kill(id string) error {
	for _, n := range c.nodes {
		if n.id == id {
			if err := n.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				return fmt.Errorf("kill %s: %w", id, err)
			}
			<-n.exited
			return nil
		}
	}
	return fmt.Errorf("no node %q", id)
}

// DatabaseURL is the nodes' DATABASE_URL.
func (c *Cluster) DatabaseURL() string { return c.pg.url() }

// NATSURL is the nodes' NATS_URL.
func (c *Cluster) NATSURL() string { return c.nats.ClientURL() }

// LB returns the load balancer.
func (c *Cluster) LB() *lb.LB { return c.lb }

// URL is the load balancer's http:// URL.
func (c *Cluster) URL() string { return "http://" + displayAddr(c.lbAddr) }

// Dir is the throw-away directory (PostgreSQL's data, socket and log).
func (c *Cluster) Dir() string { return c.pg.root }

// Describe writes what runs where.
func (c *Cluster) Describe(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PostgreSQL\tpsql -h %s -p %d -U postgres cosmic\tlog %s\n", c.pg.root, c.pg.port, c.pg.log())
	fmt.Fprintf(tw, "NATS\t%s\tin this process\n", c.nats.ClientURL())
	for _, n := range c.nodes {
		fmt.Fprintf(tw, "%s\thttp://%s\tpid %d\n", n.id, n.addr, n.cmd.Process.Pid)
	}
	fmt.Fprintf(tw, "load balancer\t%s\tround robin over the nodes, /readyz checked every second\n", c.URL())
	_ = tw.Flush()
}

// Stop stops the nodes (SIGTERM: they close their WebSockets with 1001
// and exit; killed after DrainTimeout), then the load balancer, NATS and
// PostgreSQL, and removes the throw-away directory. It returns the first
// call's result on every call.
func (c *Cluster) Stop() error {
	c.once.Do(func() {
		var errs []error
		// A node that ended before Stop (the operator's kill -9) is no
		// failure of Stop's.
		down := make(map[*node]bool)
		for _, n := range c.nodes {
			select {
			case <-n.exited:
				down[n] = true
				continue
			default:
			}
			if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("%s: SIGTERM: %w", n.id, err))
			}
		}
		deadline := time.After(c.cfg.DrainTimeout)
		for _, n := range c.nodes {
			select {
			case <-n.exited:
			case <-deadline:
				_ = n.cmd.Process.Kill()
				<-n.exited
				errs = append(errs, fmt.Errorf("%s: killed after %s without exiting", n.id, c.cfg.DrainTimeout))
			}
			if n.err != nil && !down[n] {
				errs = append(errs, fmt.Errorf("%s: %w", n.id, n.err))
			}
		}
		if c.lb != nil {
			errs = append(errs, c.lb.Close())
		}
		if c.nats != nil {
			c.nats.Shutdown()
			c.nats.WaitForShutdown()
		}
		if c.pg != nil {
			errs = append(errs, c.pg.stop())
		}
		c.err = errors.Join(errs...)
	})
	return c.err
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before the node binds it; the node then exits and Start says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// displayAddr turns a wildcard listen address into a URL host a browser
// can open.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
