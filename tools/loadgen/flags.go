package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// config is the parsed command line. Zero values are replaced by the
// scenario's defaults in fill.
type config struct {
	scenario string
	target   string
	url      string

	count    int           // connections (devices) to open
	num      int           // actions per sending client, 0 = no cap
	duration time.Duration // hold or send time
	rate     float64       // actions (changes) per second, in total
	ramp     float64       // connections opened per second, 0 = as fast as possible
	gardens  int           // fanout: gardens (players)
	devices  int           // devices per player
	bodies   int           // patchsize: bodies in the garden
	payload  int           // peers: bytes of padding per published change
	rich     bool          // SaveGame a rich state at start (sustained rates)

	devLogin       bool
	connectTimeout time.Duration
	dialers        int    // concurrent dials when --ramp is 0
	sourceIPs      int    // loopback source addresses to spread connections over
	userPrefix     string // user ids are prefix + run id + index

	serverPID  int
	spawn      string // command starting the server, with {addr} {port} {tmp}
	spawnLog   string
	restartCmd string
	settle     time.Duration // reconnect: deadline for everyone to be back
	pprofOut   string
	heapOut    string
	metricsURL string

	jsonPath string
	htmlPath string
	quiet    bool
	cpuProf  string // the tool's own CPU profile

	secret  string       // HS256 secret ($JWT_SECRET), set by run
	restart func() error // reconnect: restarts the server (tests; else --spawn or --restart-cmd)
}

// parseFlags parses args into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadgen [flags]            run a scenario (see go doc ./tools/loadgen)")
		fmt.Fprintln(stderr, "       loadgen compare FILE.json…  print saved reports side by side")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.scenario, "scenario", "idle", "storm|idle|active|fanout|onegarden|reconnect|patchsize")
	fs.StringVar(&c.target, "target", "ours", "ours|centrifuge|socketio")
	fs.StringVar(&c.url, "url", "", "WebSocket URL (default ws://127.0.0.1:8080/api/ws for ours, the spawned server's with --spawn)")
	fs.IntVar(&c.count, "count", 0, "connections (default: 100; fanout: gardens × devices)")
	fs.IntVar(&c.num, "num", 0, "actions per sending client; 0 = until --duration ends")
	fs.DurationVar(&c.duration, "duration", 0, "how long to hold or send (default 10s; storm 2s)")
	fs.Float64Var(&c.rate, "rate", 0, "actions (changes) per second in total (default 100)")
	fs.Float64Var(&c.ramp, "ramp", 0, "connections opened per second; 0 = as fast as --dialers allow")
	fs.IntVar(&c.gardens, "gardens", 0, "fanout: gardens (players), default 20")
	fs.IntVar(&c.devices, "devices", 0, "devices per player (default 1; fanout 5)")
	fs.IntVar(&c.bodies, "bodies", 500, "patchsize: bodies in the garden")
	fs.IntVar(&c.payload, "payload", 300, "peers: padding bytes per published change (ours sends ~350-byte patches)")
	fs.BoolVar(&c.rich, "rich", false, "SaveGame a state with rich resources first, and again when a garden fills up (mints operator tokens; not with --dev-login)")
	fs.BoolVar(&c.devLogin, "dev-login", false, "get tokens from POST /api/auth/dev-login instead of minting them with $JWT_SECRET")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 10*time.Second, "dial → ready deadline per connection")
	fs.IntVar(&c.dialers, "dialers", 64, "concurrent dials when --ramp is 0")
	fs.IntVar(&c.sourceIPs, "source-ips", 8, "spread connections over this many loopback source addresses 127.0.0.1… (loopback targets only)")
	fs.StringVar(&c.userPrefix, "user-prefix", "lg", "user id prefix")
	fs.IntVar(&c.serverPID, "server-pid", 0, "sample this process's CPU and RSS every 500 ms")
	fs.StringVar(&c.spawn, "spawn", "", "start the server with this shell command ({addr} {port} {tmp} are replaced), stop it at the end")
	fs.StringVar(&c.spawnLog, "spawn-log", "", "file for the spawned server's output (default {tmp}/server.log)")
	fs.StringVar(&c.restartCmd, "restart-cmd", "", "reconnect: shell command that restarts an external server")
	fs.DurationVar(&c.settle, "settle", 15*time.Second, "reconnect: how long to wait for every device to be back")
	fs.StringVar(&c.pprofOut, "pprof-out", "", "with --spawn (PPROF=1): save a server CPU profile of the measured phase here")
	fs.StringVar(&c.heapOut, "heap-out", "", "with --spawn (PPROF=1): save a server heap profile (after a GC) at the end of the hold here")
	fs.StringVar(&c.metricsURL, "metrics-url", "", "server /metrics to read Go heap and goroutines from at the end of the hold (default with --spawn)")
	fs.StringVar(&c.jsonPath, "json", "", "write the report as JSON to this file")
	fs.StringVar(&c.htmlPath, "html", "", "write a self-contained HTML report to this file")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line")
	fs.StringVar(&c.cpuProf, "cpuprofile", "", "write the load tool's own CPU profile here")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, c.fill()
}

