package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runner is one run of the tool: the devices, the server handle, the
// measurements. Create with newRunner, then execute.
type runner struct {
	cfg    config
	url    string
	host   string // host:port of url
	stderr io.Writer
	start  time.Time // run clock origin (monotonic)

	st         *stats
	drv        driver
	tokens     *tokenSource
	httpClient *http.Client
	gardens    []*garden
	devices    []*device
	srv        *spawned
	sampler    *sampler // server, nil without a pid
	self       *sampler // the tool itself
	tick       *ticker
	patch      atomic.Pointer[patchStats]

	readers      sync.WaitGroup // every device goroutine
	closing      atomic.Bool
	reconnecting atomic.Bool
	firstDrop    atomic.Int64
	lastBack     atomic.Int64
	back         atomic.Int64
	saved        atomic.Int64

	// Filled in by the phases, for the report.
	rssBaseline   int64
	rssHoldEnd    int64
	measureFrom   time.Time
	measureTo     time.Time
	sendSeconds   float64
	goMetrics     map[string]float64
	restartStop   time.Duration
	restartStart  time.Duration
	serverExitErr error
	serverPID     int64 // the last server pid seen
	notes         []string
}

func (r *runner) now() int64 { return int64(time.Since(r.start)) }

func newRunner(cfg config, stderr io.Writer) *runner {
	r := &runner{cfg: cfg, url: cfg.url, stderr: stderr, start: time.Now(), st: newStats(),
		httpClient: newHTTPClient()}
	switch cfg.target {
	case "centrifuge":
		r.drv = &centrifuge{r: r}
	case "socketio":
		r.drv = &socketio{r: r}
	default:
		r.drv = &ours{r: r}
	}
	return r
}

// execute runs the scenario and returns the report.
func (r *runner) execute(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	if cfg.scenario == "reconnect" && cfg.spawn == "" && cfg.restartCmd == "" && cfg.restart == nil {
		return nil, errors.New("--scenario reconnect needs --spawn or --restart-cmd")
	}
	if cfg.spawn != "" {
		srv, err := startSpawned(cfg.spawn, cfg.spawnLog, r.stderr)
		if err != nil {
			return nil, err
		}
		r.srv = srv
		defer srv.cleanup()
		if r.url == "" {
			r.url = defaultURL(cfg.target, srv.addr)
		}
		if cfg.metricsURL == "" && cfg.target == "ours" {
			r.cfg.metricsURL = "http://" + srv.addr + "/metrics"
		}
		fmt.Fprintf(r.stderr, "loadgen: server pid %d on %s (log %s)\n", srv.pid.Load(), srv.addr, srv.logPath)
	}
	if r.url == "" {
		r.url = defaultURL(cfg.target, "127.0.0.1:8080")
	}
	if u, err := url.Parse(r.url); err == nil {
		r.host = u.Host
	}
	if tw := timeWaitSockets(); tw > 1000 {
		r.notes = append(r.notes, fmt.Sprintf("%d TCP sockets in TIME_WAIT at start: connects may be slowed by the port search", tw))
	}
	if cfg.target == "ours" {
		var err error
		if r.tokens, err = newTokenSource(cfg.secret, cfg.devLogin, cfg.rich, r.url, r.httpClient); err != nil {
			return nil, err
		}
	}
	stopAll := make(chan struct{})
	var bg sync.WaitGroup
	defer func() { close(stopAll); bg.Wait() }()

	pid := func() int {
		if r.srv != nil {
			if p := r.srv.pid.Load(); p > 0 {
				atomic.StoreInt64(&r.serverPID, p)
			}
			return int(r.srv.pid.Load())
		}
		return cfg.serverPID
	}
	if pid() > 0 {
		r.sampler = newSampler(pid, 500*time.Millisecond)
		bg.Add(1)
		go func() { defer bg.Done(); r.sampler.run(stopAll) }()
	}
	r.self = newSampler(os.Getpid, 500*time.Millisecond)
	bg.Add(1)
	go func() { defer bg.Done(); r.self.run(stopAll) }()
	r.tick = &ticker{st: r.st, sampler: r.sampler, start: r.start, w: r.stderr, tty: isTTY(r.stderr), quiet: cfg.quiet}
	bg.Add(1)
	go func() { defer bg.Done(); r.tick.run(stopAll) }()

	if r.sampler != nil { // the baseline before any connection
		r.tick.setPhase("baseline")
		sleepCtx(ctx, 1200*time.Millisecond)
		if s, ok := r.sampler.last(); ok {
			r.rssBaseline = s.rss
		}
	}
	r.build()
	if cfg.target == "ours" {
		bg.Add(1)
		go func() { defer bg.Done(); r.keepalive(stopAll) }()
	}

	err := r.scenario(ctx)

	if r.cfg.metricsURL != "" {
		r.goMetrics = scrapeMetrics(r.cfg.metricsURL)
	}
	if r.sampler != nil {
		if s, ok := r.sampler.last(); ok {
			r.rssHoldEnd = s.rss
		}
	}
	if r.cfg.heapOut != "" && r.srv != nil { // after the RSS reading: it forces a GC
		if err := fetchPprof(ctx, r.srv.addr, "heap?gc=1", r.cfg.heapOut); err != nil {
			fmt.Fprintf(r.stderr, "loadgen: heap profile: %v\n", err)
		}
	}
	r.tick.setPhase("closing")
	r.closeAll()
	for _, g := range r.gardens {
		r.st.bcastMissed.Add(int64(g.missed()))
	}
	if r.srv != nil {
		r.serverExitErr = r.srv.stop(30 * time.Second)
	}
	rep := r.report()
	if err != nil {
		return rep, err
	}
	return rep, nil
}

