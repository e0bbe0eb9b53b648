// Command failover measures how long the players of a killed node take to
// be back (issue 15): it starts a local cluster (tools/cluster: a
// throw-away PostgreSQL, NATS in-process, the nodes and the round-robin
// load balancer), connects -players devices through the load balancer,
// each a player of its own, kills one node with SIGKILL, and reports how
// many devices lost their connection and when each had a Welcome again
// from another node. Devices reconnect as the web client does: full
// jitter in a window that starts at -backoff and doubles, capped at 30 s.
//
//	go run ./tools/failover [-players 5000] [-nodes 3] [-backoff 1s] [-bin bin/cosmic-server] [-v]
//
// It needs what `make run-cluster` needs (Debian's PostgreSQL) and about
// four file descriptors per player (the device, both sides of the load
// balancer's proxy, the node's): raise `ulimit -n` first.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/auth"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/tools/cluster"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what one run measures.
type config struct {
	players int
	nodes   int
	backoff time.Duration
	bin     string
	verbose bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.IntVar(&cfg.players, "players", 5000, "devices, one player each, connected through the load balancer")
	fs.IntVar(&cfg.nodes, "nodes", 3, "cosmic-server nodes")
	fs.DurationVar(&cfg.backoff, "backoff", time.Second, "the first reconnect window (the web client's: 1s)")
	fs.StringVar(&cfg.bin, "bin", "bin/cosmic-server", "the server binary (make server)")
	fs.BoolVar(&cfg.verbose, "v", false, "print every failed dial on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || cfg.players < 1 || cfg.nodes < 2 || cfg.backoff <= 0 {
		fmt.Fprintln(stderr, "failover: want -players ≥ 1, -nodes ≥ 2, -backoff > 0 and no arguments")
		return 2
	}
	if err := measure(cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "failover: %v\n", err)
		return 1
	}
	return 0
}

func measure(cfg config, out, errOut io.Writer) error {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(rand.IntN(256))
	}
	secret := hex.EncodeToString(raw) // the nodes' JWT_SECRET is this text
	issuer, err := auth.NewIssuer([]byte(secret), nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{Addr: "127.0.0.1:0", Nodes: cfg.nodes, Bin: cfg.bin, WebDir: os.TempDir(),
		NodeLog: io.Discard, Env: []string{"JWT_SECRET=" + secret}})
	if err != nil {
		return fmt.Errorf("start the cluster: %w", err)
	}
	defer func() {
		cancel() // the devices stop redialling first
		_ = c.Stop()
	}()
	wsURL := "ws" + strings.TrimPrefix(c.URL(), "http") + "/api/ws"
	fmt.Fprintf(out, "cluster: %d nodes behind %s\n", cfg.nodes, c.URL())

	devs := make([]*device, cfg.players)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200) // connects in flight
	start := time.Now()
	for i := range devs {
		tok, err := issuer.Issue(fmt.Sprintf("failover-%d", i), time.Hour)
		if err != nil {
			return err
		}
		devs[i] = &device{url: wsURL, token: tok, backoff: cfg.backoff}
		if cfg.verbose {
			devs[i].log = errOut
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(d *device) {
			defer wg.Done()
			defer func() { <-sem }()
			d.connect(ctx)
		}(devs[i])
	}
	wg.Wait()
	fmt.Fprintf(out, "connected %d devices in %s\n", cfg.players, time.Since(start).Round(time.Millisecond))
	for _, d := range devs {
		go d.serve(ctx)
	}

	victim := c.Nodes()[0]
	time.Sleep(2 * time.Second) // settle
	killed := time.Now()
	if err := c.Kill(victim.ID); err != nil {
		return err
	}
	fmt.Fprintf(out, "killed %s (pid %d)\n", victim.ID, victim.PID)

	deadline := time.Now().Add(2 * time.Minute)
	for {
		time.Sleep(100 * time.Millisecond)
		lost, back := 0, 0
		for _, d := range devs {
			if l, b := d.failover(killed); l {
				lost++
				if b {
					back++
				}
			}
		}
		if lost > 0 && back == lost {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 2 min, %d of %d devices that lost their node are back", back, lost)
		}
	}
	var times []time.Duration
	for _, d := range devs {
		if at, ok := d.backAfter(killed); ok {
			times = append(times, at)
		}
	}
	slices.Sort(times)
	q := func(p float64) time.Duration {
		return times[min(len(times)-1, int(p*float64(len(times))))].Round(time.Millisecond)
	}
	fmt.Fprintf(out, "%d of %d devices lost their node; all back (a Welcome from another node) %s after the kill: p50 %s, p99 %s\n",
		len(times), cfg.players, q(1), q(0.5), q(0.99))
	return nil
}

// device is one player's device: a WebSocket through the load balancer
// that reconnects, as the web client does, when it drops.
type device struct {
	url, token string
	backoff    time.Duration
	log        io.Writer // failed dials, with -v; nil for none

	mu                sync.Mutex
	conn              *websocket.Conn
	droppedAt, backAt time.Time
	dropped           atomic.Bool
}

// connect dials until a Welcome arrives.
func (d *device) connect(ctx context.Context) {
	window := d.backoff
	for ctx.Err() == nil {
		c, err := d.dial(ctx)
		if err != nil && d.log != nil {
			fmt.Fprintln(d.log, "dial:", err)
		}
		if err == nil {
			d.mu.Lock()
			d.conn = c
			d.mu.Unlock()
			return
		}
		time.Sleep(time.Duration(rand.Int64N(int64(window))))
		window = min(2*window, 30*time.Second)
	}
}

// dial opens a WebSocket and reads its Welcome.
func (d *device) dial(ctx context.Context) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, d.url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + d.token}}})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	_, b, err := c.Read(dctx)
	if err != nil {
		c.CloseNow()
		return nil, err
	}
	var env struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(b, &env) != nil || env.Type != protocol.TypeWelcome {
		c.CloseNow()
		return nil, fmt.Errorf("first message %.80s, want a Welcome", b)
	}
	return c, nil
}

// serve reads until the connection drops, then reconnects once, after a
// jittered wait as the web client's first retry (its reconnects are
// counted from the drop).
func (d *device) serve(ctx context.Context) {
	for ctx.Err() == nil {
		d.mu.Lock()
		c := d.conn
		d.mu.Unlock()
		if _, _, err := c.Read(ctx); err == nil {
			continue
		}
		c.CloseNow()
		if ctx.Err() != nil || d.dropped.Load() {
			return
		}
		d.mu.Lock()
		d.droppedAt = time.Now()
		d.mu.Unlock()
		d.dropped.Store(true)
		time.Sleep(time.Duration(rand.Int64N(int64(d.backoff))))
		d.connect(ctx)
		d.mu.Lock()
		d.backAt = time.Now()
		d.mu.Unlock()
	}
}

// failover reports whether the device lost its connection after the kill
// and whether it is back.
func (d *device) failover(killed time.Time) (lost, back bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	lost = !d.droppedAt.IsZero() && !d.droppedAt.Before(killed)
	return lost, lost && !d.backAt.IsZero()
}

// backAfter returns when the device was back, counted from the kill.
func (d *device) backAfter(killed time.Time) (time.Duration, bool) {
	lost, back := d.failover(killed)
	if !lost || !back {
		return 0, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.backAt.Sub(killed), true
}