// fill applies the scenario defaults and validates.
func (c *config) fill() error {
	switch c.target {
	case "ours", "centrifuge", "socketio":
	default:
		return fmt.Errorf("--target %q: want ours, centrifuge or socketio", c.target)
	}
	switch c.scenario {
	case "storm", "idle", "fanout", "onegarden":
	case "active", "reconnect", "patchsize":
		if c.target != "ours" {
			return fmt.Errorf("--scenario %s is only for --target ours", c.scenario)
		}
	default:
		return fmt.Errorf("--scenario %q: want storm, idle, active, fanout, onegarden, reconnect or patchsize", c.scenario)
	}
	if c.duration == 0 {
		c.duration = 10 * time.Second
		if c.scenario == "storm" {
			c.duration = 2 * time.Second
		}
	}
	if c.rate == 0 {
		c.rate = 100
	}
	switch c.scenario {
	case "fanout":
		if c.gardens == 0 {
			c.gardens = 20
		}
		if c.devices == 0 {
			c.devices = 5
		}
		c.count = c.gardens * c.devices
	case "onegarden":
		if c.count == 0 {
			c.count = 100
		}
		c.gardens, c.devices = 1, c.count
	case "patchsize":
		c.gardens, c.devices, c.count = 1, 2, 2
		c.rich = true
	default:
		if c.count == 0 {
			c.count = 100
		}
		if c.devices == 0 {
			c.devices = 1
		}
		if c.scenario == "active" {
			c.devices = 1
		}
		c.gardens = (c.count + c.devices - 1) / c.devices
	}
	if c.scenario == "onegarden" || c.scenario == "patchsize" {
		// One garden takes every change: without a rich state it runs dry
		// after 200 asteroids (shared/rules/balance.go).
		c.rich = c.rich || c.target == "ours"
	}
	if c.target == "ours" && c.gardens > 0 && c.rate/float64(c.gardens)*c.duration.Seconds() > 150 &&
		(c.scenario == "active" || c.scenario == "fanout") {
		c.rich = true // more than ~150 asteroids per garden: beyond the start resources
	}
	if c.rich && c.devLogin && c.target == "ours" {
		return errDevLoginRich
	}
	if c.count <= 0 || c.gardens <= 0 || c.devices <= 0 {
		return errors.New("--count, --gardens and --devices must be positive")
	}
	if c.rate < 0 || c.ramp < 0 || c.num < 0 || c.duration < 0 {
		return errors.New("--rate, --ramp, --num and --duration must not be negative")
	}
	if c.dialers <= 0 {
		c.dialers = 64
	}
	if c.pprofOut != "" && c.spawn == "" && c.metricsURL == "" {
		return errors.New("--pprof-out needs --spawn")
	}
	return nil
}

// defaultURL returns the WebSocket URL of target on host (host:port).
func defaultURL(target, hostport string) string {
	switch target {
	case "centrifuge":
		return "ws://" + hostport + "/connection/websocket"
	case "socketio":
		return "ws://" + hostport + "/socket.io/?EIO=4&transport=websocket"
	}
	return "ws://" + hostport + "/api/ws"
}
