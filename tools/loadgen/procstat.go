package main

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

// sample is one reading of a process: CPU % of one core over the last
// interval (200 % = both cores) and resident set size in bytes.
type sample struct {
	at  time.Time
	cpu float64
	rss int64
}

// sampler reads /proc/<pid>/stat and /proc/<pid>/status every interval.
// The pid may change (a restarted server): pid() is asked each time.
type sampler struct {
	pid      func() int
	interval time.Duration

	mu      sync.Mutex
	samples []sample
	window  [2]time.Time // measured phase; zero = whole run
	lastPID int
	lastCPU float64 // seconds of CPU at lastAt
	lastAt  time.Time
}

// clockTicks is USER_HZ, 100 on every Linux the tool runs on.
const clockTicks = 100

func newSampler(pid func() int, interval time.Duration) *sampler {
	return &sampler{pid: pid, interval: interval}
}

// run samples until stop is closed.
func (s *sampler) run(stop <-chan struct{}) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.read(time.Now())
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			s.read(now)
		}
	}
}

// read takes one sample now.
func (s *sampler) read(now time.Time) {
	pid := s.pid()
	if pid <= 0 {
		return
	}
	cpu, rss, ok := readTree(pid)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pid != s.lastPID || s.lastAt.IsZero() {
		s.lastPID, s.lastCPU, s.lastAt = pid, cpu, now
		s.samples = append(s.samples, sample{at: now, rss: rss})
		return
	}
	pct := 0.0
	if dt := now.Sub(s.lastAt).Seconds(); dt > 0 {
		// max: a child that exited takes its CPU time out of the sum.
		pct = max(0, (cpu-s.lastCPU)/dt*100)
	}
	s.lastCPU, s.lastAt = cpu, now
	s.samples = append(s.samples, sample{at: now, cpu: pct, rss: rss})
}

// last returns the newest sample.
func (s *sampler) last() (sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return sample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// summary returns average and maximum CPU % and RSS of the samples taken
// between from and to (all samples when both are zero).
func (s *sampler) summary(from, to time.Time) (cpuAvg, cpuMax float64, rssAvg, rssMax int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cpuSum float64
	var rssSum int64
	for _, x := range s.samples {
		if !from.IsZero() && (x.at.Before(from) || x.at.After(to)) {
			continue
		}
		n++
		cpuSum += x.cpu
		rssSum += x.rss
		cpuMax = max(cpuMax, x.cpu)
		rssMax = max(rssMax, x.rss)
	}
	if n == 0 {
		return 0, 0, 0, 0, 0
	}
	return cpuSum / float64(n), cpuMax, rssSum / int64(n), rssMax, n
}

// readTree returns the CPU seconds and RSS bytes of pid and all its
// descendants: a spawned cluster (tools/devcluster) runs its nodes as
// children. A single server has none, and costs one scan of /proc.
func readTree(pid int) (cpuSec float64, rss int64, ok bool) {
	cpuSec, rss, ok = readProc(pid)
	if !ok {
		return 0, 0, false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return cpuSec, rss, true
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parent, ok := readPPID(child); ok {
			children[parent] = append(children[parent], child)
		}
	}
	queue := children[pid]
	for len(queue) > 0 {
		c := queue[0]
		queue = append(queue[1:], children[c]...)
		if cs, r, ok := readProc(c); ok {
			cpuSec, rss = cpuSec+cs, rss+r
		}
	}
	return cpuSec, rss, true
}

// readPPID returns the parent of pid.
func readPPID(pid int) (int, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	return ppid, err == nil
}

// readProc returns the CPU seconds (user + system) and RSS bytes of pid.
func readProc(pid int) (cpuSec float64, rss int64, ok bool) {
	p := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(p + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) may hold spaces: count from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, false
	}
	ut, _ := strconv.ParseUint(string(f[11]), 10, 64)
	st, _ := strconv.ParseUint(string(f[12]), 10, 64)
	status, err := os.ReadFile(p + "/status")
	if err != nil {
		return 0, 0, false
	}
	if j := bytes.Index(status, []byte("VmRSS:")); j >= 0 {
		line := status[j+6:]
		if k := bytes.IndexByte(line, '\n'); k >= 0 {
			line = line[:k]
		}
		fs := bytes.Fields(line)
		if len(fs) > 0 {
			kb, _ := strconv.ParseInt(string(fs[0]), 10, 64)
			rss = kb << 10
		}
	}
	return float64(ut+st) / clockTicks, rss, true
}