// build creates the gardens and devices.
func (r *runner) build() {
	cfg := r.cfg
	runID := strconv.FormatInt(time.Now().UnixNano()%(36*36*36*36*36), 36)
	idx := 0
	for gi := 0; gi < cfg.gardens && idx < cfg.count; gi++ {
		g := &garden{idx: gi, user: cfg.userPrefix + runID + "-" + strconv.Itoa(gi)}
		for s := 0; s < cfg.devices && idx < cfg.count; s++ {
			d := &device{idx: idx, slot: s, g: g, r: r}
			if cfg.target != "ours" {
				d.pubSent = new([64]atomic.Int64)
			}
			g.devices = append(g.devices, d)
			r.devices = append(r.devices, d)
			idx++
		}
		r.gardens = append(r.gardens, g)
	}
}

// scenario runs the phases of cfg.scenario.
func (r *runner) scenario(ctx context.Context) error {
	cfg := r.cfg
	if cfg.scenario == "patchsize" {
		return r.patchsize(ctx)
	}
	r.tick.setPhase("connect")
	r.measureFrom = time.Now()
	if cfg.scenario == "storm" { // the measured phase is the ramp itself
		d := cfg.duration
		if cfg.ramp > 0 {
			d += time.Duration(float64(len(r.devices)) / cfg.ramp * float64(time.Second))
		}
		r.profile(ctx, d)
	}
	r.connectAll(ctx, r.devices, cfg.ramp)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch cfg.scenario {
	case "storm", "idle":
		if cfg.scenario == "idle" {
			r.measureFrom = time.Now()
		}
		r.tick.setPhase("hold")
		if cfg.scenario == "idle" {
			r.profile(ctx, cfg.duration)
		}
		sleepCtx(ctx, cfg.duration)
		r.measureTo = time.Now()
	case "active", "fanout", "onegarden":
		if cfg.rich && cfg.target == "ours" {
			r.tick.setPhase("rich")
			r.richSetup(ctx)
		}
		r.tick.setPhase("send")
		r.measureFrom = time.Now()
		r.profile(ctx, cfg.duration)
		r.sendPhase(ctx, cfg.duration, r.picker())
		r.measureTo = time.Now()
		r.tick.setPhase("drain")
		sleepCtx(ctx, time.Second) // answers and updates in flight
	case "reconnect":
		return r.reconnect(ctx)
	}
	return ctx.Err()
}

// picker returns which device sends the k-th change.
func (r *runner) picker() func(k uint64) *device {
	switch r.cfg.scenario {
	case "fanout":
		G, D := uint64(len(r.gardens)), uint64(r.cfg.devices)
		return func(k uint64) *device {
			g := r.gardens[k%G]
			return g.devices[(k/G)%D%uint64(len(g.devices))]
		}
	default: // active: one device per garden; onegarden: take turns
		n := uint64(len(r.devices))
		return func(k uint64) *device { return r.devices[k%n] }
	}
}

