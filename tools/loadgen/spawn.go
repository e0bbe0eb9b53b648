package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// spawned is a server the tool started (--spawn) and owns: it stops it at
// the end, restarts it for the reconnect scenario, and reads its
// /debug/pprof and /metrics. The command runs under `sh -c 'exec …'`, so
// the pid is the server's.
type spawned struct {
	tmpl    string
	addr    string // 127.0.0.1:port, fixed across restarts
	tmp     string // {tmp}: the server's scratch directory (its DB)
	logPath string
	logw    io.Writer

	pid     atomic.Int64
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// startSpawned picks a free port and a temp directory and starts tmpl.
func startSpawned(tmpl, logPath string, logw io.Writer) (*spawned, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	tmp, err := os.MkdirTemp("", "loadgen-server-")
	if err != nil {
		return nil, err
	}
	if logPath == "" {
		logPath = tmp + "/server.log"
	}
	s := &spawned{tmpl: tmpl, addr: addr, tmp: tmp, logPath: logPath, logw: logw}
	if err := s.start(); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	return s, nil
}

func (s *spawned) command() string {
	_, port, _ := net.SplitHostPort(s.addr)
	return strings.NewReplacer("{addr}", s.addr, "{port}", port, "{tmp}", s.tmp).Replace(s.tmpl)
}

// start runs the command and waits until GET /healthz answers 200.
func (s *spawned) start() error {
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("sh", "-c", "exec "+s.command())
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the tool, which stops the server cleanly
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("spawn: %w", err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	s.pid.Store(int64(cmd.Process.Pid))
	go func() { // owned by s: ends when the process does; stop waits for it
		err := cmd.Wait()
		f.Close()
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("server exited at start (%v); see %s:\n%s", s.exitErr, s.logPath, tail(s.logPath, 10))
		default:
		}
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = s.stop(5 * time.Second)
	return fmt.Errorf("server not healthy within 30s; see %s", s.logPath)
}

// stop sends SIGTERM and waits up to grace, then kills. It reports the
// exit status (a clean shutdown exits 0, protocol.md §11).
func (s *spawned) stop(grace time.Duration) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("server did not stop within " + grace.String() + ": killed")
	}
	s.pid.Store(0)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = nil
	return s.exitErr
}

// restart stops the server and starts it again on the same address and
// directory; it returns how long each took.
func (s *spawned) restart() (stopTook, startTook time.Duration, err error) {
	t0 := time.Now()
	if err := s.stop(30 * time.Second); err != nil {
		fmt.Fprintf(s.logw, "loadgen: server stop: %v\n", err)
	}
	t1 := time.Now()
	err = s.start()
	return t1.Sub(t0), time.Since(t1), err
}

func (s *spawned) cleanup() { _ = os.RemoveAll(s.tmp) }

// fetchProfile saves a CPU profile of the next seconds (PPROF=1).
func fetchProfile(ctx context.Context, addr string, seconds int, out string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	return fetchPprof(ctx, addr, "profile?seconds="+strconv.Itoa(seconds), out)
}

// fetchPprof saves /debug/pprof/<what> (PPROF=1) to out.
func fetchPprof(ctx context.Context, addr, what, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: HTTP %d (start the server with PPROF=1)", resp.StatusCode)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// scrapeMetrics reads the Go runtime gauges of a Prometheus endpoint.
func scrapeMetrics(metricsURL string) map[string]float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	want := map[string]bool{
		"go_goroutines": true, "go_memstats_heap_inuse_bytes": true, "go_memstats_stack_inuse_bytes": true,
		"go_memstats_sys_bytes": true, "process_resident_memory_bytes": true, "cosmic_ws_connections": true,
		"cosmic_sessions": true, "cosmic_gardens_loaded": true,
		// The garden flush: diffs computed, steps shown and the versions
		// they cover (read per second and garden in the report).
		"cosmic_garden_diffs_total": true, "cosmic_garden_step_versions_total": true,
		`cosmic_garden_steps_total{when="at_once"}`: true, `cosmic_garden_steps_total{when="tick"}`: true,
	}
	out := map[string]float64{}
	// The store's commit-time histogram: how many commits, and the upper
	// bounds of the buckets holding the 99th percentile and the slowest.
	const commit = "cosmic_store_commit_duration_seconds"
	type bucket struct{ le, n float64 }
	var buckets []bucket
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case want[name]:
			out[name] = v
		case name == commit+"_count" || name == commit+"_sum":
			out[name] = v
		case strings.HasPrefix(name, commit+`_bucket{le="`):
			le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(name, commit+`_bucket{le="`), `"}`), 64)
			if err == nil {
				buckets = append(buckets, bucket{le, v})
			}
		}
	}
	if n := out[commit+"_count"]; n > 0 && len(buckets) > 0 {
		prev := 0.0
		for _, b := range buckets { // cumulative, in increasing le
			if b.n >= 0.99*n && out[commit+"_p99_le_seconds"] == 0 {
				out[commit+"_p99_le_seconds"] = b.le
			}
			if b.n > prev {
				out[commit+"_max_le_seconds"] = b.le
			}
			prev = b.n
		}
	}
	return out
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
