// Package cluster runs a local cluster of cosmic-server nodes from real
// processes and engines: a throw-away PostgreSQL (Debian's server
// binaries, in a temporary directory), an embedded NATS server
// (nats-server/v2), N cosmic-server processes sharing both, and a
// round-robin load balancer (tools/lb) in front of them.
//
// `make run-cluster` (tools/devcluster) runs one for people; tests that
// need several nodes may run one too:
//
//	c, err := cluster.Start(ctx, cluster.Config{Addr: "127.0.0.1:0", Nodes: 2, Bin: bin, WebDir: dir})
//	...
//	defer c.Stop()
//	resp, err := http.Get(c.URL() + "/api/config")
//
// PostgreSQL refuses to run as root, so as root it runs as the "postgres"
// user (runuser) in a directory that user owns. This does what
// server/internal/pgtest does for the server's tests; tools/ cannot import
// that package (Go's internal rule), and pgtest is bound to testing.TB.
//
// Every process and goroutine Start begins is ended by Stop: the nodes
// first (SIGTERM: they close their WebSockets with 1001 and exit), then the
// load balancer, NATS and PostgreSQL; the directory is removed.
package cluster