// connectAll opens devs at ramp per second (0: as fast as cfg.dialers
// concurrent dials allow) and returns when each has connected or failed.
func (r *runner) connectAll(ctx context.Context, devs []*device, ramp float64) {
	var first sync.WaitGroup
	sem := make(chan struct{}, r.cfg.dialers)
	start := time.Now()
	for i, d := range devs {
		if ctx.Err() != nil {
			break
		}
		if ramp > 0 {
			if wait := time.Duration(float64(i)/ramp*float64(time.Second)) - time.Since(start); wait > 0 {
				time.Sleep(wait)
			}
		} else {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				first.Wait()
				return
			}
		}
		first.Add(1)
		r.readers.Add(1)
		go d.live(ctx, func() {
			first.Done()
			if ramp <= 0 {
				<-sem
			}
		})
	}
	first.Wait()
}

// sendPhase sends changes at cfg.rate per second for dur (or until --num
// per sending device), through a few workers. A change that finds the
// workers busy or its device down is counted in send_dropped, not queued.
func (r *runner) sendPhase(ctx context.Context, dur time.Duration, pick func(uint64) *device) {
	cfg := r.cfg
	var capTotal uint64
	if cfg.num > 0 {
		senders := len(r.devices)
		if cfg.scenario == "fanout" {
			senders = min(len(r.devices), len(r.gardens)*cfg.devices)
		}
		capTotal = uint64(cfg.num * senders)
	}
	jobs := make(chan *device, 4096)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); r.sendWorker(jobs) }()
	}
	start := time.Now()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	var k uint64
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-t.C:
			el := now.Sub(start)
			if el > dur {
				break loop
			}
			due := uint64(el.Seconds() * cfg.rate)
			if capTotal > 0 {
				due = min(due, capTotal)
			}
			for ; k < due; k++ {
				d := pick(k)
				if !d.ready.Load() {
					r.st.sendDropped.Add(1)
					continue
				}
				select {
				case jobs <- d:
				default:
					r.st.sendDropped.Add(1)
				}
			}
			if capTotal > 0 && k >= capTotal {
				break loop
			}
		}
	}
	close(jobs)
	wg.Wait()
	r.sendSeconds = time.Since(start).Seconds()
}

func (r *runner) sendWorker(jobs <-chan *device) {
	bp := getBuf()
	defer putBuf(bp)
	for d := range jobs {
		b := r.drv.appendChange(d, (*bp)[:0], r.now())
		if d.write(b) == nil {
			r.st.actionsSent.Add(1)
		}
		*bp = b
	}
}

