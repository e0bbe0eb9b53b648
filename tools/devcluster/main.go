// Command devcluster runs a local cluster of Cosmic Gardener nodes for
// development (`make run-cluster`; the work is package tools/cluster's): a
// throw-away PostgreSQL (Debian's server binaries, in a temporary
// directory), an embedded NATS server, three cosmic-server nodes sharing
// both, and a round-robin load balancer (tools/lb) on :8080, which keeps
// each browser on one node with a cookie. Open http://localhost:8080 in two browsers, sign in
// as the same player, and one garden is served by two nodes; each page's
// footer names the node that served the page, and every log line says
// node=….
//
//	go run ./tools/devcluster [-addr :8080] [-nodes 3] [-bin bin/cosmic-server] [-web web/dist]
//
// Ctrl-C (SIGINT or SIGTERM) stops the nodes first (SIGTERM: they close
// their WebSockets with 1001 and exit), then the load balancer, NATS and
// PostgreSQL, and removes the temporary directory. To see a node fail,
// `kill -9` one of the pids it prints: its players reconnect through the
// load balancer to another node. If devcluster itself is killed with
// SIGKILL, the nodes get SIGTERM, but PostgreSQL keeps running: stop it
// with `pg_ctl stop -D <dir>/data` (as postgres) and remove the directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/cosmic-gardener/realtime/tools/cluster"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devcluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The sticky cookie keeps a browser's page, /api/config and WebSocket
	// on one node, so that the footer names the node holding the
	// WebSocket; two browsers still land on different nodes.
	cfg := cluster.Config{StickyCookie: "cosmic_node"}
	fs.StringVar(&cfg.Addr, "addr", ":8080", "the load balancer's listen address")
	fs.IntVar(&cfg.Nodes, "nodes", 3, "how many cosmic-server nodes")
	fs.StringVar(&cfg.Bin, "bin", "bin/cosmic-server", "the server binary (make server)")
	fs.StringVar(&cfg.WebDir, "web", "web/dist", "the built web client, the nodes' WEB_DIR (make web)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || cfg.Nodes < 1 {
		fmt.Fprintln(stderr, "devcluster: want -nodes ≥ 1 and no arguments")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "devcluster: starting PostgreSQL, NATS, %d nodes and the load balancer…\n", cfg.Nodes)
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "devcluster: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout)
	c.Describe(stdout)
	fmt.Fprintf(stdout, "\nOpen %s in two browsers and sign in as the same player: the footer names\n"+
		"the node that served each page. `kill -9 <pid>` a node to see its players move.\n"+
		"Ctrl-C stops everything and removes %s.\n\n", c.URL(), c.Dir())
	<-ctx.Done()
	stop() // a second Ctrl-C kills devcluster at once
	fmt.Fprintln(stdout, "devcluster: stopping the nodes (they drain), then NATS and PostgreSQL…")
	if err := c.Stop(); err != nil {
		fmt.Fprintf(stderr, "devcluster: stop: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "devcluster: stopped")
	return 0
}