// richSetup gives every garden rich resources (SaveGame) so that
// sustained rates are not refused for want of stardust.
func (r *runner) richSetup(ctx context.Context) {
	want := int64(0)
	bp := getBuf()
	defer putBuf(bp)
	for _, g := range r.gardens {
		d := g.devices[0]
		if !d.ready.Load() {
			continue
		}
		g.saving.Store(true)
		b := appendRichSave((*bp)[:0], d, r.now(), 0)
		*bp = b
		if d.write(b) == nil {
			want++
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.saved.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if got := r.saved.Load(); got < want {
		r.notes = append(r.notes, fmt.Sprintf("rich setup: %d of %d SaveGame answered", got, want))
	}
}

// keepalive sends each ready device's Heartbeat every heartbeat_ms
// (protocol.md §5), spread over the interval.
func (r *runner) keepalive(stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	bp := getBuf()
	defer putBuf(bp)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := r.now()
		for _, d := range r.devices {
			hb := d.hbEvery.Load()
			if hb <= 0 || !d.ready.Load() || now < d.nextHB.Load() {
				continue
			}
			d.nextHB.Store(now + hb)
			if b := r.drv.appendKeepalive(d, (*bp)[:0]); b != nil {
				_ = d.write(b)
				*bp = b
			}
		}
	}
}

// reconnect holds the devices, restarts the server and waits until every
// device is back (resumed or resynced) or cfg.settle passes.
func (r *runner) reconnect(ctx context.Context) error {
	r.tick.setPhase("hold")
	sleepCtx(ctx, time.Second)
	up := r.st.connOK.Load()
	r.reconnecting.Store(true)
	r.tick.setPhase("restart")
	r.measureFrom = time.Now()
	t0 := r.now()
	var err error
	switch {
	case r.srv != nil:
		r.restartStop, r.restartStart, err = r.srv.restart()
	case r.cfg.restart != nil:
		err = r.cfg.restart()
		r.restartStop = time.Duration(r.now() - t0)
	default:
		cmd := exec.CommandContext(ctx, "sh", "-c", r.cfg.restartCmd)
		cmd.Stdout, cmd.Stderr = r.stderr, r.stderr
		err = cmd.Run()
		r.restartStop = time.Duration(r.now() - t0)
	}
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	r.tick.setPhase("resume")
	deadline := time.Now().Add(r.cfg.settle)
	for r.back.Load() < up && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	r.measureTo = time.Now()
	r.reconnecting.Store(false)
	if n := r.back.Load(); n < up {
		r.notes = append(r.notes, fmt.Sprintf("reconnect: %d of %d devices back within %s", n, up, r.cfg.settle))
	}
	r.tick.setPhase("hold")
	sleepCtx(ctx, time.Second)
	return nil
}

// patchsize measures one-body patches against the full state of a garden
// of cfg.bodies bodies (protocol.md §4 StateUpdate).
func (r *runner) patchsize(ctx context.Context) error {
	r.tick.setPhase("connect")
	r.connectAll(ctx, r.devices, 0)
	g := r.gardens[0]
	sender, watcher := g.devices[0], g.devices[1]
	if !sender.ready.Load() || !watcher.ready.Load() {
		return errors.New("patchsize: devices did not connect")
	}
	bp := getBuf()
	defer putBuf(bp)
	g.saving.Store(true)
	if err := sender.write(appendRichSave((*bp)[:0], sender, r.now(), r.cfg.bodies)); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); r.saved.Load() < 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	sleepCtx(ctx, 300*time.Millisecond) // the SaveGame's own update passes
	r.patch.Store(&patchStats{watch: watcher})
	if err := watcher.write([]byte(`{"type":"GetState"}`)); err != nil {
		return err
	}
	sleepCtx(ctx, 300*time.Millisecond)
	r.tick.setPhase("send")
	r.measureFrom = time.Now()
	for i := 0; i < 20 && ctx.Err() == nil; i++ {
		b := r.drv.appendChange(sender, (*bp)[:0], r.now())
		if sender.write(b) == nil {
			r.st.actionsSent.Add(1)
		}
		sleepCtx(ctx, 150*time.Millisecond) // > 1/MAX_UPDATES_PER_SECOND: one body per patch
	}
	sleepCtx(ctx, 500*time.Millisecond)
	r.measureTo = time.Now()
	return ctx.Err()
}

// patchStats records the watcher's StateUpdate frame sizes.
type patchStats struct {
	watch            *device
	fullBytes        atomic.Int64
	patchSum, patchN atomic.Int64
}

func (p *patchStats) observe(d *device, full bool, n int) {
	if d != p.watch {
		return
	}
	if full {
		p.fullBytes.Store(int64(n))
		return
	}
	p.patchSum.Add(int64(n))
	p.patchN.Add(1)
}

// profile starts a server CPU profile of the next d, when asked for.
func (r *runner) profile(ctx context.Context, d time.Duration) {
	if r.cfg.pprofOut == "" || r.srv == nil {
		return
	}
	secs := max(1, min(int(d.Seconds()), 60))
	addr, out := r.srv.addr, r.cfg.pprofOut
	r.readers.Add(1)
	go func() { // owned by the run: closeAll waits for it with the readers
		defer r.readers.Done()
		if err := fetchProfile(ctx, addr, secs, out); err != nil {
			fmt.Fprintf(r.stderr, "loadgen: pprof: %v\n", err)
		}
	}()
}

// closeAll ends every connection and waits for the device goroutines.
func (r *runner) closeAll() {
	r.closing.Store(true)
	for _, d := range r.devices {
		abort(&d.tcp)
		if ws := d.ws.Load(); ws != nil {
			_ = ws.CloseNow()
		}
	}
	done := make(chan struct{})
	go func() { r.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(70 * time.Second):
		fmt.Fprintln(r.stderr, "loadgen: some device goroutines did not stop")
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
